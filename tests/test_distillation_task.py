"""The embedding teacher as a task of its own: every strategy weighs it beside face
and expression, trains, reloads and resumes with it; `dynamic`'s L3 still trains
only the weight unit; the task's loss is the distillation loss and the face loss
no longer holds it."""

import numpy as np
import pytest
import tensorflow as tf

from keras_dmtl import weighting
from keras_dmtl.losses import embedding_target_loss
from keras_dmtl.losses.distillation import TEACHER_EMBEDDING
from keras_dmtl.training import config as config_lib
from keras_dmtl.training import run
from tests.core_helpers import check_save_reload_resume
from tests.core_helpers import losses_on_tape
from tests.core_helpers import make_batch
from tests.core_helpers import make_model

EMBEDDING_DIM = 8


def distillation(kind="cosine", embedding_task=True, weight=0.7):
    return {"temperature": 2.0, "mix": 1.0, "embedding_weight": weight, "embedding_loss": kind,
            "embedding_task": embedding_task}


def strategy_for_three_tasks(name):
    """Strategy `name` built for three tasks (static needs a weight for each)."""
    kwargs = {"weights": (0.5, 0.5, 0.5)} if name == "static" else {}
    return weighting.get(name, num_tasks=3, **kwargs)


@pytest.mark.parametrize("name", weighting.available())
def test_every_strategy_trains_reloads_and_resumes_with_the_teacher_task(name, tmp_path):
    model = make_model(strategy_for_three_tasks(name), distillation=distillation())
    assert model.task_names == ("face", "expression", "distillation")
    images, labels = make_batch(teacher_dim=EMBEDDING_DIM)
    logs = model.train_on_batch(images, labels, return_dict=True)
    weights = [logs[f"w_{task}"] for task in model.task_names]
    assert np.all(np.isfinite(weights)) and min(weights) >= 0
    assert np.isfinite(logs["distillation_loss"]) and logs["distillation_loss"] > 0
    assert model(images)["task_weights"].shape == (len(images), 3)
    check_save_reload_resume(strategy_for_three_tasks(name), tmp_path,
                             distillation=distillation("pairwise"))


@pytest.mark.parametrize("kind", ["cosine", "pairwise"])
def test_the_task_loss_is_the_weighted_target_loss_and_leaves_the_face_loss(kind):
    images, labels = make_batch(teacher_dim=EMBEDDING_DIM)
    # One seed, one start: the weight unit (the one layer whose shape differs) starts at 0.
    own_task = make_model(strategy_for_three_tasks("gradnorm"), distillation=distillation(kind),
                          seed=3)
    in_face = make_model("gradnorm", distillation=distillation(kind, embedding_task=False),
                         seed=3)
    no_teacher = make_model("gradnorm", seed=3)
    outputs = own_task(images, training=False)
    np.testing.assert_array_equal(outputs["embedding"], no_teacher(images)["embedding"])
    losses, _ = own_task.compute_task_losses(outputs, labels)
    expected = 0.7 * embedding_target_loss(kind, labels["identity"], outputs["embedding"],
                                           labels[TEACHER_EMBEDDING], 1.0)
    assert float(expected) > 0
    np.testing.assert_allclose(losses[2], expected, rtol=1e-5)
    without_target = {key: value for key, value in labels.items() if key != TEACHER_EMBEDDING}
    plain, _ = no_teacher.compute_task_losses(no_teacher(images, training=False), without_target)
    np.testing.assert_allclose(losses[:2], plain, rtol=1e-5)
    # The same teacher inside the face loss adds exactly that term to it.
    folded, _ = in_face.compute_task_losses(in_face(images, training=False), labels)
    np.testing.assert_allclose(folded, [plain[0] + expected, plain[1]], rtol=1e-5)


def test_dynamic_l3_trains_only_the_weight_unit_with_the_teacher_task():
    model = make_model("dynamic", distillation=distillation())
    images, labels = make_batch(teacher_dim=EMBEDDING_DIM)
    tape, _, _, combined = losses_on_tape(model, images, labels)
    unit_variables = model.weight_unit_variables()
    unit_gradients = tape.gradient(combined.unit_loss, unit_variables)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in unit_gradients)
    main_gradients = tape.gradient(combined.unit_loss, model.main_variables())
    assert all(g is None or float(tf.reduce_max(tf.abs(g))) == 0 for g in main_gradients)
    total_on_unit = tape.gradient(combined.total, unit_variables)
    assert all(g is None or float(tf.reduce_max(tf.abs(g))) == 0 for g in total_on_unit)
    assert combined.weights.shape == (3,)


def test_batches_without_teacher_embeddings_are_refused_by_name():
    model = make_model("dynamic", distillation=distillation())
    images, labels = make_batch()
    with pytest.raises(ValueError, match="teacher.embeddings"):
        model.train_on_batch(images, labels)


def test_the_config_decides_the_tasks():
    config = config_lib.make_config(**{"teacher.embeddings": "dlib_resnet"})
    assert run.task_names(config) == ("face", "expression", "distillation")
    assert run.task_names(config, action_units={"names": ["AU12"]}) == (
        "face", "expression", "action_units", "distillation")
    folded = config_lib.make_config(**{"teacher.embeddings": "dlib_resnet",
                                       "teacher.embedding_task": False})
    assert run.task_names(folded) == ("face", "expression")
    assert run.task_names(config_lib.make_config()) == ("face", "expression")
