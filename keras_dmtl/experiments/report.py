"""Summaries of the comparison: results.csv, a Markdown table with Delta_m, and PNGs."""

import csv
import math

import numpy as np
from scipy import stats

from keras_dmtl.evaluation.plots import plot_series
from keras_dmtl.experiments.methods import SINGLE_EXPRESSION
from keras_dmtl.experiments.methods import SINGLE_FACE
from keras_dmtl.io_utils import atomic_path

# (column in results.csv, heading in the table)
METRICS = (
    ("expression_accuracy", "expression acc"),
    ("expression_macro_f1", "expression macro-F1"),
    ("verification_accuracy", "verification acc"),
    ("verification_auc", "verification AUC"),
    ("action_unit_mean_f1", "AU mean F1"),
    ("final_w_face", "w_face at end"),
)
CSV_COLUMNS = ("method", "fold", "seed", "best_epoch", "seconds") + tuple(m for m, _ in METRICS)


def write_results_csv(path, cells):
    """One row per (method, fold, seed) cell."""
    with atomic_path(path) as temporary, open(temporary, "w", newline="") as stream:
        writer = csv.DictWriter(stream, CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for cell in cells:
            writer.writerow(cell)


def summarise(cells, method_order):
    """Mean and std of every metric per method, and Delta_m.

    Delta_m is the mean relative gain, in percent, over the single-task models
    across both tasks: expression accuracy against `static_w1=0.0` and
    verification accuracy against `static_w1=1.0`.

    Returns:
        list of dicts, one per method present, in `method_order`.
    """
    rows = []
    for label in method_order:
        mine = [c for c in cells if c["method"] == label]
        if not mine:
            continue
        row = {"method": label, "cells": len(mine)}
        for metric, _ in METRICS:
            # NaN where a cell has no such score (AU F1 of a two-task row, or a
            # cell written before the metric existed).
            values = np.array([c.get(metric, math.nan) for c in mine], np.float64)
            values = values[np.isfinite(values)]
            row[metric] = ((float(values.mean()), float(values.std())) if len(values) else
                           (math.nan, math.nan))
        rows.append(row)
    baseline = {r["method"]: r for r in rows}
    for row in rows:
        gains = []
        for metric, single in (("expression_accuracy", SINGLE_EXPRESSION),
                               ("verification_accuracy", SINGLE_FACE)):
            if single in baseline and baseline[single][metric][0] > 0:
                reference = baseline[single][metric][0]
                gains.append((row[metric][0] - reference) / reference)
        row["delta_m"] = 100.0 * float(np.mean(gains)) if len(gains) == 2 else math.nan
    return rows


# The paper's claim, "dynamic >= static >= single task", as paired comparisons:
# (method, against, metric). Each task is judged on its own metric.
CLAIM_COMPARISONS = (
    ("dynamic", "static_w1=0.5", "expression_accuracy"),
    ("static_w1=0.5", SINGLE_EXPRESSION, "expression_accuracy"),
    ("dynamic", "static_w1=0.5", "verification_auc"),
    ("static_w1=0.5", SINGLE_FACE, "verification_auc"),
    ("dynamic", "static_w1=0.5", "verification_accuracy"),
    ("static_w1=0.5", SINGLE_FACE, "verification_accuracy"),
)


def paired_difference(cells, method, against, metric, confidence=0.95):
    """`method` minus `against` on `metric`, paired by (fold, seed).

    Pairing removes what a fold's people and a seed do to both methods alike,
    which is most of the spread between cells.

    Args:
        cells: the comparison's cells (dicts with method, fold, seed, metrics).
        method, against: method labels.
        metric: a column of `METRICS`.
        confidence: coverage of the Student t interval of the mean difference.

    Returns:
        dict: mean, low, high, pairs and wins (pairs where `method` is higher),
        or None with fewer than two pairs.
    """
    values = {(c["method"], c["fold"], c["seed"]): c.get(metric, math.nan) for c in cells}
    keys = sorted((f, s) for (m, f, s) in values if m == method and (against, f, s) in values)
    differences = np.array([values[(method,) + k] - values[(against,) + k] for k in keys],
                           np.float64)
    differences = differences[np.isfinite(differences)]
    if len(differences) < 2:
        return None
    mean = float(differences.mean())
    if np.ptp(differences) == 0:
        low = high = mean
    else:
        low, high = stats.t.interval(confidence, len(differences) - 1, loc=mean,
                                     scale=stats.sem(differences))
    return {"mean": mean, "low": float(low), "high": float(high),
            "pairs": int(len(differences)), "wins": int((differences > 0).sum())}


def claim_table(cells, comparisons=CLAIM_COMPARISONS):
    """The paired comparisons as a Markdown table with a verdict per row.

    ">=" holds when the interval lies above zero, "<" when below, "~" (no
    difference shown) when it spans zero. Comparisons whose methods were not
    run are left out.
    """
    lines = ["| comparison | metric | mean difference (95 % CI) | wins | verdict |",
             "|---|---|---|---|---|"]
    for method, against, metric in comparisons:
        result = paired_difference(cells, method, against, metric)
        if result is None:
            continue
        verdict = (">" if result["low"] > 0 else "<" if result["high"] < 0 else "~")
        lines.append(f"| {method} vs {against} | {metric} | {result['mean']:+.3f} "
                     f"({result['low']:+.3f} .. {result['high']:+.3f}) | "
                     f"{result['wins']}/{result['pairs']} | {method} {verdict} {against} |")
    return "\n".join(lines) + "\n"


def source_cells(cells, source):
    """The cells as scored on one source of a mixed test split.

    Pooled over sources, a verification score counts impostor pairs of two
    sources, which are easy (another camera, another age of photo); each source
    on its own is the harder test, and the one a user of that kind of photo meets.

    Args:
        cells: the comparison's cells, each with its per-source scores
            ("sources": {name: {metric: value}}).
        source: a source name.

    Returns:
        The cells with every scored metric replaced by `source`'s (NaN where the
        source has none, e.g. verification on an expression-only source).
    """
    scored = [metric for metric, _ in METRICS if metric != "final_w_face"]
    return [{**cell, **{metric: cell.get("sources", {}).get(source, {}).get(metric, math.nan)
                        for metric in scored}} for cell in cells]


def label_use_comparisons(pairs, metrics=("expression_accuracy", "verification_auc")):
    """Paired comparisons of label-use rows against their masks rows.

    Args:
        pairs: (row label, masks row label) of each label-use row, e.g.
            ("gradnorm+soft_labels", "gradnorm").
        metrics: the columns compared.

    Returns:
        (method, against, metric) tuples for `claim_table`.
    """
    return [(row, masks, metric) for row, masks in pairs for metric in metrics]


def markdown_table(rows):
    """The summary as a Markdown table (mean +/- std)."""
    headings = ["method"] + [h for _, h in METRICS] + ["Delta_m (%)", "cells"]
    lines = ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    for row in rows:
        label = row["method"]
        if label == SINGLE_FACE:
            label += " (single-task face)"
        elif label == SINGLE_EXPRESSION:
            label += " (single-task expression)"
        cells = [label] + [f"{row[m][0]:.3f} +/- {row[m][1]:.3f}" if math.isfinite(row[m][0])
                           else "n/a" for m, _ in METRICS]
        cells += [f"{row['delta_m']:+.1f}", str(row["cells"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_static_sweep(path, rows, dynamic_labels):
    """Test metrics against w1 for the static sweep, dynamic methods as dashed lines."""
    import matplotlib.pyplot as plt

    from keras_dmtl.evaluation.plots import save_figure

    static = sorted((float(r["method"].split("=")[1]), r) for r in rows
                    if r["method"].startswith("static_w1="))
    dynamic = [r for r in rows if r["method"] in dynamic_labels]
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for axis, (metric, heading) in zip(axes, (METRICS[0], METRICS[2])):
        if static:
            xs = [w for w, _ in static]
            means = np.array([r[metric][0] for _, r in static])
            stds = np.array([r[metric][1] for _, r in static])
            axis.errorbar(xs, means, yerr=stds, marker="o", color="black", label="static w1")
        for index, row in enumerate(dynamic):
            axis.axhline(row[metric][0], linestyle="--", color=f"C{index}", label=row["method"])
        axis.set_xlabel("static face weight w1 (w2 = 1 - w1)")
        axis.set_ylabel(heading + " (test)")
        axis.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="lower right")
    figure.suptitle("Static sweep (paper's Figure 2) vs dynamic weighting")
    save_figure(figure, path)


def plot_weight_histories(path, label, histories):
    """w_face over training steps for one method, one line per (fold, seed)."""
    plot_series(path, {name: values for name, values in histories.items()},
                title=f"{label}: face weight over training", xlabel="step", ylabel="w_face")
