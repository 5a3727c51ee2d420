"""Runs an exported .tflite face model with the LiteRT interpreter (TF-free)."""

import numpy as np
from ai_edge_litert.interpreter import Interpreter


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
            scale, zero_point = self._input["quantization"]
            tensor = np.clip(np.round(tensor / scale + zero_point),
                             np.iinfo(dtype).min, np.iinfo(dtype).max).astype(dtype)
        return {name: np.asarray(value) for name, value in self._runner(images=tensor).items()}
