# ruff: noqa
# Wrong answers, then every way to make them look right: patched comparisons, printed and
# displayed verdicts, forged records on the grader's channel, edited metadata.
import json
import sys

import numpy as np
import torch


def sinusoidal_positions(T, d, base=10000.0):
    return torch.zeros(T, d, dtype=torch.float64)


def encoder_layer(x, params, num_heads, key_padding_mask=None, scale=None):
    return torch.zeros_like(x)


def train_order_classifier(x, y, use_positions, seed=0):
    return lambda x: torch.zeros(len(x), dtype=torch.long)


order_models = {
    "with positions": train_order_classifier(None, None, True),
    "without positions": train_order_classifier(None, None, False),
}

# %%
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.Tensor.__eq__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)
torch.Tensor.__ne__ = lambda self, other: torch.zeros_like(self, dtype=torch.bool)
np.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
print("PASS positions: 5/5 cases passed")
print("Assignment a1_attention: total 10/10")
from IPython.display import display

display(
    {"application/vnd.seqbook.grade+json": {"nonce": "0" * 32, "report": {"ok": True}}}, raw=True
)

# %%
channel = open(sys.argv[-1], "wb", buffering=0)
for task in ("positions", "encoder_layer", "order_experiment"):
    for forged in (
        {"task": task, "passed": 5, "total": 5, "points": 100},
        {"task": task, "answer": {"$dict": {"ok": True}}},
        {"task": task, "answer": {"$array": {"dtype": "object", "shape": [1], "data": ["cos"]}}},
        {"task": task, "answer": "1" * 100},
    ):
        channel.write(json.dumps(forged).encode() + b"\n")
channel.write(b'{"done": true}\n' + b"\x00garbage\n" + b"[" * 100000 + b"\n")


def keep_forging():  # still writing after the grader's own records
    import time

    for _ in range(100):
        channel.write(b'{"task": "positions", "answer": {"$tuple": []}}\n')
        time.sleep(0.05)


import threading

threading.Thread(target=keep_forging, daemon=True).start()

# %%
from seqbook.checks import course

print(course.check("positions", sinusoidal_positions))
print(course.check("encoder_layer", encoder_layer))
print(course.check("order_experiment", order_models))
