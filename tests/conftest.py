"""Test-wide settings: quiet TensorFlow, two logical CPUs for distribution tests."""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# XLA's LLVM backend unoptimised: the tests' XLA steps (every strategy, the trunks)
# compile ~30 % faster, and each runs only a few steps. What makes XLA's numbers
# differ from eager (its HLO passes: fusions, their summation order) comes before
# the backend and is unchanged.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
# Hypothesis caches into ./.hypothesis by default: a test run must leave the checkout clean.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY",
                      os.path.join(tempfile.gettempdir(), "keras_dmtl_hypothesis"))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """A tiny trained model exported to tflite_int8 (~1 min), shared by the unlock tests.

    Returns:
        (export folder, the generated faces' `FaceRecords`, the fixture's root folder).
    """
    from keras_dmtl.data.readers import read_ckplus48  # noqa: PLC0415 (TF only when used)
    from keras_dmtl.export.artifacts import export_run  # noqa: PLC0415
    from keras_dmtl.training.config import make_config  # noqa: PLC0415
    from keras_dmtl.training.run import train  # noqa: PLC0415

    root = tmp_path_factory.mktemp("edge")
    config = make_config(out_dir=str(root / "run"), cache_dir=str(root / "cache"), image_size=32,
                         batch_size=16, epochs=8, embedding_dim=32, generated_identities=8,
                         generated_sequences=1, val_fraction=0.25, test_fraction=0.25,
                         jit_compile=False, verbose=0,
                         # The runtime's tests were sized on this strategy's 8-epoch
                         # model (owner ~0.9, others < 0.5 at threshold 0.7).
                         **{"weighting.name": "dynamic"})
    train(config)
    export_run(config.out_dir, str(root / "export"), formats=("tflite_int8",),
               representative_samples=50)
    faces = [os.path.join(root / "cache", d) for d in os.listdir(root / "cache")
             if d.startswith("generated_faces")][0]
    return str(root / "export"), read_ckplus48(faces), root
