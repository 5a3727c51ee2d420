"""Teacher embeddings for every face of a dataset, computed once and cached.

A teacher takes ~0.1 s a face on one CPU core, so tens of thousands of faces take
hours: the work is spread over worker processes, written in parts as it goes (a
killed run keeps every part it finished, and the next run computes only the
rest), and keyed by each image's content (the file's bytes, or the pixels), so
that a renamed folder, another reader of the same files or a second run finds
them again.

An image the teacher cannot use is reported and left without an embedding
(`found` is False there), never given a zero vector: unreadable files (a
corrupt or empty file) and photos where the teacher finds no face.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import hashlib
import importlib
import logging
import multiprocessing
import os
import uuid
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tqdm

from keras_dmtl.data.faces.loading import decode_bytes
from keras_dmtl.data.faces.loading import MAX_IMAGE_BYTES
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import EncodedImage
from keras_dmtl.io_utils import atomic_path
from keras_dmtl.teachers import registry

_LOG = logging.getLogger(__name__)

EMBEDDED, NO_FACE, UNREADABLE = 0, 1, 2
_STATUS_WORDS = {NO_FACE: "no face found", UNREADABLE: "unreadable"}
# Faces per written part: small enough that a kill loses little, large enough
# that a set of 50,000 faces is a few hundred files.
PART_SIZE = 256


@dataclasses.dataclass
class TeacherEmbeddings:
    """The teacher's view of a list of sources.

    Attributes:
        vectors: float32 (N, D) unit vectors; rows where `found` is False are 0
            and must not be used as targets.
        found: bool (N,), whether the teacher embedded the source.
        status: int8 (N,): EMBEDDED, NO_FACE or UNREADABLE.
        teacher: the teacher's registered name.
    """

    vectors: np.ndarray
    found: np.ndarray
    status: np.ndarray
    teacher: str


def source_bytes(source) -> Optional[bytes]:
    """The bytes that identify a source's image: a file's content, an encoded
    image's bytes, or an array's shape and pixels; None for an unreadable file."""
    if isinstance(source, np.ndarray):
        return repr((source.shape, source.dtype.str)).encode() + np.ascontiguousarray(
            source).tobytes()
    if isinstance(source, EncodedImage):
        return source.read(MAX_IMAGE_BYTES)
    try:
        with open(source, "rb") as stream:
            return stream.read(MAX_IMAGE_BYTES + 1)
    except OSError:
        return None


def source_key(source) -> str:
    """The cache key of one source (sha256 of `source_bytes`; a fixed key per
    unreadable path, so that it is reported, not cached)."""
    data = source_bytes(source)
    if data is None:
        return "unreadable:" + str(source)
    return hashlib.sha256(data).hexdigest()


def cache_folder(cache_dir: str, teacher_name: str) -> str:
    """Where `teacher_name`'s embeddings are kept under `cache_dir` (by its version)."""
    version = registry.lookup(teacher_name).version
    digest = hashlib.sha256(version.encode()).hexdigest()[:12]
    return os.path.join(cache_dir, f"teacher_{teacher_name}_{digest}")


def _load_parts(folder: str) -> Dict[str, Tuple[np.ndarray, int]]:
    cached = {}
    for path in sorted(glob.glob(os.path.join(folder, "part-*.npz"))):
        with np.load(path) as part:
            for key, vector, status in zip(part["keys"], part["vectors"], part["status"]):
                cached[str(key)] = (vector, int(status))
    return cached


_WORKER_TEACHER = None
_WORKER_ERROR = None


def _start_worker(teacher_name, module_name):
    """Loads the teacher once in a worker process. The teacher's module is imported
    first, so that one registered outside this package is found too. A failure is
    kept and raised by the first chunk: raised here, the pool would restart the
    worker forever."""
    global _WORKER_TEACHER, _WORKER_ERROR  # noqa: PLW0603 (one teacher per process)
    try:
        importlib.import_module(module_name)
        _WORKER_TEACHER = registry.lookup(teacher_name)()
    except Exception as error:  # noqa: BLE001 (re-raised in the parent, see above)
        _WORKER_ERROR = error


