"""Writes a face dataset as TFRecord shards: detected and aligned once, in parallel,
resumably (`python -m keras_dmtl.data.shards` is its command line).

The examples are shuffled once (seeded) and dealt into shards of `shard_size`.
Worker processes make and encode the crops of a shard (`worker`); the main
process writes each shard under a temporary name and renames it when complete,
then records it in `progress.json`. A rerun with the same data and settings skips
the finished shards; `index.json` is written last, so its presence means the set
is complete (`index`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import itertools
import json
import logging
import math
import multiprocessing
import os
from typing import List, Optional

import numpy as np
import tqdm

from keras_dmtl.data.faces.loading import hash_sources
from keras_dmtl.data.records import DataError
from keras_dmtl.data.shards import index as shard_index
from keras_dmtl.data.shards import worker as shard_worker
from keras_dmtl.data.shards.worker import GeneratedFaces
from keras_dmtl.data.shards.worker import ShardJob
from keras_dmtl.io_utils import atomic_path
from keras_dmtl.io_utils import read_json
from keras_dmtl.io_utils import write_json

_LOG = logging.getLogger(__name__)
PROGRESS_NAME = "progress.json"
SHARD_NAME = "shard-{:05d}-of-{:05d}.tfrecord"
_TEMPORARY_PREFIX = ".tmp-"  # io_utils.atomic_path's temporary files
# Bump when the shards' content changes for the same settings, so that a rerun
# refuses a folder of older shards instead of mixing them.
_WRITER_VERSION = 1


@dataclasses.dataclass
class ShardPlan:
    """Every example a shard set will hold, with its labels.

    Attributes:
        identity, expression: int64 (N,) label indices, -1 when absent.
        subject: int64 (N,) index into `subjects`.
        subjects: the subject keys.
        identity_names, expression_names: the label maps.
        sources: per example the reader's source (path or array), or None for
            generated faces.
        generated: `GeneratedFaces` when `sources` is None.
        dataset: the format the examples come from.
        fingerprint: a hash of the examples' sources and labels.
        action_units: int8 (N, A) AU labels (1, 0, -1 not annotated), or None
            for a set without AU labels.
        action_unit_names: the A AU labels ("AU12").
    """

    identity: np.ndarray
    expression: np.ndarray
    subject: np.ndarray
    subjects: List[str]
    identity_names: List[str]
    expression_names: List[str]
    sources: Optional[list]
    generated: Optional[GeneratedFaces]
    dataset: str
    fingerprint: str
    action_units: Optional[np.ndarray] = None
    action_unit_names: List[str] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.identity)

    def source_name(self, position):
        """How an example's image is named in the shard and in messages."""
        if self.sources is None:
            return f"generated face {position}"
        source = self.sources[position]
        return source if isinstance(source, str) else f"{self.dataset} sample {position}"


def _fingerprint(*parts):
    digest = hashlib.sha256()
    for part in parts:
        digest.update(np.ascontiguousarray(part).tobytes() if isinstance(part, np.ndarray)
                      else json.dumps(part).encode())
    return digest


def plan_records(records):
    """The plan of a reader's `FaceRecords` (see `readers.read_dataset`)."""
    subjects, subject = np.unique(records.subject, return_inverse=True)
    digest = _fingerprint(records.dataset, list(records.identity_names),
                          list(records.expression_names), records.identity, records.expression,
                          subject.reshape(-1), subjects.tolist())
    # Hashed only when there are any, so a set without AU labels keeps its fingerprint.
    names = list(records.action_unit_names)
    if names:
        digest.update(_fingerprint(names, records.action_units).digest())
    hash_sources(digest, records.sources)
    return ShardPlan(records.identity, records.expression, subject.reshape(-1).astype(np.int64),
                     subjects.tolist(), list(records.identity_names),
                     list(records.expression_names), list(records.sources), None,
                     records.dataset, digest.hexdigest()[:24],
                     records.action_units if names else None, names)


def plan_generated(count, identities, seed=0):
    """The plan of `count` generated faces of `identities` people (see
    `synthetic.render_stream_image`); nothing is rendered here."""
    from keras_dmtl.data.generated.synthetic import GENERATED_ACTION_UNITS  # noqa: PLC0415
    from keras_dmtl.data.generated.synthetic import expression_action_units  # noqa: PLC0415
    from keras_dmtl.data.generated.synthetic import stream_labels  # noqa: PLC0415
    from keras_dmtl.data.labels.action_units import action_unit_names  # noqa: PLC0415

    generated = GeneratedFaces(identities, seed)
    identity, expression = stream_labels(np.arange(count), identities, generated.expressions)
    width = len(str(identities))
    names = [f"P{number:0{width}d}" for number in range(1, identities + 1)]
    # The AUs each generated expression shows (`synthetic.EXPRESSION_ACTION_UNITS`).
    action_units = expression_action_units(list(generated.expressions))[expression]
    au_names = action_unit_names(GENERATED_ACTION_UNITS)
    digest = _fingerprint("generated", count, identities, seed, list(generated.expressions),
                          au_names)
    return ShardPlan(identity, expression, identity.copy(), names, names,
                     list(generated.expressions), None, generated, "generated",
                     digest.hexdigest()[:24], action_units, au_names)


