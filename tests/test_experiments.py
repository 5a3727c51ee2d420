"""The comparison runner on a tiny generated set: outputs, Delta_m, resume, and
the label-use rows (soft labels from each fold's masks model, AU matching)."""

import csv
import dataclasses
import math

import numpy as np
import pytest

from keras_dmtl.data.records import DataError
from keras_dmtl.data.splits import subject_kfold
from keras_dmtl.experiments import compare
from keras_dmtl.experiments import label_use
from keras_dmtl.experiments import methods
from keras_dmtl.experiments import report
from keras_dmtl.experiments.compare import run_experiment
from keras_dmtl.training import teacher
from keras_dmtl.training.action_units import action_unit_settings
from keras_dmtl.training.action_units import with_action_unit_columns
from keras_dmtl.training.config import make_config
from keras_dmtl.training.run import load_arrays


def experiment_config(tmp_path, methods_to_run, **overrides):
    """A tiny comparison on generated faces (shared with test_registries.py)."""
    settings = {"cache_dir": str(tmp_path / "cache"), "image_size": 32, "batch_size": 16,
                "epochs": 2, "embedding_dim": 16, "generated_identities": 6,
                "generated_sequences": 1, "jit_compile": False, "verbose": 0,
                "experiment.out_dir": str(tmp_path / "exp"),
                "experiment.methods": tuple(methods_to_run), "experiment.folds": 3,
                "experiment.max_folds": 2}
    settings.update(overrides)
    return make_config(**settings)


def test_runner_writes_results_and_skips_finished_cells(tmp_path):
    config = experiment_config(tmp_path, ("static_w1=0.0", "static_w1=1.0", "dynamic"))
    rows, computed = run_experiment(config)
    assert computed == 3 * 2
    out = tmp_path / "exp"
    for name in ("results.csv", "results.md", "static_sweep.png", "weights_dynamic.png"):
        assert (out / name).exists(), name
    with open(out / "results.csv") as stream:
        assert len(list(csv.DictReader(stream))) == 6
    table = (out / "results.md").read_text()
    assert "single-task face" in table and "Delta_m" in table
    assert {r["method"] for r in rows} == set(config.experiment.methods)

    _, computed_again = run_experiment(config)
    assert computed_again == 0


def test_delta_m_against_single_task_models():
    cells = [
        {"method": methods.SINGLE_EXPRESSION, "expression_accuracy": 0.5,
         "verification_accuracy": 0.6},
        {"method": methods.SINGLE_FACE, "expression_accuracy": 0.2,
         "verification_accuracy": 0.8},
        {"method": "dynamic", "expression_accuracy": 0.6, "verification_accuracy": 0.9},
    ]
    for cell in cells:
        cell.update(expression_macro_f1=0.0, verification_auc=0.0, final_w_face=0.5)
    rows = {r["method"]: r for r in report.summarise(cells, [c["method"] for c in cells])}
    # (0.6 - 0.5) / 0.5 = +20 %, (0.9 - 0.8) / 0.8 = +12.5 %: mean +16.25 %.
    assert rows["dynamic"]["delta_m"] == pytest.approx(16.25)
    assert rows[methods.SINGLE_EXPRESSION]["delta_m"] == pytest.approx((0 + (0.6 - 0.8) / 0.8) * 50)


def test_unknown_method_names_the_setting():
    with pytest.raises(ValueError, match="--config.experiment.methods"):
        methods.select(["bogus"])
    sweep = [m for m in methods.all_methods() if m.strategy == "static"]
    assert len(sweep) == 11
    assert not math.isnan(sweep[3].kwargs["weights"][0])
    assert {methods.SINGLE_FACE, methods.SINGLE_EXPRESSION} <= {m.label for m in sweep}


