"""Faces out of photos: detection, alignment, and the cached crops a run trains on.

`detection` puts MTCNN, Haar and YuNet behind one interface; `alignment` warps a
face onto the 5-point template or crops its box with a margin, and prepares the
crop as the model expects it; `loading` decodes each record's image, detects,
aligns and caches the crops, turning `FaceRecords` into `FaceArrays`. TF-free
(MTCNN imports TensorFlow lazily, when chosen): `keras_dmtl.edge` runs
`alignment` on devices without TensorFlow, so training and the phone crop alike.
"""
