"""Where the template store's HMAC key and generation counter live: never beside the store.

The key signs the store; the generation counter, kept with the key and bumped on
every save, lets a load refuse an older copy of the store (a rollback that would
clear lockouts) and a store deleted while the counter says one was written.

Two places, chosen by `open_key_store`:

- the OS keyring (the `keyring` package: Secret Service, macOS Keychain, Windows
  Credential Locker), service "keras_dmtl", one entry per store (its real path);
- a key file given explicitly (`--key_file` or the KERAS_DMTL_KEY_FILE variable) for
  headless machines: outside the store's folder, owned by this account and owner-only
  (0600), in a folder owned by this account (or root) that no other account can write
  (as ssh's StrictModes asks of `~/.ssh`). A new key is made with fresh randomness
  and created with O_CREAT | O_EXCL: a file found in its place is never adopted.

With neither a keyring backend nor a key file there is no safe place for the key,
and the store refuses to open (fail closed) instead of writing the key beside it.
"""

import binascii
import collections
import json
import os
import secrets
import stat

import keyring
import keyring.errors

from keras_dmtl.io_utils import atomic_path

SERVICE = "keras_dmtl"
KEY_FILE_VARIABLE = "KERAS_DMTL_KEY_FILE"
KEY_BYTES = 32

KeyRecord = collections.namedtuple("KeyRecord", ["key", "generation"])
KeyRecord.__doc__ = """The store's HMAC key (bytes) and the generation of its last save."""


class KeyStoreError(ValueError):
    """The key is missing, unreadable, or kept somewhere unsafe."""


def new_record():
    """A fresh random key, before any save (generation 0)."""
    return KeyRecord(secrets.token_bytes(KEY_BYTES), 0)


def _encode(record, store_path):
    return json.dumps({"store": store_path, "key": record.key.hex(),
                       "generation": record.generation})


def _decode(text, where, store_path):
    """Parses a saved record; one clear line naming `where` when it is malformed."""
    problem = None
    try:
        saved = json.loads(text)
    except ValueError:
        saved, problem = None, "is not JSON"
    if problem is None and not isinstance(saved, dict):
        problem = "is not a key record"
    elif problem is None and saved.get("store") != store_path:
        problem = f"belongs to the store {saved.get('store')!r}, not {store_path}"
    elif problem is None:
        key, generation = saved.get("key"), saved.get("generation")
        try:
            key = bytes.fromhex(key) if isinstance(key, str) and key.isascii() else None
        except (ValueError, binascii.Error):
            key = None
        if key is None or len(key) != KEY_BYTES:
            problem = f"has no {KEY_BYTES}-byte hex \"key\""
        elif type(generation) is not int or generation < 0:
            problem = "has no non-negative integer \"generation\""
        else:
            return KeyRecord(key, generation)
    raise KeyStoreError(f"{where} {problem}: the template store {store_path} cannot be "
                        "verified without its key; restore the key from a backup.")


def _check_folder(folder, where):
    """Refuses a key folder that another account could change (replace the key in).

    Raises:
        KeyStoreError: the folder is owned by another account (not root), or is
            writable by its group or by others.
    """
    status = os.stat(folder)
    if status.st_uid not in (os.geteuid(), 0):
        raise KeyStoreError(f"{where} is in {folder}, owned by uid {status.st_uid}: its owner "
                            "could replace the key. Keep the key file in a folder owned by "
                            "this account (or root) that only its owner can write.")
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise KeyStoreError(f"{where} is in {folder}, which other accounts can write (mode "
                            f"{stat.S_IMODE(status.st_mode):o}): they could replace the key. "
                            f"Run chmod go-w {folder}, or keep the key file in a private folder "
                            "(mode 700).")


