"""Backbones, heads, the dynamic-weight-unit and the multi-task model."""
