"""Enrolled face templates and the attempt-policy state: one signed, locked, versioned file.

The store is a JSON file with owner-only permissions, signed with HMAC-SHA256
under a key kept elsewhere (`keras_dmtl.edge.keys`: the OS keyring or a key file
outside the store's folder), so that a store edited or forged without the key is
refused. Each save bumps a generation counter kept both in the store and with the
key: an older copy of the store (which would clear lockouts) or a deleted store is
refused. A file lock (`filelock`) is held from load to save, so that concurrent
attempts are all counted and a verify's save cannot erase a concurrent enrollment.
Templates are normalised embeddings only, never images, each with what the
decision depends on: the sha256 of the model that made it, the threshold in force
and the expression labels (`keras_dmtl.edge.enrollment`).
"""

import contextlib
import hashlib
import hmac
import json
import math
import os
import re

import filelock
import numpy as np

from keras_dmtl.edge.keys import KeyStoreError
from keras_dmtl.edge.keys import new_record
from keras_dmtl.edge.keys import open_key_store
from keras_dmtl.edge.policy import new_state
from keras_dmtl.io_utils import atomic_path

STORE_FORMAT = 2
LOCK_TIMEOUT_SECONDS = 30.0
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
# What to do about a store that cannot be used: deleting it would lose the lockout
# state (and the key's generation counter refuses a missing store anyway).
_REMEDY = ("it was left as it is. Put back the copy keras_dmtl saved last, or, to start "
           "over (losing every enrollment and lockout), remove both the store and its key")


class TemplateStoreError(ValueError):
    """The store or its key is corrupt, tampered with, rolled back, or unreadable."""


def average_template(embeddings):
    """Mean of L2-normalised embeddings, normalised again: one template per user."""
    embeddings = np.asarray(embeddings, np.float64)
    embeddings = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    mean = embeddings.mean(axis=0)
    return mean / np.linalg.norm(mean)


def _is_number(value):
    return type(value) in (int, float) and math.isfinite(value)


def _entry_problem(entry, fields):
    """What is wrong with a dict entry, given {field: check}, or None."""
    if not isinstance(entry, dict):
        return "is not an object"
    for field, check in fields.items():
        if field not in entry:
            return f"has no \"{field}\""
        if not check(entry[field]):
            return f"has a malformed \"{field}\""
    return None


_TEMPLATE_FIELDS = {
    "template": lambda v: (isinstance(v, list) and len(v) > 0 and all(map(_is_number, v))
                           and abs(math.fsum(x * x for x in v) - 1.0) < 1e-6),
    "images": lambda v: type(v) is int and v > 0,
    "model_sha256": lambda v: isinstance(v, str) and _HEX_DIGEST.fullmatch(v) is not None,
}
# Recorded at enrollment (`keras_dmtl.edge.enrollment.new_entry`); entries
# written before they were are loaded (so that they can be re-enrolled) and refused
# by verify.
_ENROLLED_EXPORT_FIELDS = {
    "threshold": lambda v: _is_number(v) and -1.0 < v <= 1.0,
    "threshold_backed": lambda v: type(v) is bool,
    "expression_labels": lambda v: (isinstance(v, list) and len(v) > 0
                                    and all(isinstance(x, str) for x in v)),
}
_ATTEMPT_FIELDS = {
    "failures": lambda v: type(v) is int and v >= 0,
    "locked_from": _is_number,
    "lockout_seconds": lambda v: _is_number(v) and v >= 0,
}


def payload_problem(payload):
    """What is wrong with a store's decoded payload, or None when it is well formed."""
    if not isinstance(payload, dict):
        return "its payload is not an object"
    generation = payload.get("generation")
    if type(generation) is not int or generation < 1:
        return "its payload has no positive integer \"generation\""
    users, attempts = payload.get("users"), payload.get("attempts")
    if not isinstance(users, dict):
        return "its payload has no \"users\" object"
    for name, entry in users.items():
        problem = _entry_problem(entry, _TEMPLATE_FIELDS)
        if problem is None and any(field in entry for field in _ENROLLED_EXPORT_FIELDS):
            problem = _entry_problem(entry, _ENROLLED_EXPORT_FIELDS)
        if problem:
            return f"user {name!r} {problem}"
    if not isinstance(attempts, dict) or not isinstance(attempts.get("users"), dict):
        return "its payload has no \"attempts\" object with \"users\""
    for name, entry in [("(device)", attempts.get("device"))] + list(attempts["users"].items()):
        problem = _entry_problem(entry, _ATTEMPT_FIELDS)
        if problem:
            return f"the attempt state of {name} {problem}"
    return None


