"""Decode, detect, align and cache: from `FaceRecords` to `FaceArrays`.

Detection is the slow part (MTCNN: ~0.13 s per photo on two CPU cores), so the
aligned crops are cached as one `.npz` keyed by the sources (paths with their
sizes and modification times, or the pixels) and every setting that changes the
crops. A second run with the same inputs loads the cache and detects nothing. A
long alignment keeps its crops in parts as it goes (every `PARTIAL_EVERY` images),
so a killed run resumes where its last part ends.
"""

import collections
import glob
import hashlib
import io
import logging
import os

import cv2
import numpy as np
import tqdm
import PIL.Image

from keras_dmtl.data.faces.alignment import FACE_MARGIN
from keras_dmtl.data.faces.alignment import align_face
from keras_dmtl.data.faces.alignment import crop_box
from keras_dmtl.data.faces.alignment import preprocess_crop
from keras_dmtl.data.faces.detection import ImageTooLargeError
from keras_dmtl.data.faces.detection import check_image_size
from keras_dmtl.data.faces.detection import largest_face
from keras_dmtl.data.faces.detection import make_detector
from keras_dmtl.data.records import DataError
from keras_dmtl.data.records import EncodedImage
from keras_dmtl.data.records import FaceArrays
from keras_dmtl.io_utils import atomic_path

_LOG = logging.getLogger(__name__)
# Bump when the crop-making code changes, so that old caches are not reused.
_CACHE_VERSION = 1
# A run that aligns a large set keeps its new crops every this many images (a part
# beside the final cache, removed once it is written), so that a killed run resumes
# instead of starting over.
PARTIAL_EVERY = 1024
# Encoded image files over this are refused before they are read in full.
MAX_IMAGE_BYTES = 50 << 20


def _header_size(data):
    """(height, width) from an encoded image's header, without decoding it, or None.

    OpenCV has no header-only read (`cv2.imread` decodes in full) and reads its own
    pixel limit only at import; Pillow's `Image.open` parses the header lazily.
    Formats Pillow cannot identify are treated as unreadable (fail closed).
    """
    try:
        with PIL.Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (OSError, ValueError, SyntaxError, PIL.Image.DecompressionBombError):
        return None
    return height, width


def decode_image(source):
    """Returns an RGB (or grayscale) uint8 image from a path, an array or an
    `EncodedImage`, or None when it cannot be read or decoded.

    A file over `MAX_IMAGE_BYTES`, or whose header gives more than
    `keras_dmtl.data.faces.detection.MAX_IMAGE_PIXELS`, is refused before it is decoded.

    Raises:
        ImageTooLargeError: over either cap.
        DataError: an `EncodedImage` whose container is corrupt (named).
    """
    if isinstance(source, np.ndarray):
        check_image_size(*source.shape[:2])
        return source
    if isinstance(source, EncodedImage):
        data = source.read(MAX_IMAGE_BYTES)
        if data is None:
            raise _over_byte_limit(source)
    else:
        try:
            with open(source, "rb") as stream:
                data = stream.read(MAX_IMAGE_BYTES + 1)
        except OSError:
            return None
    return decode_bytes(data, str(source))


