"""PNG plots of training series (task weights, loss curves), written atomically."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from keras_dmtl.io_utils import atomic_path  # noqa: E402


def save_figure(figure, path):
    """Saves `figure` as PNG atomically and closes it."""
    try:
        figure.tight_layout()
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=100, format="png")
    finally:
        plt.close(figure)


def plot_series(path, series, title, xlabel, ylabel, horizontal_lines=None):
    """Plots named series against their index.

    Args:
        path: the PNG to write.
        series: dict name -> sequence of floats.
        title, xlabel, ylabel: labels of the plot.
        horizontal_lines: optional dict name -> value drawn as dashed lines.
    """
    figure, axis = plt.subplots(figsize=(7, 4))
    for name, values in series.items():
        axis.plot(range(1, len(values) + 1), values, label=name)
    for name, value in (horizontal_lines or {}).items():
        axis.axhline(value, linestyle="--", label=name)
    axis.set_title(title)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    if series or horizontal_lines:
        axis.legend()
    axis.grid(alpha=0.3)
    save_figure(figure, path)
