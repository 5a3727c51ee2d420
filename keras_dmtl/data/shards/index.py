"""A shard set's index: what `python -m keras_dmtl.data.shards` wrote, read back and checked.

A shard folder holds TFRecord files of encoded face crops and `index.json`, written
last: its presence says the set is complete. The index names every shard with its
example count and size, the label maps, the crop settings, and every subject with
its example count and identity labels, so that a run can split by subject and
count its steps without reading a shard.

Every example carries its subject as an index into the index's subject list, so one
shard set serves any split (seed, fractions, folds): splits are drawn from the
subject list exactly as the in-memory path draws them from the samples' subjects.

TF-free: the writer's main process and its workers read it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Dict, List

import numpy as np

from keras_dmtl.data.records import DataError

INDEX_NAME = "index.json"
FORMAT = "keras_dmtl.shards"
VERSION = 1

# The features of one example (a tf.train.Example).
IMAGE = "image"  # bytes: the crop, PNG or JPEG (RGB or grayscale)
IDENTITY = "identity"  # int64: index into identity_names, -1 when absent
EXPRESSION = "expression"  # int64: index into expression_names, -1 when absent
SUBJECT = "subject"  # int64: index into the index's subjects
SOURCE = "source"  # bytes: the file (or generated sample) the crop came from
# int64 list, one entry per action_unit_names: 1 present, 0 absent, -1 not
# annotated; only in sets whose index names AUs.
ACTION_UNITS = "action_units"

ENCODINGS = ("png", "jpeg")


@dataclasses.dataclass(frozen=True)
class ShardIndex:
    """A complete shard set.

    Attributes:
        root: the shard folder.
        shard_files: file names of the shards, in order.
        shard_examples: examples in each shard.
        identity_names, expression_names: the label maps.
        subjects: every subject key; examples name theirs by position here.
        subject_examples: int64 examples per subject (0: all its images were skipped).
        subject_identities: per subject, the identity labels its examples carry.
        image_size, channels: the crops' side and channels.
        encoding: "png" (lossless) or "jpeg".
        sources: the datasets the examples came from (several when the shard
            tool was given several: each subject key then starts "<source>/").
        settings: every setting the crops depend on, and the data's fingerprint.
        action_unit_names: the AU labels every example carries ("AU12"); empty
            for a set without AU labels (and for sets written before them).
    """

    root: str
    shard_files: List[str]
    shard_examples: List[int]
    identity_names: List[str]
    expression_names: List[str]
    subjects: List[str]
    subject_examples: np.ndarray
    subject_identities: List[List[int]]
    image_size: int
    channels: int
    encoding: str
    sources: List[str]
    settings: Dict
    action_unit_names: List[str] = dataclasses.field(default_factory=list)

    @property
    def files(self) -> List[str]:
        """The shards' paths."""
        return [os.path.join(self.root, name) for name in self.shard_files]

    @property
    def examples(self) -> int:
        return int(sum(self.shard_examples))

    @property
    def subject_sources(self) -> np.ndarray:
        """int64, per subject, the index of its source in `sources`."""
        if len(self.sources) < 2:
            return np.zeros(len(self.subjects), np.int64)
        position = {name: i for i, name in enumerate(self.sources)}
        return np.asarray([position[subject.split("/", 1)[0]] for subject in self.subjects],
                          np.int64)


def is_shard_dir(path) -> bool:
    """Whether `path` is a shard folder: an index.json of this format, or one beside
    TFRecord files (a damaged index, which `read_index` then reports). A dataset
    that happens to hold another index.json is not one."""
    index = os.path.join(path, INDEX_NAME) if path else ""
    if not os.path.isfile(index):
        return False
    try:
        with open(index) as stream:
            if json.load(stream).get("format") == FORMAT:
                return True
    except (OSError, ValueError, AttributeError):
        pass
    return any(name.endswith(".tfrecord") for name in os.listdir(path))


