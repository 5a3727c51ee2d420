"""The template store (issue 10, points 6, 7, 10, 11): where the key lives, rollback and
deletion, one clear line for every malformed store, the lock, durable writes.

No model: stores are filled directly, as the runtime does under `store.open()`.
"""

import hashlib
import hmac
import json
import multiprocessing
import os

import keyring
import keyring.backend
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_dmtl import io_utils
from keras_dmtl.edge import keys
from keras_dmtl.edge.decision import verify_attempt
from keras_dmtl.edge.policy import AttemptPolicy
from keras_dmtl.edge.templates import TemplateStore
from keras_dmtl.edge.templates import TemplateStoreError

SHA = "0" * 64
ANA = {"template": [1.0, 0.0, 0.0], "images": 3, "model_sha256": SHA}


class MemoryKeyring(keyring.backend.KeyringBackend):
    """An in-memory keyring backend, as a desktop's Secret Service would be."""

    priority = 1

    def __init__(self):
        super().__init__()
        self.entries = {}

    def get_password(self, service, username):
        return self.entries.get((service, username))

    def set_password(self, service, username, password):
        self.entries[(service, username)] = password

    def delete_password(self, service, username):
        del self.entries[(service, username)]


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring(monkeypatch):
    """A headless machine: keyring's `fail` backend, no key file configured."""
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    monkeypatch.delenv(keys.KEY_FILE_VARIABLE, raising=False)
    yield
    keyring.set_keyring(previous)


def _store(tmp_path, **kwargs):
    return TemplateStore(str(tmp_path / "store" / "templates.json"),
                         key_file=str(tmp_path / "keys" / "templates.key"), **kwargs)


def _enroll(store, user="ana"):
    with store.open() as contents:
        contents["users"][user] = dict(ANA)


def _fail_once(store, user="ana", now=1000.0):
    with store.open() as contents:
        policy = AttemptPolicy(contents["attempts"], clock=lambda: now)
        return verify_attempt(policy, user, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], "happy", 0.5)


# Point 6: the key never sits beside the store.

def test_the_key_lives_in_the_os_keyring_not_beside_the_store(tmp_path, memory_keyring,
                                                               monkeypatch):
    monkeypatch.delenv(keys.KEY_FILE_VARIABLE, raising=False)
    store = TemplateStore(str(tmp_path / "templates.json"))
    _enroll(store)
    assert sorted(os.listdir(tmp_path)) == ["templates.json", "templates.json.lock"]
    (entry,) = memory_keyring.entries.items()
    assert entry[0] == ("keras_dmtl", os.path.realpath(tmp_path / "templates.json"))
    assert json.loads(entry[1])["generation"] == 1
    with store.open() as contents:
        assert contents["users"]["ana"] == ANA


def test_without_a_keyring_or_a_key_file_the_store_refuses_to_open(tmp_path, no_keyring):
    with pytest.raises(TemplateStoreError, match="no OS keyring.*--key_file"):
        _enroll(TemplateStore(str(tmp_path / "templates.json")))
    assert os.listdir(tmp_path) == []


def test_a_key_file_is_used_when_given_and_refused_inside_the_stores_folder(tmp_path,
                                                                            no_keyring):
    store = _store(tmp_path)
    _enroll(store)
    key_file = tmp_path / "keys" / "templates.key"
    assert os.stat(key_file).st_mode & 0o077 == 0
    assert not os.path.exists(str(tmp_path / "store" / "templates.json.key"))
    inside = TemplateStore(str(tmp_path / "store" / "templates.json"),
                           key_file=str(tmp_path / "store" / "sub" / "k.key"))
    with pytest.raises(TemplateStoreError, match="inside the store's folder"):
        _enroll(inside)
    os.chmod(key_file, 0o644)
    with pytest.raises(TemplateStoreError, match="chmod 600"):
        _enroll(store)


def test_an_older_copy_of_the_store_is_refused_and_keeps_the_lockout(tmp_path, no_keyring):
    store = _store(tmp_path)
    _enroll(store)
    path = tmp_path / "store" / "templates.json"
    before_lockout = path.read_bytes()
    for _ in range(5):
        result = _fail_once(store)
    assert result["lockout_seconds"] == 30.0
    path.write_bytes(before_lockout)  # restore the copy taken before the failures
    with pytest.raises(TemplateStoreError, match="older copy") as error:
        _fail_once(store)
    assert "remove it and enroll" not in str(error.value)


