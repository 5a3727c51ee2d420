"""From a folder of photos to a training batch, one subpackage or module per stage.

    readers/    a dataset's layout -> `FaceRecords` (paths, labels, subjects)
    faces/      detect, align and cache the crops -> `FaceArrays`
    splits      subject-disjoint train / validation / test
    pipeline    `FaceArrays` -> augmented, balanced tf.data batches in memory
    shards/     for sets too large for memory: crops written once as TFRecord
                shards, then streamed into the same batches
    generated/  procedurally drawn faces, a dataset with no download
    labels/     action units and how they relate to expressions

`records` holds the types every stage passes on, `sources` parses a run's list
of datasets, and `verification_bin` reads insightface's verification pairs.
Submodules are imported explicitly (`from keras_dmtl.data.faces import
alignment`): this `__init__` imports nothing, and a subpackage's `__init__` only
its own TF-free modules (`readers`), so the TF-free stages (readers, faces,
generated, labels) never pull in TensorFlow.
"""
