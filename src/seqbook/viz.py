"""Pictures the chapters share (training curves, heatmaps, confusion matrices), and `glue`, which
hands numbers a cell measured to the chapter's prose."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from seqbook.validate import check_labels, check_strs

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "figure.titlesize": 12,
}


def use_book_style() -> None:
    """Apply the book's figure style (one look for every chapter)."""
    plt.rcParams.update(STYLE)


def _as_array(matrix) -> np.ndarray:
    if isinstance(matrix, torch.Tensor):
        matrix = matrix.detach().float().cpu().numpy()
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {matrix.shape}")
    return matrix


def heatmap(
    matrix,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
    title: str = "",
    ax=None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    annotate: bool = False,
    fmt: str = "{:.2f}",
    colorbar: bool = True,
    xlabel: str = "",
    ylabel: str = "",
    x_rotation: float = 60,
):
    """Draw a 2-D matrix (rows = y, columns = x) with optional tick labels and cell values."""
    m = _as_array(matrix)
    for name, labels, n in (("x_labels", x_labels, m.shape[1]), ("y_labels", y_labels, m.shape[0])):
        if labels is not None and len(labels) != n:
            raise ValueError(
                f"{name} must have {n} entries for a matrix of shape {m.shape}, got {len(labels)}"
            )
    if ax is None:
        _, ax = plt.subplots(
            figsize=(max(3.0, 0.45 * m.shape[1] + 1.5), max(2.5, 0.4 * m.shape[0] + 1.0))
        )
    im = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.grid(False)
    if x_labels is not None:
        ax.set_xticks(
            range(m.shape[1]), x_labels, rotation=x_rotation, ha="right" if x_rotation else "center"
        )
    if y_labels is not None:
        ax.set_yticks(range(m.shape[0]), y_labels)
    if annotate:
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                r, g, b, _ = im.cmap(im.norm(m[i, j]))
                dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5  # luminance of the cell's colour
                ax.text(
                    j,
                    i,
                    fmt.format(m[i, j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if dark else "black",
                )
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


def plot_history(history, title: str = "", metrics: Sequence[str] = ("loss", "accuracy")):
    """Training curves: one panel per metric, train and validation per epoch."""
    if not history.epochs:
        raise ValueError("history must hold at least one epoch, got none")
    metrics = check_strs(metrics, "metrics", hint=' (metric names such as "loss")')
    if not metrics:
        raise ValueError("metrics must name at least one metric, got none")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.2), squeeze=False)
    epochs = [e["epoch"] for e in history.epochs]
    for ax, metric in zip(axes[0], metrics, strict=True):
        for split, style in (("train", "-o"), ("valid", "--s")):
            values = history.metric(f"{split}_{metric}")
            if values:
                ax.plot(epochs[: len(values)], values, style, label=split)
        if history.best_epoch:
            ax.axvline(history.best_epoch, color="grey", lw=0.8, ls=":", label="best epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_xticks(epochs)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix_plot(y_true, y_pred, class_names: Sequence[str], title: str = "", ax=None):
    """Counts of (true, predicted) pairs as an annotated heatmap."""
    class_names = check_strs(class_names, "class_names")
    if isinstance(y_true, torch.Tensor):
        y_true = y_true.cpu()
    if isinstance(y_pred, torch.Tensor):
        y_pred = y_pred.cpu()
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have one shape, got {y_true.shape} and {y_pred.shape}"
        )
    if y_true.size == 0:
        raise ValueError("y_true and y_pred must hold at least one example, got none")
    k = len(class_names)
    y_true = np.asarray(check_labels(y_true, num_classes=k, name="y_true"))
    y_pred = np.asarray(check_labels(y_pred, num_classes=k, name="y_pred"))
    counts = np.zeros((k, k), dtype=int)
    np.add.at(counts, (y_true, y_pred), 1)
    return heatmap(
        counts,
        class_names,
        class_names,
        title,
        ax=ax,
        cmap="Blues",
        annotate=True,
        fmt="{:.0f}",
        xlabel="predicted",
        ylabel="true",
        x_rotation=0,
    )


def glue(name: str, value: object, fmt: str = "") -> None:
    """Store `value`, formatted with `fmt`, under `name` for the prose: a Markdown cell writes
    ``{glue:text}`name` `` and the built book shows the number this run measured. Nothing is
    displayed. Outside a Jupyter Book build (myst-nb not installed, e.g. on Colab) nothing is
    stored either."""
    if not isinstance(name, str) or not name.replace("_", "").isalnum() or not name.islower():
        raise ValueError(f"name must be a lowercase identifier like 'ch5_test_acc', got {name!r}")
    text = format(value, fmt)
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    myst_glue(name, text, display=False)


def glue_runtime() -> str:
    """Glue the notebook's runtime so far (from its first seqbook import) as "runtime", with the
    threads and device it ran on and, where it used the cache, how many results it loaded and
    how many it computed (a warm cache makes a chapter quicker than a cold one); the last cell
    of every chapter calls it. Returns the text."""
    from seqbook.cache import usage
    from seqbook.runtime import elapsed_seconds, get_device

    device = get_device()
    n = torch.get_num_threads()
    where = f"{n} CPU thread{'s' if n != 1 else ''}" if device.type == "cpu" else device.type
    text = f"{elapsed_seconds():.0f} s on {where}"
    used = usage()
    if used["loaded"] or used["computed"]:
        computed = f"{used['computed']} cached result{'s' if used['computed'] != 1 else ''}"
        text += f" ({computed} computed, {used['loaded']} loaded)"
    glue("runtime", text)
    return text