def test_a_deleted_store_is_refused_while_its_key_says_one_was_saved(tmp_path, no_keyring):
    store = _store(tmp_path)
    _enroll(store)
    os.remove(tmp_path / "store" / "templates.json")
    with pytest.raises(TemplateStoreError, match="missing.*saved 1 times"):
        _enroll(store)


def test_a_save_interrupted_between_the_store_and_its_key_is_accepted(tmp_path, no_keyring):
    store = _store(tmp_path)
    _enroll(store)
    key_file = tmp_path / "keys" / "templates.key"
    one_save_behind = key_file.read_bytes()
    _enroll(store, "bo")
    key_file.write_bytes(one_save_behind)
    with store.open() as contents:
        assert sorted(contents["users"]) == ["ana", "bo"]


# Point 10: one clear line for every malformed store or key.

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                     lambda children: st.lists(children, max_size=4)
                     | st.dictionaries(st.text(max_size=8), children, max_size=4),
                     max_leaves=12)
_payload = st.fixed_dictionaries(
    {"generation": st.one_of(st.just(1), _json),
     "users": st.one_of(st.dictionaries(st.text(max_size=4), _json, max_size=2),
                        st.just({"ana": ANA}), _json),
     "attempts": st.one_of(_json, st.just({"device": {}, "users": {}}))})


def _signed(payload, key):
    """A store file with a valid signature around any payload."""
    text = json.dumps(payload)
    return json.dumps({"format": 2, "payload": text,
                       "hmac": hmac.new(key, text.encode(), hashlib.sha256).hexdigest()})


