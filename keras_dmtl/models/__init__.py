"""Backbones, heads, the dynamic-weight-unit and the multi-task model.

Importing this package registers every custom layer and strategy with Keras, so
`keras.saving.load_model` can read a saved model.
"""

from keras_dmtl.models.multitask import DynamicMultiTaskModel

__all__ = ["DynamicMultiTaskModel"]
