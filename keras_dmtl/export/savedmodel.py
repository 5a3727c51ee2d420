"""SavedModel with named signatures, laid out for TF Serving (NAME/VERSION/)."""

import os

import keras
import tensorflow as tf


def export_saved_model(inference_model, directory, threshold):
    """Writes the SavedModel with two signatures.

    - `serving_default`: images (B, H, W, C) float32 0..255 -> embedding,
      expression_probabilities, expression_label, task_weights (and
      action_unit_probabilities for a model with an action-unit head).
    - `verify`: images_a, images_b (B, H, W, C) -> similarity (cosine of the
      embeddings) and same_person (similarity >= the calibrated threshold).

    Args:
        inference_model: from `build_inference_model`.
        directory: the version folder to write, e.g. `serving/dmtl/1`.
        threshold: the verification threshold baked into `verify`.

    Returns:
        `directory`.
    """
    shape = (None,) + tuple(inference_model.input_shape[1:])
    archive = keras.export.ExportArchive()
    archive.track(inference_model)
    spec = tf.TensorSpec(shape, tf.float32, name="images")

    def serve(images):
        return inference_model(images, training=False)

    def verify(images_a, images_b):
        first = inference_model(images_a, training=False)["embedding"]
        second = inference_model(images_b, training=False)["embedding"]
        similarity = tf.reduce_sum(first * second, axis=-1)
        return {"similarity": similarity,
                "same_person": tf.greater_equal(similarity, threshold)}

    archive.add_endpoint("serving_default", serve, input_signature=[spec])
    archive.add_endpoint("verify", verify, input_signature=[
        tf.TensorSpec(shape, tf.float32, name="images_a"),
        tf.TensorSpec(shape, tf.float32, name="images_b")])
    os.makedirs(os.path.dirname(os.path.abspath(directory)), exist_ok=True)
    archive.write_out(directory, verbose=False)
    return directory
