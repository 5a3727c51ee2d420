"""Runs an exported .tflite face model with the LiteRT interpreter (TF-free)."""

import numpy as np
from ai_edge_litert.interpreter import Interpreter


def quantize(values, scale, zero_point, dtype=np.int8):
    """Affine quantisation as LiteRT defines it: round half to even, then saturate.

    Args:
        values: float array.
        scale, zero_point: the tensor's quantisation parameters.
        dtype: np.int8 or np.uint8.
    """
    quantized = np.round(np.asarray(values, np.float32) / np.float32(scale) + zero_point)
    return np.clip(quantized, np.iinfo(dtype).min, np.iinfo(dtype).max).astype(dtype)


class LiteRTFaceModel:
    """The `serving_default` signature of a .tflite file, one image at a time.

    Args:
        model_path: the .tflite file.
        num_threads: interpreter threads (1 matches a phone's big core budget).
    """

    def __init__(self, model_path, num_threads=1):
        self._interpreter = Interpreter(model_path=model_path, num_threads=num_threads)
        self._runner = self._interpreter.get_signature_runner("serving_default")
        self._input = self._runner.get_input_details()["images"]

    def output_shape(self, name):
        """The shape of the signature's output `name` for a batch of one (a tuple)."""
        return tuple(int(n) for n in self._runner.get_output_details()[name]["shape"])

    def __call__(self, images):
        """Runs a batch image by image; returns a dict of stacked outputs.

        Args:
            images: (N, H, W, C) pixels 0..255 (any numeric dtype).
        """
        results = [self._run_one(image) for image in np.asarray(images)]
        return {name: np.concatenate([r[name] for r in results]) for name in results[0]}

    def _run_one(self, image):
        dtype = self._input["dtype"]
        tensor = image[None].astype(np.float32)
        if dtype != np.float32:  # int8 input: quantise with the model's own parameters
            tensor = quantize(tensor, *self._input["quantization"], dtype)
        return {name: np.asarray(value) for name, value in self._runner(images=tensor).items()}
