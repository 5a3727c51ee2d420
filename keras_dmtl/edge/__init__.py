"""On-device inference with LiteRT: no TensorFlow import, as on a phone."""