class FileKeyStore:
    """The key record in an owner-only file of this account, outside the store's folder.

    Args:
        key_path: the key file (created on the first save).
        store_path: the store it signs (real path).
    """

    def __init__(self, key_path, store_path):
        self.key_path = os.path.realpath(key_path)
        self.store_path = store_path
        store_folder = os.path.dirname(store_path)
        if os.path.commonpath([store_folder, self.key_path]) == store_folder:
            raise KeyStoreError(
                f"--key_file={key_path} is inside the store's folder {store_folder}: whoever "
                "can write the store could then forge it; keep the key file in another "
                "folder (e.g. one only root or this account can read).")
        self.where = f"key file {self.key_path}"

    def read(self):
        """The key record, or None when the file does not exist yet.

        Raises:
            KeyStoreError: the file or its folder could have been written by another
                account (see `_check_folder`, `_check_file`), or it is malformed.
        """
        folder = os.path.dirname(self.key_path)
        try:
            _check_folder(folder, self.where)
            # O_NOFOLLOW, O_NONBLOCK: neither a link nor a FIFO put in its place is followed.
            descriptor = os.open(self.key_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise KeyStoreError(f"{self.where}: {error.strerror}.") from None
        try:
            with os.fdopen(descriptor, encoding="utf-8") as stream:
                self._check_file(os.fstat(stream.fileno()))
                text = stream.read()
        except (OSError, UnicodeDecodeError) as error:
            raise KeyStoreError(f"{self.where} is unreadable ({error}).") from None
        if not text.strip():
            raise KeyStoreError(f"{self.where} is empty (a write was interrupted, or it was "
                                "truncated): restore it; the store cannot be verified without it.")
        return _decode(text, self.where, self.store_path)

    def _check_file(self, status):
        """Refuses a key file that is not this account's own, owner-only, regular file."""
        if not stat.S_ISREG(status.st_mode):
            raise KeyStoreError(f"{self.where} is not a regular file: remove it if you did not "
                                "put it there.")
        if status.st_uid != os.geteuid():
            raise KeyStoreError(
                f"{self.where} is owned by uid {status.st_uid}, not by this account (uid "
                f"{os.geteuid()}): another account could have planted it to forge the store. "
                "Remove it if you did not make it; chown it to this account if you did.")
        if status.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyStoreError(f"{self.where} can be read or written by other accounts "
                                f"(mode {stat.S_IMODE(status.st_mode):o}); run chmod 600 on it.")

    def create(self, record):
        """Writes the first record of a new key; never replaces or adopts an existing file.

        Raises:
            KeyStoreError: a file appeared at the key's path (O_CREAT | O_EXCL), or
                the folder is unsafe.
        """
        folder = os.path.dirname(self.key_path)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        _check_folder(folder, self.where)
        try:
            descriptor = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise KeyStoreError(f"{self.where} appeared while a new key was being made for "
                                f"{self.store_path}: a file found in its place is never "
                                "adopted. Remove it if you did not make it, then try "
                                "again.") from None
        with os.fdopen(descriptor, "w") as stream:
            stream.write(_encode(record, self.store_path))
            stream.flush()
            os.fsync(stream.fileno())
        folder_descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(folder_descriptor)  # the new name survives a power loss
        finally:
            os.close(folder_descriptor)

    def write(self, record):
        """Replaces the record atomically, owner-only."""
        folder = os.path.dirname(self.key_path)
        _check_folder(folder, self.where)
        with atomic_path(self.key_path) as temporary:
            with open(temporary, "w") as stream:
                stream.write(_encode(record, self.store_path))
            os.chmod(temporary, 0o600)


class KeyringKeyStore:
    """The key record in the OS keyring, one entry per store.

    Args:
        store_path: the store it signs (real path; also the entry's name).
        backend: the keyring backend (`keyring.get_keyring()`).
    """

    def __init__(self, store_path, backend):
        self.store_path = store_path
        self.backend = backend
        self.where = (f"OS keyring entry (service {SERVICE!r}, name {store_path!r}, "
                      f"backend {type(backend).__name__})")

    def read(self):
        """The key record, or None when the entry does not exist yet."""
        try:
            text = self.backend.get_password(SERVICE, self.store_path)
        except keyring.errors.KeyringError as error:
            raise KeyStoreError(f"{self.where} is unreadable ({error}).") from None
        return None if text is None else _decode(text, self.where, self.store_path)

    def create(self, record):
        """Writes the first record of a new key (the store's lock keeps others out)."""
        self.write(record)

    def write(self, record):
        """Saves the record, then reads it back: a backend that drops it fails here."""
        text = _encode(record, self.store_path)
        try:
            self.backend.set_password(SERVICE, self.store_path, text)
            kept = self.backend.get_password(SERVICE, self.store_path)
        except keyring.errors.KeyringError as error:
            raise KeyStoreError(f"{self.where} cannot be written ({error}).") from None
        if kept != text:
            raise KeyStoreError(f"{self.where} did not keep what was written: use a working "
                                f"keyring backend, or --key_file / {KEY_FILE_VARIABLE}.")


def usable_keyring():
    """The keyring backend when it is a real one, else None.

    keyring falls back to backends that store nothing (`fail`, `null`) or store
    in plain text (keyrings.alt, priority below 1); only recommended backends
    (priority >= 1) count.
    """
    backend = keyring.get_keyring()
    try:
        return backend if backend.priority >= 1 else None
    except Exception:  # noqa: BLE001 (a backend's priority probe may raise anything)
        return None


def open_key_store(store_path, key_file=None):
    """Where the key of `store_path` lives.

    Args:
        store_path: the template store file.
        key_file: a key file path, or None to use KERAS_DMTL_KEY_FILE, else the OS
            keyring.

    Returns:
        A `FileKeyStore` or a `KeyringKeyStore`.

    Raises:
        KeyStoreError: no key file was given and there is no usable keyring, or
            the key file is inside the store's folder.
    """
    store_path = os.path.realpath(store_path)
    key_file = key_file or os.environ.get(KEY_FILE_VARIABLE)
    if key_file:
        return FileKeyStore(key_file, store_path)
    backend = usable_keyring()
    if backend is None:
        raise KeyStoreError(
            f"no OS keyring is available for the key of {store_path} (headless machine?): "
            f"pass --key_file=PATH or set {KEY_FILE_VARIABLE}=PATH, a file outside the "
            "store's folder that only this account can read.")
    return KeyringKeyStore(store_path, backend)
