"""From a trained model to serving and on-device artifacts: SavedModel, TFLite, ONNX."""
