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


def test_record_results_replaces_a_chapters_rows_and_keeps_profiles_apart(tmp_cache, monkeypatch):
    results.record_results(
        "05_bilstm", {"bilstm-w2v": {"test_accuracy": 0.8}, "bilstm": {"a": 0.1}}
    )
    results.record_results("01_text_as_tensors", {"tfidf": {"test_accuracy": 0.9}})
    results.record_results("05_bilstm", {"bilstm-glove": {"test_accuracy": 0.85}})
    monkeypatch.setenv("SEQBOOK_PROFILE", "full")
    results.record_results("01_text_as_tensors", {"tfidf": {"test_accuracy": 0.7}})
    monkeypatch.setenv("SEQBOOK_PROFILE", "fast")
    table = results.load_results()
    # the rerun of ch5 dropped both of its old rows; ch1 kept its row
    assert sorted(zip(table["chapter"], table["model"], strict=True)) == [
        ("01_text_as_tensors", "tfidf"),
        ("05_bilstm", "bilstm-glove"),
    ]
    assert len(results.load_results(all_profiles=True)) == 3


@pytest.mark.parametrize(
    "rows, error, match",
    [
        ({"x": {"acc": "high"}}, TypeError, "must be finite numbers"),
        ({"x": {"acc": float("nan")}}, TypeError, "must be finite numbers"),
        ({"x": {"acc": True}}, TypeError, "must be finite numbers"),
        ({"x": {}}, ValueError, "non-empty dict"),
        ({}, ValueError, "rows must be a non-empty dict"),
    ],
)
def test_record_results_rejects_bad_rows(tmp_cache, rows, error, match):
    with pytest.raises(error, match=match):
        results.record_results("01_text_as_tensors", rows)


@pytest.mark.parametrize(
    "chapter, hint",
    [
        ("01 text as tensors", "did you mean '01_text_as_tensors'"),
        ("08 albert + bilstm", "did you mean '08_albert_bilstm'"),
        ("ch1", "got 'ch1'"),
        ("05_BiLSTM", "got '05_BiLSTM'"),
        ("05_bilstm.ipynb", "did you mean '05_bilstm_ipynb'"),
        ("", "got ''"),
        ("05_bilstm\n", "got '05_bilstm\\n'"),
        (5, "got 5"),
    ],
)
def test_record_results_refuses_a_chapter_that_is_not_a_notebook_stem(tmp_cache, chapter, hint):
    with pytest.raises(ValueError, match="must be the recording notebook's stem") as refused:
        results.record_results(chapter, {"tfidf": {"test_accuracy": 0.9}})
    assert hint in str(refused.value)
    assert not results.results_path().exists()


def test_recording_under_the_stem_replaces_the_rows_of_the_old_free_text_label(tmp_cache):
    """Chapter 1 once recorded as "01 text as tensors"; its rerun under "01_text_as_tensors" must
    not leave the old row beside the new one in the tables of later chapters, and the file lists
    the rows by chapter, so the new row comes first again."""
    from seqbook.cache import write_json

    old = {"chapter": "01 text as tensors", "model": "tfidf", "test_accuracy": 0.8}
    other = {"chapter": "08 albert + bilstm", "model": "albert", "test_accuracy": 0.7}
    write_json(
        results.results_path(),
        [{"profile": p, **r} for p in ("full", "fast") for r in (other, old)],
    )
    results.record_results("01_text_as_tensors", {"tfidf": {"test_accuracy": 0.9}})
    table = results.load_results(all_profiles=True)
    assert list(zip(table["profile"], table["chapter"], table["test_accuracy"], strict=True)) == [
        ("fast", "01_text_as_tensors", 0.9),
        ("fast", "08 albert + bilstm", 0.7),
        ("full", "01 text as tensors", 0.8),
        ("full", "08 albert + bilstm", 0.7),
    ]


def test_every_notebook_records_its_results_under_its_own_stem():
    """A chapter that calls `record_results("...")` names itself by its file's stem."""
    import json
    import re
    from pathlib import Path

    book = Path(__file__).resolve().parents[1] / "book"
    calls = {}
    for path in sorted(book.glob("*.ipynb")):
        code = "\n".join(
            "".join(c["source"])
            for c in json.loads(path.read_text())["cells"]
            if c["cell_type"] == "code"
        )
        calls[path.stem] = re.findall(r"record_results\(\s*[\"']([^\"']*)[\"']", code)
    assert calls["01_text_as_tensors"] == ["01_text_as_tensors"]
    wrong = {stem: named for stem, named in calls.items() if any(n != stem for n in named)}
    assert not wrong, wrong


def test_a_truncated_results_file_names_the_file_to_delete(tmp_cache):
    results.results_path().write_text('[{"profile": "fast", "chap')
    with pytest.raises(ValueError, match=r"results.json is not valid JSON.*delete it"):
        results.load_results()