def test_paired_difference_pairs_cells_by_fold_and_seed():
    # Fold effects (0.9 vs 0.5) dwarf the method effect (+0.02 every time): pairing
    # shows it, an unpaired comparison of the means' spreads would not.
    cells = []
    for fold, base in enumerate((0.9, 0.5, 0.7, 0.6)):
        cells.append({"method": "dynamic", "fold": fold, "seed": 0,
                      "expression_accuracy": base + 0.02 + 0.001 * fold})
        cells.append({"method": "static_w1=0.5", "fold": fold, "seed": 0,
                      "expression_accuracy": base})
    result = report.paired_difference(cells, "dynamic", "static_w1=0.5", "expression_accuracy")
    assert result["pairs"] == 4 and result["wins"] == 4
    assert result["mean"] == pytest.approx(0.0215)
    assert 0 < result["low"] < result["mean"] < result["high"]
    table = report.claim_table(cells)
    assert "dynamic > static_w1=0.5" in table
    # Comparisons whose methods were not run are left out.
    assert "verification_auc" not in table
    assert report.paired_difference(cells[:2], "dynamic", "static_w1=0.5",
                                    "expression_accuracy") is None


def test_each_source_of_a_mixed_test_split_is_compared_on_its_own():
    cells = []
    for fold in range(3):
        for method, lfw_auc in (("dynamic", 0.70 + 0.01 * fold), ("static_w1=0.5", 0.80)):
            cells.append({"method": method, "fold": fold, "seed": 0, "final_w_face": 0.5,
                          "verification_auc": 0.99,  # pooled: every method alike
                          "sources": {"lfw": {"verification_auc": lfw_auc},
                                      "fer": {"expression_accuracy": 0.5}}})
    lfw = report.source_cells(cells, "lfw")
    assert [c["verification_auc"] for c in lfw[:2]] == [0.70, 0.80]
    assert math.isnan(lfw[0]["expression_accuracy"])
    assert lfw[0]["final_w_face"] == 0.5
    assert "dynamic < static_w1=0.5" in report.claim_table(lfw)
    assert "verification_auc" not in report.claim_table(report.source_cells(cells, "fer"))


def test_the_runners_report_has_a_section_per_source(tmp_path):
    cells = []
    for fold in range(2):
        for method in ("dynamic", "static_w1=0.5"):
            cells.append({"method": method, "fold": fold, "seed": 0, "final_w_face": 0.5,
                          "w_face_history": [0.5], "verification_auc": 0.9,
                          "sources": {"lfw": {"verification_auc": 0.8 + 0.01 * fold},
                                      "fer": {"expression_accuracy": 0.5}}})
    compare._write_reports(str(tmp_path), cells, methods.select(["dynamic", "static_w1=0.5"]),
                           label_use.select(("masks",)))
    text = (tmp_path / "results.md").read_text()
    assert "### fer" in text and "### lfw" in text


# ------------------------------------------------------------------ label uses


def _without_action_units(arrays):
    return dataclasses.replace(arrays, action_units=None, action_unit_names=[])


def _relatedness_csv(tmp_path, expression_names):
    """A table over every generated expression (the prior has no contempt row)."""
    path = tmp_path / "relatedness.csv"
    rows = [f"{name},{0.9 if name == 'surprise' else 0.1},{0.8 if name == 'happy' else 0.1},"
            f"{0.9 if name == 'happy' else 0.0}" for name in expression_names]
    path.write_text("expression,AU1,AU6,AU12\n" + "\n".join(rows) + "\n")
    return str(path)


