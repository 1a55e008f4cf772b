# ruff: noqa
# No code of its own: every task is handed to the package's reference, to the checks, to torch's
# own layer, or to source files read from the host. Anything read is printed as LEAK.
import importlib
import socket

import torch

attempts = []


def reach(what, fn):
    try:
        value = fn()
    except BaseException as e:
        attempts.append(f"{what}: {type(e).__name__}")
        return None
    print(f"LEAK {what}: {str(value)[:80]}")
    return value


reference = reach(
    "seqbook.checks.course.a1", lambda: importlib.import_module("seqbook.checks.course.a1")
)
attention = reach("seqbook.attention", lambda: importlib.import_module("seqbook.attention"))
reach("seqbook.albert", lambda: importlib.import_module("seqbook.albert"))
reach("instructor source", lambda: open("{SECRET}").read())
reach("reference source", lambda: open("{ROOT}/course/grader/references.py").read())
reach("grader package", lambda: importlib.import_module("seqbook.grading.core"))


def connect():
    s = socket.create_connection(("127.0.0.1", {PORT}), timeout=2)
    s.sendall(b"LEAK")
    return "connected"


reach("network", connect)
print(attempts)


# %%
def sinusoidal_positions(T, d, base=10000.0):
    return reference.reference_positions(T, d)


def encoder_layer(x, params, num_heads, key_padding_mask=None, scale=None):
    layer = torch.nn.TransformerEncoderLayer(
        x.shape[-1],
        num_heads,
        params["linear1_weight"].shape[0],
        dropout=0.0,
        batch_first=True,
        dtype=x.dtype,
    )
    return layer(x, src_key_padding_mask=key_padding_mask)


# %%
from seqbook.checks import course

print(course.check("positions", sinusoidal_positions))
print(course.check("encoder_layer", encoder_layer))