def test_check_band_passes_inside_and_names_the_value_outside():
    assert results.check_band("test accuracy", 0.86, (0.84, 0.89)) == (
        "test accuracy in [0.84, 0.89]: yes"
    )
    with pytest.raises(
        results.OutOfBand, match=r"test accuracy = 0.5 lies outside .*\[0.84, 0.89\]"
    ):
        results.check_band("test accuracy", 0.5, (0.84, 0.89))
    with pytest.raises(ValueError, match="low < high"):
        results.check_band("x", 0.5, (0.9, 0.1))
    with pytest.raises(TypeError, match="must be a number"):
        results.check_band("x", "0.5", (0.1, 0.9))


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


def test_glue_stores_the_formatted_text_for_myst_nb(monkeypatch):
    import myst_nb

    stored = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: stored.update({name: value}))
    assert viz.glue("ch1_acc", 0.87654, ".3f") is None  # nothing for a cell to echo
    viz.glue("ch1_count", 19998, ",")
    assert stored == {"ch1_acc": "0.877", "ch1_count": "19,998"}
    with pytest.raises(ValueError, match="lowercase identifier"):
        viz.glue("Ch1 acc", 0.5)


def test_glue_runtime_names_seconds_and_threads(monkeypatch):
    import myst_nb

    stored = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: stored.update({name: value}))
    from seqbook import cache

    monkeypatch.setattr(cache, "_USAGE", {"loaded": 0, "computed": 0})
    text = viz.glue_runtime()
    assert stored == {"runtime": text}
    assert text.endswith(("CPU thread", "CPU threads", "cuda", "mps")) and " s on " in text


def test_glue_runtime_says_what_came_from_the_cache(monkeypatch, tmp_path):
    import myst_nb

    from seqbook import cache

    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: None)
    monkeypatch.setattr(cache, "_USAGE", {"loaded": 0, "computed": 0})

    def compute(folder):
        (folder / "v").write_text("1")
        return 1

    for _ in range(3):  # computed once, then loaded twice
        cache.load_or_compute(tmp_path / "x", {"k": 1}, compute, lambda f: 1)
    assert cache.usage() == {"loaded": 2, "computed": 1}
    assert viz.glue_runtime().endswith("(1 cached result computed, 2 loaded)")


# --------------------------------------------------------------------------- numbers of any kind
def test_check_band_accepts_a_numpy_float():
    verdict = results.check_band("test accuracy", np.float32(0.86), (0.84, 0.89))
    assert verdict == "test accuracy in [0.84, 0.89]: yes"
    with pytest.raises(results.OutOfBand, match="test accuracy = 0.5 lies outside"):
        results.check_band("test accuracy", np.float32(0.5), (0.84, 0.89))


def test_record_results_accepts_numpy_numbers_and_stores_plain_ones(tmp_cache):
    results.record_results(
        "01_text_as_tensors", {"tfidf": {"test_accuracy": np.float32(0.5), "n": np.int64(3)}}
    )
    row = results.load_results().iloc[0]
    assert (row["test_accuracy"], row["n"]) == (0.5, 3)


# --------------------------------------------------------------------------- bad input, refused
def test_check_band_says_a_nan_is_no_result():
    with pytest.raises(results.OutOfBand, match="test accuracy is NaN"):
        results.check_band("test accuracy", float("nan"), (0.84, 0.89))


def test_check_band_refuses_a_band_that_is_not_two_numbers():
    with pytest.raises(TypeError, match=r"band must hold two numbers, got \('0.84', 0.89\)"):
        results.check_band("test accuracy", 0.86, ("0.84", 0.89))


def test_record_results_refuses_metric_names_that_are_not_str(tmp_cache):
    # JSON would have turned 1 into "1"
    with pytest.raises(TypeError, match=r"metric names of 'x' must be non-empty str, got \[1\]"):
        results.record_results("01_text_as_tensors", {"x": {1: 0.5}})


def test_plot_history_refuses_one_metric_name_instead_of_a_list():
    # "loss" used to be read as the metrics "l", "o", "s", "s"
    h = History(epochs=[{"epoch": 1, "train_loss": 1.0}])
    with pytest.raises(TypeError, match="metrics must be a list of str, got a single str 'loss'"):
        viz.plot_history(h, metrics="loss")


@pytest.mark.parametrize(
    "y_pred, match",
    [
        ([0, -1], r"y_pred\[1\] must lie in \[0, 2\), got -1"),  # once counted as class 1
        ([0, 0.7], r"y_pred\[1\] must be an integer class id, got 0.7"),
    ],
)
def test_confusion_matrix_refuses_labels_that_are_not_class_ids(y_pred, match):
    with pytest.raises(ValueError, match=match):
        viz.confusion_matrix_plot([0, 1], y_pred, ["neg", "pos"])


def test_confusion_matrix_of_no_examples_is_an_error():
    with pytest.raises(ValueError, match="at least one example, got none"):
        viz.confusion_matrix_plot([], [], ["neg", "pos"])


def test_confusion_matrix_refuses_one_str_as_the_class_names():
    with pytest.raises(TypeError, match="class_names must be a list of str, got a single str"):
        viz.confusion_matrix_plot([0, 1], [0, 1], "np")
