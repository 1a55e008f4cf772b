"""The TF-IDF + logistic-regression baseline every later model is compared with."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from seqbook.data import tokenize
from seqbook.validate import check_number, check_token_lists


def idf(documents: Sequence[Sequence[str]]) -> dict[str, float]:
    """Smoothed inverse document frequency, eq. (eq-text-idf): ln((1 + n) / (1 + df(t))) + 1."""
    documents = check_token_lists(documents, "documents")
    if not documents:
        raise ValueError("documents must hold at least one token list, got none")
    n = len(documents)
    df = Counter(t for doc in documents for t in set(doc))
    return {t: math.log((1 + n) / (1 + d)) + 1 for t, d in df.items()}


@dataclass
class Baseline:
    pipeline: Pipeline  # raw text -> TF-IDF -> logistic regression
    C: float  # inverse regularisation strength chosen on the validation split
    valid_accuracy: dict[float, float]  # every C tried


def fit_tfidf_baseline(
    train: pd.DataFrame, valid: pd.DataFrame, Cs: Sequence[float] = (1.0, 4.0), min_df: int = 2
) -> Baseline:
    """TF-IDF of the book's tokens (sublinear tf, eq-text-tfidf) and an L2-regularised logistic
    regression (eq-text-logreg); the C with the best validation accuracy is kept."""
    Cs = _check_Cs(Cs)
    vectorizer = TfidfVectorizer(analyzer=tokenize, min_df=min_df, sublinear_tf=True)
    x_train = vectorizer.fit_transform(train["text"])
    x_valid = vectorizer.transform(valid["text"])
    scores, models = {}, {}
    for C in Cs:
        models[C] = LogisticRegression(C=C, solver="liblinear").fit(x_train, train["label"])
        scores[C] = float(models[C].score(x_valid, valid["label"]))
    best = max(Cs, key=lambda c: (scores[c], -c))  # ties go to the stronger regularisation
    pipeline = Pipeline([("tfidf", vectorizer), ("logreg", models[best])])
    return Baseline(pipeline, best, scores)


def _check_Cs(Cs: object) -> list[float]:
    """Regularisation values: a non-empty sequence of positive numbers (not one number)."""
    if isinstance(Cs, str) or not isinstance(Cs, Sequence):
        raise TypeError(f"Cs must be a sequence of positive numbers, e.g. (1.0, 4.0), got {Cs!r}")
    if not Cs:
        raise ValueError("Cs must name at least one regularisation value, got none")
    for i, C in enumerate(Cs):
        check_number(f"Cs[{i}]", C, positive=True)
    return list(Cs)


def tfidf_learning_curve(
    sizes: Sequence[int | None], Cs: Sequence[float] = (1.0, 4.0), seed: int = 0
) -> list[dict[str, object]]:
    """Test accuracy and F1 of the TF-IDF baseline trained on each number of labelled reviews
    in `sizes` (seeded, label-balanced subsets of the training split, `None` = all of it; the
    subsets of one seed are nested), C chosen on the whole validation split, scored on the whole
    test split. One row per size: model "tfidf", train_reviews, test_accuracy, test_f1, C."""
    from sklearn.metrics import accuracy_score, f1_score

    from seqbook.data import load_split

    if isinstance(sizes, str) or not isinstance(sizes, Sequence):
        raise TypeError(f"sizes must be a sequence of review counts (or None), got {sizes!r}")
    if not sizes:
        raise ValueError("sizes must name at least one number of reviews, got none")
    valid, test = load_split("valid"), load_split("test")
    rows = []
    for n in sizes:
        train = load_split("train", limit=n, seed=seed)
        baseline = fit_tfidf_baseline(train, valid, Cs)
        pred = baseline.pipeline.predict(test["text"])
        rows.append(
            {
                "model": "tfidf",
                "train_reviews": len(train),
                "test_accuracy": float(accuracy_score(test["label"], pred)),
                "test_f1": float(f1_score(test["label"], pred)),
                "C": baseline.C,
                "seed": seed,
            }
        )
    return rows
