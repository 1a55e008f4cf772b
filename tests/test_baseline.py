import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from seqbook import baseline, data


def test_idf_matches_scikit_learn():
    docs = [["good", "film"], ["bad", "film", "film"], ["good", "good", "plot"]]
    ours = baseline.idf(docs)
    ref = TfidfVectorizer(analyzer=lambda d: d).fit(docs)
    for token, j in ref.vocabulary_.items():
        assert ours[token] == pytest.approx(ref.idf_[j])


def test_idf_rejects_no_documents():
    with pytest.raises(ValueError, match="at least one token list"):
        baseline.idf([])


def test_baseline_learns_sentiment_on_a_small_split():
    train = data.load_split("train", limit=600)
    valid = data.load_split("valid", limit=200)
    b = baseline.fit_tfidf_baseline(train, valid, Cs=(1.0, 4.0))
    assert b.C in (1.0, 4.0) and set(b.valid_accuracy) == {1.0, 4.0}
    assert b.valid_accuracy[b.C] == max(b.valid_accuracy.values())
    assert b.valid_accuracy[b.C] > 0.65  # far above the 0.5 of guessing
    pred = b.pipeline.predict(["A wonderful, moving film.", "Awful. A waste of time."])
    assert np.array_equal(pred, [1, 0])


def test_learning_curve_rows_follow_the_sizes_and_improve_with_data(monkeypatch):
    # a small stand-in for the validation and test splits keeps the test fast
    real = data.load_split

    def small(split, limit=None, seed=0):
        return real(split, limit=limit if split == "train" else 300, seed=seed)

    monkeypatch.setattr(data, "load_split", small)
    rows = baseline.tfidf_learning_curve([40, 1200], Cs=(1.0,))
    assert [r["train_reviews"] for r in rows] == [40, 1200]
    assert all(r["model"] == "tfidf" and r["C"] == 1.0 for r in rows)
    assert rows[1]["test_accuracy"] > rows[0]["test_accuracy"]
    assert rows[1]["test_accuracy"] > 0.7
    with pytest.raises(ValueError, match="at least one number of reviews"):
        baseline.tfidf_learning_curve([])


# --------------------------------------------------------------------------- bad input, refused
def test_idf_refuses_texts_instead_of_token_lists():
    # texts used to be read as lists of characters
    with pytest.raises(TypeError, match=r"documents\[0\] must be a list of tokens, got a str"):
        baseline.idf(["a great film", "a dull film"])


@pytest.mark.parametrize(
    ("Cs", "error", "match"),
    [
        (1.0, TypeError, "Cs must be a sequence of positive numbers"),
        ((1.0, 0.0), ValueError, r"Cs\[1\] must be a positive, finite number, got 0.0"),
    ],
)
def test_baseline_refuses_regularisation_values_that_are_not_a_list_of_positive_numbers(
    Cs, error, match
):
    frame = data.load_split("valid", limit=20)
    with pytest.raises(error, match=match):
        baseline.fit_tfidf_baseline(frame, frame, Cs=Cs)


def test_learning_curve_refuses_one_size_instead_of_a_list():
    with pytest.raises(TypeError, match="sizes must be a sequence of review counts"):
        baseline.tfidf_learning_curve(1000)
