"""The image files that `enroll` and `verify` read: regular files under the size caps.

Every path of an attempt is checked here before any model runs, so that a bad file
at the end of a list cannot end an attempt after faces were compared (and before
it was counted). Devices, FIFOs and sockets are never opened for reading: `/dev/zero`
would be read up to the byte cap, and a FIFO would block the attempt forever.
"""

import os
import stat

from keras_dmtl.data.faces.loading import MAX_IMAGE_BYTES
from keras_dmtl.data.faces.loading import check_encoded_image
from keras_dmtl.data.faces.loading import decode_bytes

_NOT_REGULAR = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
                (stat.S_ISSOCK, "a socket"))


class ImageError(ValueError):
    """An image path that is missing, empty, not a regular file or not a readable image."""


def _check_regular(path, status):
    if stat.S_ISREG(status.st_mode):
        return
    kind = next((name for test, name in _NOT_REGULAR if test(status.st_mode)), "not a file")
    raise ImageError(f"{path}: not a regular file ({kind}); give an image file.")


def read_image_bytes(path):
    """The bytes of a regular, non-empty file: at most `MAX_IMAGE_BYTES` + 1 of them.

    Raises:
        ImageError: missing, unreadable, empty, or not a regular file (never opened).
    """
    try:
        _check_regular(path, os.stat(path))
        # O_NONBLOCK: a FIFO put in the file's place since the stat must not block the open.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise ImageError(f"{path}: {error.strerror}.") from None
    with os.fdopen(descriptor, "rb") as stream:
        status = os.fstat(stream.fileno())
        _check_regular(path, status)  # the file opened is the one checked
        if status.st_size == 0:
            raise ImageError(f"{path}: the file is empty (0 bytes).")
        try:
            data = stream.read(MAX_IMAGE_BYTES + 1)
        except OSError as error:
            raise ImageError(f"{path}: {error.strerror}.") from None
    return data


def check_image_file(path):
    """Checks that `path` is an image under the caps, from its header (nothing decoded).

    Raises:
        ImageError: missing, unreadable, empty, not a regular file, or not an image.
        keras_dmtl.data.faces.detection.ImageTooLargeError: over the byte or pixel cap.
    """
    if check_encoded_image(read_image_bytes(path), path) is None:
        raise ImageError(f"{path}: not a readable image (PNG, JPEG, BMP, WebP, TIFF ...).")


def read_image(path):
    """The RGB pixels of an image file.

    Raises:
        ImageError: missing, unreadable, empty, not a regular file, or not an image.
        keras_dmtl.data.faces.detection.ImageTooLargeError: over the byte or pixel cap.
    """
    image = decode_bytes(read_image_bytes(path), path)
    if image is None:
        raise ImageError(f"{path}: not a readable image (PNG, JPEG, BMP, WebP, TIFF ...).")
    return image