class TemplateStore:
    """Users' templates and attempt state in `path`; use `with store.open() as contents`.

    Args:
        path: the store file (created on the first save).
        key_file: where the key lives when there is no OS keyring (see
            `keras_dmtl.edge.keys.open_key_store`); None for the keyring or the
            KERAS_DMTL_KEY_FILE variable.
        lock_timeout: seconds to wait for another process's lock.
    """

    def __init__(self, path, key_file=None, lock_timeout=LOCK_TIMEOUT_SECONDS):
        self.path = os.path.realpath(path)
        self.key_file = key_file
        self.lock_timeout = lock_timeout

    @contextlib.contextmanager
    def open(self):
        """Locks the store, loads it fresh, yields its contents, saves them if changed.

        Yields:
            dict: {"users": {name: {"template", "images", "model_sha256",
            "threshold", "threshold_backed", "expression_labels"}},
            "attempts": the `AttemptPolicy` state}; change it in place. Nothing
            is saved when the block raises.

        Raises:
            TemplateStoreError: the store or its key cannot be trusted, or
                another process holds the lock for too long.
        """
        try:
            keys = open_key_store(self.path, self.key_file)
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            lock = filelock.FileLock(self.path + ".lock", timeout=self.lock_timeout, mode=0o600)
            try:
                lock.acquire()
            except filelock.Timeout:
                raise TemplateStoreError(
                    f"{self.path} is locked by another keras_dmtl process for over "
                    f"{self.lock_timeout:.0f} s; try again.") from None
            try:
                record = keys.read()
                contents, generation = self._load(record, keys.where)
                before = json.dumps(contents, sort_keys=True)
                yield contents
                if json.dumps(contents, sort_keys=True) != before:
                    self._save(contents, record, generation, keys)
            finally:
                lock.release()
        except KeyStoreError as error:
            raise TemplateStoreError(str(error)) from None

    def _load(self, record, where):
        """The contents and generation on disk, after every check."""
        if not os.path.exists(self.path):
            if record is not None and record.generation > 0:
                raise TemplateStoreError(
                    f"{self.path} is missing, but the {where} says it was saved "
                    f"{record.generation} times: it was deleted or moved, which would clear "
                    f"every lockout. Restore it; or, to start over (losing every enrollment "
                    "and lockout), remove its key too.")
            if record is not None:
                # A new store gets a new key (`_save`): one found in place may be known to
                # whoever put it there.
                raise TemplateStoreError(
                    f"{self.path} does not exist yet, but the {where} already holds a key "
                    "for it: a new store never adopts a key it finds (another account may "
                    "have planted it to forge the store, or a first enrollment was "
                    "interrupted). Remove that key if you did not expect it, then enroll "
                    "again.")
            return {"users": {}, "attempts": new_state()}, 0
        if record is None:
            raise TemplateStoreError(f"{self.path} exists but its key is not in the {where}: "
                                     "it cannot be verified. Give the --key_file it was made "
                                     "with (or use the keyring it was made with).")
        payload = self._verified_payload(record.key)
        generation = payload["generation"]
        if generation < record.generation:
            raise TemplateStoreError(
                f"{self.path} is an older copy (save {generation}; its key says save "
                f"{record.generation} happened): restoring an old store would clear lockouts, "
                f"so it is refused; {_REMEDY}.")
        if generation > record.generation + 1:
            # One ahead is a save interrupted between the store and the key (healed on
            # the next save); more means the key record was rolled back.
            raise TemplateStoreError(
                f"{self.path} is at save {generation} but the {where} at "
                f"{record.generation}: the key was replaced by an older copy; restore its "
                f"latest copy.")
        return {"users": payload["users"], "attempts": payload["attempts"]}, generation

    def _verified_payload(self, key):
        def refuse(detail):
            return TemplateStoreError(f"{self.path} is not a valid template store "
                                      f"({detail}); {_REMEDY}.")

        try:
            with open(self.path, "rb") as stream:
                envelope = json.loads(stream.read().decode("utf-8"))
        except OSError as error:
            raise TemplateStoreError(f"{self.path}: {error.strerror}.") from None
        except (ValueError, RecursionError):
            raise refuse("not UTF-8 JSON") from None
        # Our payloads are ASCII (json.dumps escapes the rest); the hmac is checked as
        # hex first, since compare_digest raises on non-ASCII text.
        problem = _entry_problem(envelope, {
            "format": lambda v: v == STORE_FORMAT,
            "payload": lambda v: isinstance(v, str) and v.isascii(),
            "hmac": lambda v: isinstance(v, str) and _HEX_DIGEST.fullmatch(v) is not None})
        if problem:
            raise refuse(f"the file {problem}")
        if not hmac.compare_digest(envelope["hmac"], _signature(key, envelope["payload"])):
            raise TemplateStoreError(f"{self.path} failed its integrity check (edited, "
                                     f"tampered with, or signed with another key); {_REMEDY}.")
        try:
            payload = json.loads(envelope["payload"])
        except (ValueError, RecursionError):
            raise refuse("its payload is not JSON") from None
        problem = payload_problem(payload)
        if problem:
            raise refuse(problem)
        return payload

    def _save(self, contents, record, generation, keys):
        if record is None:
            # The key must exist before a store signed with it does; it is new, never adopted.
            record = new_record()
            keys.create(record)
        generation = max(generation, record.generation) + 1
        payload = json.dumps(dict(contents, generation=generation), sort_keys=True)
        envelope = json.dumps({"format": STORE_FORMAT, "payload": payload,
                               "hmac": _signature(record.key, payload)})
        with atomic_path(self.path) as temporary:
            with open(temporary, "w") as stream:
                stream.write(envelope)
            os.chmod(temporary, 0o600)
        # Store first, then the counter: an interruption in between leaves the store
        # one save ahead, which the next load accepts.
        keys.write(record._replace(generation=generation))


def _signature(key, payload):
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
