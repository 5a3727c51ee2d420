"""ONNX export through tf2onnx, checked with onnxruntime."""

import numpy as np
import tensorflow as tf

ONNX_OPSET = 17


def export_onnx(inference_model, path):
    """Converts the inference model (functional, as tf2onnx needs) to ONNX.

    Args:
        inference_model: from `build_inference_model`.
        path: the .onnx file to write.

    Returns:
        The output names in the ONNX graph, in `inference_model.output_names` order.
    """
    import tf2onnx

    shape = (None,) + tuple(inference_model.input_shape[1:])
    signature = (tf.TensorSpec(shape, tf.float32, name="images"),)

    @tf.function(input_signature=signature)
    def serve(images):
        return inference_model(images, training=False)

    onnx_model, _ = tf2onnx.convert.from_function(serve, input_signature=signature,
                                                  opset=ONNX_OPSET, output_path=path)
    return [output.name for output in onnx_model.graph.output]


def run_onnx(path, images):
    """Runs the ONNX model with onnxruntime on (N, H, W, C) images; returns a dict."""
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    values = session.run(names, {session.get_inputs()[0].name: np.asarray(images, np.float32)})
    return dict(zip(names, values))