def index_record(shards, identity_names, expression_names, subjects, subject_examples,
                 subject_identities, settings, sources, skipped, action_unit_names=()):
    """The JSON content of index.json (see `ShardIndex` for the fields).

    Args:
        shards: list of {"file", "examples", "bytes"} per shard, in order.
        settings: dict with at least image_size, channels and encoding.
        skipped: {reason: images} left out of the set.
        action_unit_names: the AU labels of the examples; none: the key is left
            out, as in sets without AU labels.

    Returns:
        A JSON-serialisable dict.
    """
    record = {
        "format": FORMAT,
        "version": VERSION,
        "examples": int(sum(shard["examples"] for shard in shards)),
        "shards": shards,
        "identity_names": list(identity_names),
        "expression_names": list(expression_names),
        "subjects": list(subjects),
        "subject_examples": [int(count) for count in subject_examples],
        "subject_identities": [[int(i) for i in ids] for ids in subject_identities],
        "settings": dict(settings),
        "sources": list(sources),
        "skipped": dict(skipped),
    }
    if action_unit_names:
        record["action_unit_names"] = list(action_unit_names)
    return record


def read_index(root) -> ShardIndex:
    """Reads and checks a shard folder's index.json.

    The shard files must be there with the sizes the index gives, so that a set
    copied in part, or a shard truncated since, fails here with its name rather
    than in the middle of training.

    Args:
        root: the shard folder.

    Returns:
        The `ShardIndex`.

    Raises:
        DataError: naming the file, when the index is missing, malformed or does
            not match the shards beside it.
    """
    path = os.path.join(root, INDEX_NAME)
    rewrite = ("write the shards again with python -m keras_dmtl.data.shards into an empty "
               "--out_dir.")
    try:
        with open(path) as stream:
            data = json.load(stream)
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable shard index ({error}); {rewrite}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
        raise DataError(f"{path}: not a version-{VERSION} {FORMAT} index; {rewrite}")
    try:
        settings = data["settings"]
        index = ShardIndex(
            root=root,
            shard_files=[str(shard["file"]) for shard in data["shards"]],
            shard_examples=[int(shard["examples"]) for shard in data["shards"]],
            identity_names=[str(name) for name in data["identity_names"]],
            expression_names=[str(name) for name in data["expression_names"]],
            subjects=[str(subject) for subject in data["subjects"]],
            subject_examples=np.asarray(data["subject_examples"], np.int64),
            subject_identities=[[int(i) for i in ids] for ids in data["subject_identities"]],
            image_size=int(settings["image_size"]),
            channels=int(settings["channels"]),
            encoding=str(settings["encoding"]),
            sources=[str(source) for source in data["sources"]],
            settings=dict(settings),
            action_unit_names=[str(name) for name in data.get("action_unit_names", [])],
        )
        sizes = [int(shard["bytes"]) for shard in data["shards"]]
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(f"{path}: malformed shard index ({error!r} missing or wrong); "
                        f"{rewrite}") from None
    problem = _inconsistency(index)
    if problem:
        raise DataError(f"{path}: {problem}; {rewrite}")
    for name, size in zip(index.shard_files, sizes):
        shard = os.path.join(root, name)
        if os.path.basename(name) != name or not os.path.isfile(shard):
            raise DataError(f"{shard}: a shard {path} lists is missing; copy the whole shard "
                            f"folder, or {rewrite}")
        if os.path.getsize(shard) != size:
            raise DataError(f"{shard}: {os.path.getsize(shard)} bytes where {path} says {size} "
                            f"(truncated or changed); {rewrite}")
    return index


def _inconsistency(index):
    """What makes an index inconsistent with itself, or None."""
    subjects = len(index.subjects)
    if len(index.shard_files) != len(index.shard_examples) or not index.shard_files:
        return "no shards, or shard names and counts of different lengths"
    if len(index.subject_examples) != subjects or len(index.subject_identities) != subjects:
        return "the subject lists have different lengths"
    if len(set(index.subjects)) != subjects:
        return "a subject is listed twice"
    if int(index.subject_examples.sum()) != index.examples or index.examples == 0:
        return (f"the subjects hold {int(index.subject_examples.sum())} examples but the "
                f"shards {index.examples}")
    if len(index.sources) > 1 and any(subject.split("/", 1)[0] not in index.sources
                                      for subject in index.subjects):
        return "a subject key that names none of the sources"
    known = [i for ids in index.subject_identities for i in ids]
    if known and not 0 <= min(known) <= max(known) < len(index.identity_names):
        return "an identity label outside identity_names"
    if len(set(index.action_unit_names)) != len(index.action_unit_names):
        return "an action unit is named twice"
    if index.channels not in (1, 3) or index.image_size < 1 or index.encoding not in ENCODINGS:
        return "bad image settings"
    return None