def check_encoded_image(data, name="image"):
    """The size of an encoded image from its header, after the byte and pixel caps.

    Reads the header only: a caller can check every image it was given before
    decoding (or running a model on) any of them.

    Args:
        data: the encoded bytes.
        name: names the image in the size error.

    Returns:
        (height, width), or None when the bytes are not a readable image.

    Raises:
        ImageTooLargeError: over `MAX_IMAGE_BYTES`, or a header that gives more
            than `MAX_IMAGE_PIXELS`.
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise _over_byte_limit(name)
    size = _header_size(data)
    if size is not None:
        check_image_size(*size, name=name)
    return size


def decode_bytes(data, name="image"):
    """Decodes an encoded image (JPEG, PNG, ...) held in memory to RGB uint8, or None.

    Args:
        data: the encoded bytes.
        name: names the image in the size error.

    Returns:
        (H, W, 3) RGB uint8, or None when the bytes are not a readable image.

    Raises:
        ImageTooLargeError: over `MAX_IMAGE_BYTES`, or a header that gives more
            than `MAX_IMAGE_PIXELS` (checked before decoding).
    """
    if check_encoded_image(data, name) is None:
        return None
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _over_byte_limit(name):
    return ImageTooLargeError(f"{name}: over the {MAX_IMAGE_BYTES >> 20} MiB limit of an "
                              "image file; scale it down first.")


def face_crop(image, detector, image_size, channels, margin):
    """The model input for one decoded image, or None when no face is found."""
    check_image_size(*image.shape[:2])
    if detector is None:
        return preprocess_crop(image, image_size, channels)
    face = largest_face(detector.detect(image))
    if face is None:
        return None
    return crop_detection(image, face, image_size, channels, margin)


def crop_detection(image, face, image_size, channels, margin):
    """The model input for one detected face: aligned on its landmarks, else its box.

    Args:
        image: the decoded (H, W[, C]) uint8 image the face was found in.
        face: a `keras_dmtl.data.faces.detection.Detection`.
        image_size, channels, margin: as the model was trained with.

    Returns:
        uint8 (image_size, image_size, channels).
    """
    if face.landmarks is not None:
        crop = align_face(image, face.landmarks, image_size, margin)
    else:
        crop = crop_box(image, face.box, image_size, margin)
    return preprocess_crop(crop, image_size, channels)


def cache_key(records, image_size, channels, detector, margin):
    """A hash of everything the crops depend on."""
    digest = hashlib.sha256()
    digest.update(repr((_CACHE_VERSION, image_size, channels, detector, margin)).encode())
    hash_sources(digest, records.sources)
    return digest.hexdigest()[:24]


def hash_sources(digest, sources):
    """Adds image sources to a hashlib digest: a file by its path, size and
    modification time (not its bytes: hashing a large dataset would read it all),
    an in-memory image by its pixels."""
    for source in sources:
        if isinstance(source, np.ndarray):
            digest.update(np.ascontiguousarray(source).tobytes())
        elif isinstance(source, EncodedImage):
            digest.update(source.fingerprint().encode())
        else:
            try:
                stat = os.stat(source)
                digest.update(f"{source}|{stat.st_size}|{stat.st_mtime_ns}".encode())
            except OSError:
                digest.update(f"{source}|missing".encode())


def load_faces(records, image_size, channels, detector="none", margin=FACE_MARGIN, cache_dir=None,
               skip_bad_images=False):
    """Turns records into aligned face crops, using the cache when it is valid.

    Args:
        records: `FaceRecords` from a reader.
        image_size: side of the crops.
        channels: 1 (grayscale) or 3 (RGB).
        detector: "none" (images are already face crops), "haar", "mtcnn" or
            "yunet:/path/model.onnx".
        margin: context kept around the face (fraction of its size).
        cache_dir: folder for the `.npz` cache; None disables caching.
        skip_bad_images: skip unreadable images and images without a face
            (counted in one log line) instead of raising.

    Returns:
        `FaceArrays` with the samples that produced a crop.

    Raises:
        DataError: an unreadable image or one without a face, naming the file,
            unless `skip_bad_images`.
    """
    if len(records) == 0:
        raise DataError(f"No images found in the {records.dataset} data: check --config.data_dir.")
    cache_path = None
    if cache_dir:
        key = cache_key(records, image_size, channels, detector, margin)
        cache_path = os.path.join(cache_dir, f"faces_{records.dataset}_{key}.npz")
        if os.path.exists(cache_path):
            with np.load(cache_path) as cached:
                _LOG.info("Loaded %d cached face crops from %s", len(cached["kept"]), cache_path)
                return _arrays(records, cached["images"], cached["kept"])
    face_detector = make_detector(detector)
    crops, kept, problems, start = _resumed(cache_path)
    written = len(crops)
    # disable=None: a bar on a terminal, nothing in logs and tests.
    progress = tqdm.tqdm(records.sources[start:], desc=f"Aligning {records.dataset} faces",
                         unit="image", disable=None, initial=start, total=len(records))
    for index, source in enumerate(progress, start=start):
        if cache_path and index > start and index % PARTIAL_EVERY == 0:
            _write_part(cache_path, crops[written:], kept[written:], problems, index)
            written = len(crops)
        name = (f"{records.dataset} sample {index}" if isinstance(source, np.ndarray)
                else str(source))
        try:
            image = decode_image(source)
            problem = "unreadable or corrupt" if image is None else None
        except ImageTooLargeError:
            image, problem = None, "over the size limit"
        except DataError:  # a corrupt container (EncodedImage); the message names where
            if not skip_bad_images:
                raise
            image, problem = None, "unreadable or corrupt"
        if image is not None:
            crop = face_crop(image, face_detector, image_size, channels, margin)
            problem = "no face found" if crop is None else None
        if problem is not None:
            if not skip_bad_images:
                raise DataError(f"{name}: {problem}; remove it or set "
                                "--config.skip_bad_images=True.")
            problems[problem] += 1
            continue
        crops.append(crop)
        kept.append(index)
    if problems:
        _LOG.warning("Skipped %d of %d images (%s).", sum(problems.values()), len(records),
                     ", ".join(f"{count} {reason}" for reason, count in problems.items()))
    if not crops:
        raise DataError(f"No usable face in the {len(records)} images of {records.dataset}: "
                        "check --config.data_dir and --config.detector.")
    images = np.stack(crops)
    kept = np.asarray(kept, np.int64)
    if cache_path:
        with atomic_path(cache_path) as temporary:
            with open(temporary, "wb") as stream:
                np.savez(stream, images=images, kept=kept)
        for part in _parts(cache_path):
            os.remove(part)
    return _arrays(records, images, kept)


def _parts(cache_path):
    """The partial caches a killed run left for `cache_path`, in order."""
    return sorted(glob.glob(glob.escape(cache_path[:-len(".npz")]) + ".part-*.npz"))


def _write_part(cache_path, crops, kept, problems, done):
    """Keeps the crops aligned since the last part (and the problem counts so far),
    so that a killed run resumes at image `done` instead of starting over."""
    path = f"{cache_path[:-len('.npz')]}.part-{done:010d}.npz"
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as stream:
            np.savez(stream, images=np.asarray(crops, np.uint8), kept=np.asarray(kept, np.int64),
                     done=done, reasons=np.asarray(list(problems), str),
                     counts=np.asarray(list(problems.values()), np.int64))


def _resumed(cache_path):
    """(crops, kept indices, problem counts, first index to align) from the parts a
    killed run left for the same key, or an empty start."""
    crops, kept, problems, done = [], [], collections.Counter(), 0
    for path in _parts(cache_path) if cache_path else ():
        with np.load(path) as part:
            crops.extend(part["images"])
            kept.extend(part["kept"].tolist())
            problems = collections.Counter(dict(zip(part["reasons"].tolist(),
                                                    part["counts"].tolist())))
            done = int(part["done"])
    if done:
        _LOG.info("Resuming the alignment at image %d of a killed run", done)
    return crops, kept, problems, done


def _arrays(records, images, kept):
    chosen = records.subset(kept)
    return FaceArrays(images=images, identity=chosen.identity, expression=chosen.expression,
                      subject=chosen.subject, identity_names=list(records.identity_names),
                      expression_names=list(records.expression_names),
                      source_names=[records.dataset], action_units=chosen.action_units,
                      action_unit_names=list(records.action_unit_names),
                      extras=chosen.extras)
