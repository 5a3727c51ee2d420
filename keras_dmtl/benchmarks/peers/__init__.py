"""The face libraries users pick instead, measured on the same faces as our models.

A peer is anything that takes a photo and gives a face embedding and/or expression
probabilities: our exported models, `face_recognition` (dlib), `fer`
(mini-Xception). Each is one module registered by name (`registry`); the
comparison (`compare`) runs them all on one face set and scores them on the same
pairs and the same labelled faces; `python -m keras_dmtl.benchmarks.peers` prints
the table. The peers' libraries are optional (requirements-peers.txt).
"""
