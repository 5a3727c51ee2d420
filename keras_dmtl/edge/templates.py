"""Enrolled face templates: normalised embeddings only, never images.

The store is a JSON file with owner-only permissions, signed with HMAC-SHA256
under a key kept in a second owner-only file, so a template edited or swapped
without the key is refused on load. It also keeps the attempt-policy state, so a
lockout survives a restart of the app.
"""

import hashlib
import hmac
import json
import os
import secrets

import numpy as np

from keras_dmtl.io_utils import atomic_path


class TemplateStoreError(ValueError):
    """The store is corrupt, tampered with, or unreadable."""


def average_template(embeddings):
    """Mean of L2-normalised embeddings, normalised again: one template per user."""
    embeddings = np.asarray(embeddings, np.float64)
    embeddings = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    mean = embeddings.mean(axis=0)
    return mean / np.linalg.norm(mean)


class TemplateStore:
    """Users' templates and attempt state in `path`, HMAC-signed with `path + '.key'`.

    Args:
        path: the store file (created on first save).
    """

    def __init__(self, path):
        self.path = path
        self.key_path = path + ".key"
        self.data = {"users": {}, "attempts": {}}
        if os.path.exists(path):
            self.data = self._load()

    def _key(self):
        if not os.path.exists(self.key_path):
            os.makedirs(os.path.dirname(os.path.abspath(self.key_path)), exist_ok=True)
            descriptor = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(secrets.token_bytes(32))
        with open(self.key_path, "rb") as stream:
            return stream.read()

    def _signature(self, payload):
        return hmac.new(self._key(), payload.encode(), hashlib.sha256).hexdigest()

    def _load(self):
        try:
            with open(self.path) as stream:
                envelope = json.load(stream)
            payload, signature = envelope["payload"], envelope["hmac"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise TemplateStoreError(f"{self.path} is not a readable template store "
                                     f"({error}); remove it and enroll again.") from None
        if not os.path.exists(self.key_path):
            raise TemplateStoreError(f"{self.key_path} is missing: the store {self.path} "
                                     "cannot be verified; remove it and enroll again.")
        if not hmac.compare_digest(signature, self._signature(payload)):
            raise TemplateStoreError(f"{self.path} failed its integrity check (edited or "
                                     "tampered with); remove it and enroll again.")
        return json.loads(payload)

    def save(self):
        payload = json.dumps(self.data, sort_keys=True)
        envelope = json.dumps({"payload": payload, "hmac": self._signature(payload)})
        with atomic_path(self.path) as temporary:
            with open(temporary, "w") as stream:
                stream.write(envelope)
            os.chmod(temporary, 0o600)

    def enroll(self, user, embeddings):
        """Stores the averaged template of `embeddings` for `user` and saves."""
        self.data["users"][user] = {"template": average_template(embeddings).tolist(),
                                    "images": int(len(embeddings))}
        self.save()

    def template(self, user):
        """The user's template, or None when not enrolled."""
        entry = self.data["users"].get(user)
        return None if entry is None else np.asarray(entry["template"])
