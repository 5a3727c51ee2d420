"""Face alignment and input preprocessing shared by training and the device runtime.

numpy + OpenCV only: `keras_dmtl.edge` runs this module where TensorFlow is not
installed, so the phone sees exactly the crops the model was trained on.
"""

import cv2
import numpy as np

# Context kept around the face, as a fraction of the crop: training, export and the
# device runtimes all crop with it (the manifest carries it to the phone).
FACE_MARGIN = 0.2

# The 5-point template of ArcFace/InsightFace for a 112x112 crop: left eye, right
# eye, nose tip, left and right mouth corners (x, y).
_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
     [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def reference_landmarks(size, margin=0.0):
    """The template landmarks for a `size` x `size` crop.

    Args:
        size: output side in pixels.
        margin: extra context as a fraction of the crop; 0.2 shrinks the face
            toward the centre so that 20% more surround is kept.

    Returns:
        (5, 2) float64 target points.
    """
    points = _TEMPLATE_112 / 112.0
    points = 0.5 + (points - 0.5) / (1.0 + margin)
    return points * size


def similarity_transform(source, target):
    """Least-squares similarity (rotation, uniform scale, shift): Umeyama 1991.

    Args:
        source: (N, 2) points.
        target: (N, 2) points.

    Returns:
        (2, 3) float64 matrix M with target ~= M @ [x, y, 1].
    """
    source = np.asarray(source, np.float64)
    target = np.asarray(target, np.float64)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    source_centred, target_centred = source - source_mean, target - target_mean
    covariance = target_centred.T @ source_centred / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / np.mean(np.sum(source_centred ** 2, axis=1))
    shift = target_mean - scale * rotation @ source_mean
    return np.hstack([scale * rotation, shift[:, None]])


def align_face(image, landmarks, size, margin=0.0):
    """Warps `image` so that its 5 landmarks land on the template.

    Args:
        image: (H, W) or (H, W, C) uint8.
        landmarks: (5, 2) eyes, nose, mouth corners in image pixels.
        size: output side.
        margin: see `reference_landmarks`.

    Returns:
        The aligned `size` x `size` crop, same channels as `image`.
    """
    matrix = similarity_transform(landmarks, reference_landmarks(size, margin))
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def crop_box(image, box, size, margin=FACE_MARGIN):
    """A square crop around a detection box, padded by replication at the borders.

    Args:
        image: (H, W[, C]) uint8.
        box: (x, y, w, h) of the face.
        size: output side.
        margin: fraction of the box side added around it.

    Returns:
        The `size` x `size` crop.
    """
    x, y, w, h = [float(v) for v in box]
    side = max(w, h) * (1.0 + margin)
    centre_x, centre_y = x + w / 2.0, y + h / 2.0
    scale = size / side
    matrix = np.array([[scale, 0.0, size / 2.0 - scale * centre_x],
                       [0.0, scale, size / 2.0 - scale * centre_y]])
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REPLICATE)


def to_channels(image, channels):
    """Converts an (H, W), (H, W, 1) or (H, W, 3) RGB image to `channels` (1 or 3)."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if channels == 1:
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return image[:, :, None]
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return image


def preprocess_crop(image, image_size, channels):
    """Turns a face crop into the model's input: uint8 (image_size, image_size, C).

    The one function both training and the device runtime call. Pixel values stay
    0..255: the model rescales them itself, so an int8 model maps camera pixels
    exactly.

    Args:
        image: (H, W[, C]) uint8 face crop (RGB when 3 channels).
        image_size: output side.
        channels: 1 (grayscale) or 3 (RGB).

    Returns:
        uint8 array (image_size, image_size, channels).
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.shape[0] != image_size or image.shape[1] != image_size:
        shrinking = image.shape[0] > image_size
        image = cv2.resize(image, (image_size, image_size),
                           interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return np.ascontiguousarray(to_channels(image, channels))
