"""Embedding teachers: face-recognition models trained elsewhere, on more people.

A teacher embeds every training face once (`cache.teacher_embeddings`); the
student's embedding learns to match it (`keras_dmtl.losses.distillation`). Each
teacher is one module of this package registered under a name (`registry`), so
adding one is adding one file. TF-free: a teacher runs on numpy, OpenCV and its
own library.
"""