def _differences(saved, wanted):
    named = {"data": "the dataset's files or labels"}
    return "; ".join(
        f"{named.get(key, key)}: {saved.get(key)!r} there, {wanted.get(key)!r} now"
        if key not in named else named[key]
        for key in sorted(set(saved) | set(wanted)) if saved.get(key) != wanted.get(key))


def _prepare_out_dir(out_dir, wanted):
    """Checks `out_dir` against the set to write.

    Returns:
        None when it already holds this set complete; else the finished shards
        ({shard number: its progress entry}) of an earlier, interrupted run.

    Raises:
        DataError: `out_dir` holds shards of other data or settings, or other files.
    """
    index_path = os.path.join(out_dir, shard_index.INDEX_NAME)
    progress_path = os.path.join(out_dir, PROGRESS_NAME)
    for path in (index_path, progress_path):
        if not os.path.exists(path):
            continue
        try:
            saved = read_json(path)["settings"]
        except (OSError, ValueError, KeyError, TypeError):
            raise DataError(f"{path} is not a shard writer's file: pass an empty or new "
                            "--out_dir (nothing was changed).") from None
        if saved != wanted:
            what = "a shard set" if path == index_path else "part of a shard set"
            raise DataError(
                f"--out_dir={out_dir} already holds {what} of other data or settings "
                f"({_differences(saved, wanted)}): pass another --out_dir, or delete "
                f"{out_dir} to write this set there (nothing was changed).")
        if path == index_path:
            return None
        # Temporary shards a killed run left behind: only ever ours, in our folder.
        for name in os.listdir(out_dir):
            if name.startswith(_TEMPORARY_PREFIX):
                os.remove(os.path.join(out_dir, name))
        done = {int(shard): entry for shard, entry in read_json(path)["done"].items()}
        return {shard: entry for shard, entry in done.items()
                if os.path.isfile(os.path.join(out_dir, entry["file"]))
                and os.path.getsize(os.path.join(out_dir, entry["file"])) == entry["bytes"]}
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        raise DataError(f"--out_dir={out_dir} is not empty and holds no shards: pass an empty "
                        "or new --out_dir (nothing was changed).")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise DataError(f"--out_dir={out_dir} is a file: pass a folder.")
    os.makedirs(out_dir, exist_ok=True)
    write_json(progress_path, {"settings": wanted, "done": {}})
    return {}


def _write_shard(path, plan, positions, results):
    """Writes one shard atomically; returns the positions whose crop failed, with why."""
    from keras_dmtl.data.shards.streaming import serialize_example  # noqa: PLC0415 (TensorFlow)
    import tensorflow as tf  # noqa: PLC0415 (workers never import this module's TF)

    skipped = {}
    with atomic_path(path) as temporary:
        with tf.io.TFRecordWriter(temporary) as writer:
            for position, (image, problem) in zip(positions, results):
                if image is None:
                    skipped[int(position)] = problem
                    continue
                writer.write(serialize_example(
                    image, plan.identity[position], plan.expression[position],
                    plan.subject[position], plan.source_name(position),
                    None if plan.action_units is None else plan.action_units[position]))
    return skipped


