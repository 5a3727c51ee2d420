"""Experiments: the comparison of weighting schemes (`python -m keras_dmtl.experiments.compare`)."""