# database=None: hypothesis would otherwise write a .hypothesis folder into the checkout.
@settings(max_examples=80, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(envelope=st.one_of(_json, st.binary(max_size=40)), payload=st.one_of(_payload, _json),
       signed=st.booleans())
def test_any_malformed_store_gives_one_clear_line(tmp_path_factory, no_keyring, envelope,
                                                  payload, signed):
    tmp_path = tmp_path_factory.mktemp("store")
    store = _store(tmp_path)
    _enroll(store)
    path = tmp_path / "store" / "templates.json"
    key = keys.FileKeyStore(str(tmp_path / "keys" / "templates.key"), store.path).read().key
    if signed:
        path.write_text(_signed(payload, key))
    elif isinstance(envelope, bytes):
        path.write_bytes(envelope)
    else:
        path.write_text(json.dumps(envelope))
    try:
        with store.open() as contents:
            assert isinstance(contents["users"], dict)
    except TemplateStoreError as error:
        message = str(error)
        assert "\n" not in message and str(path) in message
        assert "delete" not in message.lower()


@pytest.mark.parametrize("content", [b"", b"\x00\x01", b"[]", b"{\"key\": 3}", b"not json",
                                     "{\"key\": \"é\"}".encode()])
def test_a_malformed_key_file_gives_one_clear_line(tmp_path, no_keyring, content):
    store = _store(tmp_path)
    _enroll(store)
    key_file = tmp_path / "keys" / "templates.key"
    key_file.write_bytes(content)
    with pytest.raises(TemplateStoreError) as error:
        _enroll(store)
    assert str(key_file) in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("envelope", [7, {"format": 2, "payload": "{\"users\": []}",
                                          "hmac": "é" * 64}, {"users": []}, []])
def test_the_issues_malformed_stores_are_refused_in_one_line(tmp_path, no_keyring, envelope):
    store = _store(tmp_path)
    _enroll(store)
    (tmp_path / "store" / "templates.json").write_text(json.dumps(envelope))
    with pytest.raises(TemplateStoreError, match="not a valid template store"):
        _enroll(store)


# Point 7: a lock from load to save.

def _attempt_worker(args):
    store_dir, key_dir = args
    store = TemplateStore(os.path.join(store_dir, "templates.json"),
                          key_file=os.path.join(key_dir, "templates.key"))
    return _fail_once(store)["decision"]


def _enroll_worker(args):
    store_dir, key_dir, user = args
    store = TemplateStore(os.path.join(store_dir, "templates.json"),
                          key_file=os.path.join(key_dir, "templates.key"))
    _enroll(store, user)
    return "enrolled"


def test_concurrent_attempts_never_exceed_the_budget_nor_erase_an_enrollment(tmp_path,
                                                                             no_keyring):
    store = _store(tmp_path)
    _enroll(store)
    folders = (str(tmp_path / "store"), str(tmp_path / "keys"))
    jobs = [(_attempt_worker, folders)] * 12 + [(_enroll_worker, folders + ("bo",))]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = [pool.apply_async(function, (args,)) for function, args in jobs]
        decisions = [result.get(timeout=120) for result in results]
    assert decisions.count("reject") == 5  # the budget, then a lockout
    assert decisions.count("locked") == 7
    with store.open() as contents:
        assert sorted(contents["users"]) == ["ana", "bo"]
        assert contents["attempts"]["users"]["ana"]["failures"] == 5


# Point 11: durable writes.

def test_atomic_path_fsyncs_the_file_before_the_rename_and_the_folder_after(tmp_path,
                                                                           monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor):
        status = os.fstat(descriptor)
        events.append(("fsync", status.st_ino))
        real_fsync(descriptor)

    def replace(source, destination):
        events.append(("replace", os.stat(source).st_ino))
        real_replace(source, destination)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "data.json"
    io_utils.write_json(str(target), {"a": 1})
    file_inode, folder_inode = os.stat(target).st_ino, os.stat(tmp_path).st_ino
    assert ("fsync", file_inode) in events and ("fsync", folder_inode) in events
    assert (events.index(("fsync", file_inode)) < events.index(("replace", file_inode))
            < events.index(("fsync", folder_inode)))


# Issue 22, point 4: no planted key. Each test below failed on ce966dc.

NOBODY = 65534


def _planted_key(tmp_path, generation=0, owner=None):
    """A well-formed 0600 key record for the store, put in place before the first save."""
    store_path = os.path.realpath(tmp_path / "store" / "templates.json")
    key_file = tmp_path / "keys" / "templates.key"
    key_file.parent.mkdir(mode=0o700)
    key_file.write_text(json.dumps({"store": store_path, "key": "ab" * 32,
                                    "generation": generation}))
    os.chmod(key_file, 0o600)
    if owner is not None:
        os.chown(key_file, owner, -1)
    return key_file


def test_a_key_file_of_another_account_is_refused(tmp_path, no_keyring):
    _planted_key(tmp_path, owner=NOBODY)
    with pytest.raises(TemplateStoreError, match=f"owned by uid {NOBODY}.*planted"):
        _enroll(_store(tmp_path))
    assert not os.path.exists(tmp_path / "store" / "templates.json")


def test_a_key_found_before_the_first_save_is_never_adopted(tmp_path, no_keyring):
    key_file = _planted_key(tmp_path)
    planted = key_file.read_bytes()
    with pytest.raises(TemplateStoreError, match="never adopts a key"):
        _enroll(_store(tmp_path))
    assert key_file.read_bytes() == planted
    assert not os.path.exists(tmp_path / "store" / "templates.json")
    os.remove(key_file)  # as the error says: a fresh key is then made
    _enroll(_store(tmp_path))
    assert json.loads(key_file.read_text())["key"] != "ab" * 32


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o1777])
def test_a_key_folder_other_accounts_can_write_is_refused(tmp_path, no_keyring, mode):
    store = _store(tmp_path)
    _enroll(store)
    os.chmod(tmp_path / "keys", mode)
    with pytest.raises(TemplateStoreError, match="which other accounts can write"):
        _enroll(store, "bo")


def test_a_key_folder_of_another_account_is_refused(tmp_path, no_keyring):
    store = _store(tmp_path)
    _enroll(store)
    os.chown(tmp_path / "keys", NOBODY, -1)
    with pytest.raises(TemplateStoreError, match=f"owned by uid {NOBODY}"):
        _enroll(store, "bo")


def test_a_new_key_never_replaces_a_file_that_appeared_meanwhile(tmp_path, no_keyring):
    # O_CREAT | O_EXCL: a key file planted between the read that found none and the save.
    store_path = os.path.realpath(tmp_path / "store" / "templates.json")
    key_store = keys.FileKeyStore(str(tmp_path / "keys" / "templates.key"), store_path)
    key_file = _planted_key(tmp_path)
    planted = key_file.read_bytes()
    with pytest.raises(keys.KeyStoreError, match="never adopted"):
        key_store.create(keys.new_record())
    assert key_file.read_bytes() == planted