def _embed_chunk(chunk, teacher=None):
    """(keys, vectors, statuses) of a chunk of (key, source) pairs."""
    if teacher is None and _WORKER_ERROR is not None:
        raise _WORKER_ERROR
    teacher = teacher or _WORKER_TEACHER
    keys, vectors, statuses = [], [], []
    for key, source in chunk:
        data = source_bytes(source)
        image = None
        if data is not None:
            image = source if isinstance(source, np.ndarray) else decode_bytes(data, str(source))
        vector = None if image is None else teacher.embed(image)
        keys.append(key)
        statuses.append(UNREADABLE if image is None else (NO_FACE if vector is None
                                                          else EMBEDDED))
        vectors.append(np.zeros(teacher.embedding_dim, np.float32) if vector is None
                       else vector)
    return keys, np.stack(vectors).astype(np.float32), np.asarray(statuses, np.int8)


def _write_part(folder, keys, vectors, statuses):
    path = os.path.join(folder, f"part-{uuid.uuid4().hex}.npz")
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as stream:
            np.savez(stream, keys=np.asarray(keys), vectors=vectors, status=statuses)


def teacher_embeddings(sources: Sequence, teacher_name: str, cache_dir: str,
                       workers: int = 1, progress: bool = True) -> TeacherEmbeddings:
    """The teacher's embedding of every source, from the cache or computed.

    Args:
        sources: image paths, uint8 arrays or `EncodedImage`s (`FaceRecords.sources`).
        teacher_name: a registered teacher (`registry.available()`).
        cache_dir: the folder that keeps the embeddings between runs.
        workers: processes that run the teacher (each loads its own copy).
        progress: show a progress bar over the faces still to embed.

    Returns:
        `TeacherEmbeddings` in the order of `sources`. Unusable images are
        reported in one warning (count and the first few) and left unfound.

    Raises:
        DataError: `cache_dir` cannot be written.
        ValueError: an unknown teacher (the message lists the registered ones).
        ImportError: the teacher's library is missing (the message says what to
            install).
    """
    teacher_class = registry.lookup(teacher_name)
    folder = cache_folder(cache_dir, teacher_name)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise DataError(f"Cannot write the teacher's embeddings under {cache_dir} ({error}): "
                        "pass a writable --cache_dir.") from None
    keys = [source_key(source) for source in sources]
    cached = _load_parts(folder)
    todo = {}
    for key, source in zip(keys, sources):
        if key not in cached and not key.startswith("unreadable:"):
            todo.setdefault(key, source)
    if todo:
        _compute(list(todo.items()), teacher_name, folder, workers, progress)
        cached = _load_parts(folder)
    dim = teacher_class.embedding_dim
    vectors = np.zeros((len(sources), dim), np.float32)
    status = np.full(len(sources), UNREADABLE, np.int8)
    for row, key in enumerate(keys):
        if key in cached:
            vectors[row], status[row] = cached[key]
    _report(sources, status, teacher_name)
    return TeacherEmbeddings(vectors, status == EMBEDDED, status, teacher_name)


def _compute(items: List, teacher_name: str, folder: str, workers: int, progress: bool):
    chunks = [items[start:start + PART_SIZE] for start in range(0, len(items), PART_SIZE)]
    bar = tqdm.tqdm(total=len(items), unit="face", disable=not progress,
                    desc=f"{teacher_name} embeddings")
    if workers <= 1:
        teacher = registry.lookup(teacher_name)()
        results = map(functools.partial(_embed_chunk, teacher=teacher), chunks)
        for result in results:
            _write_part(folder, *result)
            bar.update(len(result[0]))
    else:
        # spawn, not fork: the caller may have started TensorFlow's threads.
        context = multiprocessing.get_context("spawn")
        module = registry.lookup(teacher_name).__module__
        with context.Pool(workers, initializer=_start_worker,
                          initargs=(teacher_name, module)) as pool:
            for result in pool.imap_unordered(_embed_chunk, chunks):
                _write_part(folder, *result)
                bar.update(len(result[0]))
    bar.close()


def _report(sources, status, teacher_name):
    for code, words in _STATUS_WORDS.items():
        rows = np.flatnonzero(status == code)
        if len(rows):
            named = ", ".join(str(sources[row]) if not isinstance(sources[row], np.ndarray)
                              else f"array #{row}" for row in rows[:3])
            _LOG.warning("The %s teacher skipped %d of %d images, %s (e.g. %s): they get no "
                         "embedding target.", teacher_name, len(rows), len(sources), words,
                         named)
