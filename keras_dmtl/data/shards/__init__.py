"""TFRecord shards: a face dataset detected and aligned once, then streamed.

`python -m keras_dmtl.data.shards` (`__main__`) writes a set: `writer` deals the
examples into shards and runs `worker` processes that make and encode the crops;
`index` is the set's `index.json`, written last, that names every shard, label
and subject. `streaming` reads a set back as tf.data batches, with the splits,
sampling and augmentation of the in-memory pipeline, so a run too large for
memory sees the batches an in-memory run would. `streaming` is the TensorFlow
part (the writer's main process serialises examples with it); the workers and
the index are TF-free.
"""
