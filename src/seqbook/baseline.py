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


def idf(documents: Sequence[Sequence[str]]) -> dict[str, float]:
    """Smoothed inverse document frequency, eq. (eq-text-idf): ln((1 + n) / (1 + df(t))) + 1."""
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
    if not Cs:
        raise ValueError("Cs must name at least one regularisation value, got none")
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
