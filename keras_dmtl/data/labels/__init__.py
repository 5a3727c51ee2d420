"""Labels beyond identity and expression: facial action units and their tables.

`action_units` holds the FACS vocabulary, multi-hot AU rows, and the
relatedness P(AU | expression) that couples the AU task to the expression task,
from prior knowledge (`tables/`) or estimated from co-labelled samples. TF-free.
"""
