"""Evaluation metrics: face verification and expression recognition (numpy only)."""