def test_label_use_rows_soft_labels_from_the_folds_masks_model_and_matching(
        tmp_path, monkeypatch, caplog):
    plain = experiment_config(tmp_path, ("dynamic",))
    arrays = _without_action_units(load_arrays(plain))
    # The runner reads data without any AU label: matching must train anyway.
    monkeypatch.setattr(compare, "load_arrays", lambda config: arrays)
    settings = {"epochs": 1, "experiment.max_folds": 1,
                "action_units.relatedness": _relatedness_csv(tmp_path, arrays.expression_names)}
    config = experiment_config(tmp_path, ("dynamic",), **settings,
                               **{"experiment.label_uses": ("masks", "soft_labels")})
    rows, computed = run_experiment(config)
    assert computed == 2
    assert [r["method"] for r in rows] == ["dynamic", "dynamic+soft_labels"]
    cell_dir = tmp_path / "exp" / "cells"
    model = cell_dir / "dynamic_fold0_seed0.keras"
    soft = compare.read_json(cell_dir / "dynamic+soft_labels_fold0_seed0.json")
    assert soft["teacher"] == model.name and soft["label_use"] == "soft_labels"
    # The soft labels were computed (and cached) from this fold's masks model over
    # this fold's training split, which holds none of its test subjects.
    _, fold_test = subject_kfold(arrays.subject, 3, seed=0, groups=arrays.source)[0]
    train, _, test = compare.fold_splits(arrays, fold_test, 0, 0.15)
    assert not set(arrays.subject[train]) & set(arrays.subject[test])
    key = teacher._digest(str(model), arrays.images[train].tobytes(), arrays.expression_names,
                          True)
    assert (tmp_path / "cache" / f"teacher_{key}.npz").exists()
    assert "no labels.json" not in caplog.text  # the cells' labels.json names the classes

    # A second call reuses the teacher (not trained again) for the new row.
    written = model.stat().st_mtime_ns
    both = experiment_config(tmp_path, ("dynamic",), **settings, **{
        "experiment.label_uses": ("masks", "soft_labels", "soft_labels+matching")})
    rows, computed = run_experiment(both)
    assert computed == 1 and model.stat().st_mtime_ns == written
    matching = compare.read_json(cell_dir / "dynamic+soft_labels+matching_fold0_seed0.json")
    assert matching["teacher"] == model.name
    # No AU label anywhere: the AU loss is the distribution matching alone (the AU
    # head learns the AUs the expression head implies), and there is no AU F1.
    assert np.isfinite(matching["final_action_unit_loss"])
    assert matching["final_action_unit_loss"] > 0
    assert math.isnan(matching["action_unit_mean_f1"])
    table = (tmp_path / "exp" / "results.md").read_text()
    assert "| dynamic+soft_labels+matching |" in table and "AU mean F1" in table
    assert run_experiment(both)[1] == 0


def test_the_au_task_on_data_without_au_labels_needs_a_table_not_estimated(tmp_path):
    arrays = _without_action_units(load_arrays(experiment_config(tmp_path, ())).subset(
        np.arange(40)))
    table = _relatedness_csv(tmp_path, arrays.expression_names)
    settings = action_unit_settings(make_config(**{"action_units.enabled": True,
                                                   "action_units.relatedness": table}), arrays)
    assert settings["names"] == ["AU1", "AU6", "AU12"]
    laid_out = with_action_unit_columns(arrays, settings["names"])
    assert laid_out.action_units.shape == (40, 3) and (laid_out.action_units == -1).all()
    with pytest.raises(DataError, match="no action-unit labels.*relatedness to prior"):
        action_unit_settings(make_config(**{"action_units.enabled": True}), arrays)


def test_label_uses_are_checked_and_static_weights_gain_the_au_weight():
    with pytest.raises(ValueError, match="--config.experiment.label_uses: unknown label use "
                                         "'bogus'; choose from masks, soft_labels"):
        run_experiment(make_config(**{"experiment.label_uses": ("masks", "bogus")}))
    with pytest.raises(ValueError, match="--config.experiment.label_uses"):
        label_use.select(())
    assert [u.name for u in label_use.select(["matching", "masks"])] == ["masks", "matching"]
    assert label_use.get("masks").row_label("dynamic") == "dynamic"
    assert label_use.get("soft_labels+matching").row_label("famo") == "famo+soft_labels+matching"
    sweep = {m.label: m for m in methods.all_methods()}
    with_units = ("face", "expression", "action_units")
    three = methods.make_weighting(sweep["static_w1=0.3"], with_units, 0.2)
    assert three.weights_value == [0.3, 0.7, 0.2] and three.num_tasks == 3
    assert methods.make_weighting(sweep["gradnorm"], with_units).num_tasks == 3
    # The teacher's task learns as much as the face task: w1 = 0 has no embedding.
    every_task = with_units + ("distillation",)
    four = methods.make_weighting(sweep["static_w1=0.3"], every_task, 0.2)
    assert four.weights_value == [0.3, 0.7, 0.2, 0.3]
    assert methods.make_weighting(sweep["static_w1=0.0"], every_task[:2] + every_task[3:],
                                  ).weights_value == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="teacher.model=.*add soft_labels"):
        run_experiment(make_config(**{"teacher.model": "runs/teacher"}))
