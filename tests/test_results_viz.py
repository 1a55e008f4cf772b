import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest

from seqbook import results, viz
from seqbook.train import History


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQBOOK_CACHE", str(tmp_path))
    monkeypatch.setenv("SEQBOOK_PROFILE", "fast")
    return tmp_path


def test_record_result_replaces_the_same_key_and_keeps_profiles_apart(tmp_cache, monkeypatch):
    results.record_result("ch1", "tfidf", {"test_accuracy": 0.8})
    results.record_result("ch1", "tfidf", {"test_accuracy": 0.9})
    monkeypatch.setenv("SEQBOOK_PROFILE", "full")
    results.record_result("ch1", "tfidf", {"test_accuracy": 0.7})
    monkeypatch.setenv("SEQBOOK_PROFILE", "fast")
    table = results.load_results()
    assert table["test_accuracy"].tolist() == [0.9]
    assert len(results.load_results(all_profiles=True)) == 2


def test_record_result_rejects_non_numbers(tmp_cache):
    with pytest.raises(TypeError, match="metrics must be numbers"):
        results.record_result("ch1", "x", {"acc": "high"})


def test_heatmap_checks_label_counts():
    with pytest.raises(ValueError, match="x_labels must have 3 entries"):
        viz.heatmap(np.zeros((2, 3)), x_labels=["a", "b"])
    ax = viz.heatmap(np.eye(2), ["a", "b"], ["c", "d"], title="t", annotate=True)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]


def test_plot_history_draws_train_and_valid_curves():
    h = History(
        epochs=[
            {
                "epoch": 1,
                "train_loss": 1.0,
                "valid_loss": 1.1,
                "train_accuracy": 0.5,
                "valid_accuracy": 0.4,
            },
            {
                "epoch": 2,
                "train_loss": 0.5,
                "valid_loss": 0.9,
                "train_accuracy": 0.8,
                "valid_accuracy": 0.6,
            },
        ],
        best_epoch=2,
    )
    fig = viz.plot_history(h, "curves")
    assert [line.get_ydata().tolist() for line in fig.axes[0].lines[:2]] == [[1.0, 0.5], [1.1, 0.9]]


def test_confusion_matrix_counts():
    ax = viz.confusion_matrix_plot([0, 0, 1, 1, 1], [0, 1, 1, 1, 0], ["neg", "pos"])
    assert ax.images[0].get_array().tolist() == [[1, 1], [1, 2]]
