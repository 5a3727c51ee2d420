"""Datasets, face detection and alignment, generated faces, and the tf.data pipeline.

Submodules are imported explicitly (`from keras_dmtl.data import readers`) so that
the TF-free parts (readers, alignment, synthetic faces) never pull in TensorFlow.
"""
