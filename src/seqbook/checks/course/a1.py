"""Reference checks of assignment 1 (attention and the Transformer layer). Outside the sandbox.

Positions: eq. (eq-a1-positions), computed here in float64. Encoder layer: torch's own
`nn.TransformerEncoderLayer` (post-LN, ReLU, no dropout) with the case's weights, in training
mode so that torch takes its plain path. Experiment: accuracies measured here on the graded
evaluation set from the labels the student's predictors returned.
"""

from __future__ import annotations

import math

import torch

from seqbook.checks import CheckReport, run_cases
from seqbook.checks.course import inputs
from seqbook.checks.course.judging import accuracy, close, in_band, raised, tensor


def reference_positions(T: int, d: int) -> torch.Tensor:
    t = torch.arange(T, dtype=torch.float64)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d, 2, dtype=torch.float64) / d)
    pe = torch.zeros(T, d, dtype=torch.float64)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(t * freq), torch.cos(t * freq)
    return pe


def check_positions(answer, seed: int) -> CheckReport:
    def case(i, T, d):
        close(
            tensor(answer[i], f"positions({T}, {d})", (T, d)),
            reference_positions(T, d),
            f"positions({T}, {d})",
            atol=1e-5,
        )

    def odd():
        message = raised(answer[-1]) or ""
        if message.startswith("NotImplementedError"):
            raise NotImplementedError
        if not message.startswith("ValueError"):
            raise AssertionError(
                f"positions{inputs.POSITION_ODD}: expected a ValueError for an "
                f"odd d, got {message or 'a result'}"
            )

    cases = [
        (f"T={T}, d={d}", lambda i=i, T=T, d=d: case(i, T, d))
        for i, (T, d) in enumerate(inputs.POSITION_CASES)
    ]
    return run_cases("positions", [*cases, ("odd d raises ValueError", odd)])


STATE_NAMES = {
    "in_proj_weight": "self_attn.in_proj_weight",
    "in_proj_bias": "self_attn.in_proj_bias",
    "out_proj_weight": "self_attn.out_proj.weight",
    "out_proj_bias": "self_attn.out_proj.bias",
}


def reference_encoder_layer(x, params, num_heads, mask) -> torch.Tensor:
    d, ff = x.shape[-1], params["linear1_weight"].shape[0]
    layer = torch.nn.TransformerEncoderLayer(
        d, num_heads, ff, dropout=0.0, batch_first=True, dtype=torch.float64
    )
    state = {STATE_NAMES.get(k, k.replace("_", ".")): v for k, v in params.items()}
    layer.load_state_dict(state)
    layer.train()  # no fast path: every position computed the plain way
    return layer(x, src_key_padding_mask=mask)


def check_encoder_layer(answer, seed: int) -> CheckReport:
    def case(i, x, params, h, mask):
        what = f"case {i} output"
        close(
            tensor(answer[i], what, tuple(x.shape)),
            reference_encoder_layer(x, params, h, mask),
            what,
            atol=1e-6,
        )

    names = ("2 heads, no mask", "3 heads, padded batch", "one token, one head")
    return run_cases(
        "encoder_layer",
        [
            (n, lambda i=i, c=c: case(i, *c))
            for i, (n, c) in enumerate(zip(names, inputs.encoder_layer_inputs(seed), strict=True))
        ],
    )


ORDER_BANDS = {"with positions": (0.9, 1.0), "without positions": (0.4, 0.6)}


def check_order_experiment(answer, seed: int) -> CheckReport:
    labels = inputs.order_eval(seed)[1]

    def case(key):
        acc = accuracy(answer.get(key) if isinstance(answer, dict) else answer, labels, key)
        in_band(acc, ORDER_BANDS[key], f"accuracy {key}")

    return run_cases(
        "order_experiment",
        [(f"{k}: accuracy in {ORDER_BANDS[k]}", lambda k=k: case(k)) for k in inputs.ORDER_KEYS],
    )


def judge(task_id: str, answer, seed: int) -> CheckReport:
    return globals()[f"check_{task_id}"](answer, seed)
