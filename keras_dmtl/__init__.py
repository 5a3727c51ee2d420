"""keras_dmtl: Dynamic Multi-Task Learning for face recognition with facial expression.

The package root imports nothing heavy on purpose: `keras_dmtl.edge` and the
TF-free alignment code must import where TensorFlow is not installed.
"""

__version__ = "0.1.0"
