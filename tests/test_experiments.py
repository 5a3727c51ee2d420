"""The comparison runner on a tiny generated set: outputs, Delta_m, resume."""

import csv
import math

import pytest

from keras_dmtl.experiments import methods
from keras_dmtl.experiments import report
from keras_dmtl.experiments.compare import run_experiment
from keras_dmtl.training.config import make_config


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