def _run_jobs(jobs, workers):
    """Yields (shard, results) of each job as it completes, from `workers` processes.

    At most two jobs per worker are in flight, so finished shards wait in memory
    only until the main process writes them.
    """
    if workers == 1:
        yield from map(shard_worker.run_job, jobs)
        return
    # spawn, not fork: the main process may hold TensorFlow's threads. A worker
    # that dies raises BrokenProcessPool here instead of hanging the pool.
    executor = concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=shard_worker.init_worker)
    try:
        jobs, pending = iter(jobs), set()
        while True:
            for job in itertools.islice(jobs, 2 * workers - len(pending)):
                pending.add(executor.submit(shard_worker.run_job, job))
            if not pending:
                return
            finished, pending = concurrent.futures.wait(
                pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                yield future.result()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def write_shards(plan, out_dir, settings, shard_size=1024, seed=0, workers=None,
                 skip_bad_images=False):
    """Writes `plan`'s examples as TFRecord shards and their index into `out_dir`.

    Args:
        plan: from `plan_records` or `plan_generated`.
        out_dir: an empty or new folder, or one an interrupted run of the same
            data and settings left (its finished shards are kept).
        settings: `shard_worker.CropSettings`.
        shard_size: examples per shard.
        seed: seeds the one shuffle of the examples.
        workers: processes making crops; 1 works in this process; None: one per core.
        skip_bad_images: skip (and count) unreadable images and images without
            a face instead of stopping.

    Returns:
        The `shard_index.ShardIndex` of the set.

    Raises:
        DataError: `out_dir` holds other shards or files; a bad image (unless
            skipped); no usable image at all.
    """
    count = len(plan)
    if count == 0:
        raise DataError(f"No images found in the {plan.dataset} data: check --data_dir.")
    wanted = {**dataclasses.asdict(settings), "shard_size": shard_size, "seed": seed,
              "examples": count, "data": plan.fingerprint, "writer": _WRITER_VERSION}
    done = _prepare_out_dir(out_dir, wanted)
    if done is None:
        _LOG.info("%s already holds these shards.", out_dir)
        return shard_index.read_index(out_dir)
    order = np.random.default_rng(seed).permutation(count)
    shards = math.ceil(count / shard_size)
    positions = [order[shard * shard_size:(shard + 1) * shard_size] for shard in range(shards)]
    jobs = (ShardJob(shard, positions[shard].tolist(),
                     None if plan.sources is None else [plan.sources[p] for p in positions[shard]],
                     settings, plan.generated)
            for shard in range(shards) if shard not in done)
    workers = workers or len(os.sched_getaffinity(0))
    progress_path = os.path.join(out_dir, PROGRESS_NAME)
    # disable=None: a bar on a terminal, nothing in logs and tests.
    with tqdm.tqdm(total=count, initial=sum(len(positions[s]) for s in done), unit="image",
                   desc=f"Sharding {plan.dataset} faces", disable=None) as bar:
        for shard, results in _run_jobs(jobs, workers):
            problems = [(p, problem) for p, (_, problem) in zip(positions[shard], results)
                        if problem]
            if problems and not skip_bad_images:
                position, problem = problems[0]
                raise DataError(f"{plan.source_name(position)}: {problem}; remove it or set "
                                f"--skip_bad_images (the {len(done)} finished shards are kept: "
                                "rerun to continue).")
            name = SHARD_NAME.format(shard, shards)
            path = os.path.join(out_dir, name)
            skipped = _write_shard(path, plan, positions[shard], results)
            done[shard] = {"file": name, "examples": len(results) - len(skipped),
                           "bytes": os.path.getsize(path),
                           "skipped": {str(p): why for p, why in skipped.items()}}
            write_json(progress_path, {"settings": wanted, "done": {str(s): e for s, e in
                                                                    sorted(done.items())}})
            bar.update(len(results))
    return _write_index(out_dir, plan, done, positions, wanted)


def _write_index(out_dir, plan, done, positions, settings):
    """Writes index.json from the finished shards (all of them), then drops the
    progress file; returns the read-back index."""
    kept = np.concatenate([
        np.setdiff1d(positions[shard], np.asarray(list(map(int, done[shard]["skipped"])), int))
        for shard in range(len(positions))])
    skipped = [why for entry in done.values() for why in entry["skipped"].values()]
    reasons = {why: skipped.count(why) for why in sorted(set(skipped))}
    if skipped:
        _LOG.warning("Skipped %d of %d images (%s).", len(skipped), len(plan),
                     ", ".join(f"{n} {why}" for why, n in reasons.items()))
    if len(kept) == 0:
        raise DataError(f"No usable face in the {len(plan)} images of {plan.dataset}: "
                        "check --data_dir and --detector.")
    subject_examples = np.bincount(plan.subject[kept], minlength=len(plan.subjects))
    labelled = kept[plan.identity[kept] >= 0]
    pairs = np.unique(np.stack([plan.subject[labelled], plan.identity[labelled]]), axis=1)
    subject_identities = [[] for _ in plan.subjects]
    for subject, identity in pairs.T:
        subject_identities[subject].append(int(identity))
    record = shard_index.index_record(
        [{key: done[shard][key] for key in ("file", "examples", "bytes")}
         for shard in range(len(positions))],
        plan.identity_names, plan.expression_names, plan.subjects, subject_examples,
        subject_identities, settings, plan.dataset.split("+"), reasons,
        plan.action_unit_names)
    write_json(os.path.join(out_dir, shard_index.INDEX_NAME), record)
    os.remove(os.path.join(out_dir, PROGRESS_NAME))
    return shard_index.read_index(out_dir)
