"""How an answer leaves the sandbox: plain JSON with tagged arrays, and a strict decoder.

The sandbox side (`encode`) turns what the student's code returned into JSON: numbers, strings,
booleans, None, lists, tuples (tagged), dicts with string keys, and tensors or NumPy arrays of a
few dtypes (tagged, with dtype, shape and flat data). Anything else becomes a tag naming its type,
so the check can say what came instead of what it expected. No pickle anywhere: the grader's side
(`decode`) reads only these forms, refuses anything else, and bounds the size and the depth.
Both sides import only the standard library (and NumPy / torch when an array is present).
"""

from __future__ import annotations

import json
import math

MAX_BYTES = 8_000_000  # one task's answer, serialised
MAX_DEPTH = 8
MAX_STR = 2_000
DTYPES = ("float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool")


class WireError(ValueError):
    """A serialised answer that is malformed, too large or of a form the decoder refuses."""


def _array(value) -> dict | None:
    """The tagged form of a torch tensor or NumPy array, else None."""
    kind = type(value).__module__.split(".")[0]
    if kind == "torch" and type(value).__name__ in ("Tensor", "Parameter"):
        value = value.detach().cpu()
        dtype = str(value.dtype).removeprefix("torch.")
        if dtype == "bfloat16":
            value, dtype = value.float(), "float32"
        data, shape = value.reshape(-1).tolist(), list(value.shape)
    elif kind == "numpy" and type(value).__name__ == "ndarray":
        dtype, data, shape = str(value.dtype), value.reshape(-1).tolist(), list(value.shape)
    else:
        return None
    if dtype not in DTYPES:
        return {"$unsupported": f"array of dtype {dtype}"}
    data = [_float(x) if isinstance(x, float) else x for x in data]
    return {"$array": {"dtype": dtype, "shape": shape, "data": data}}


def _float(x: float) -> object:
    return x if math.isfinite(x) else {"$float": repr(x)}


def _plain(value, depth: int) -> object:
    if depth > MAX_DEPTH:
        return {"$unsupported": "nesting deeper than 8"}
    if value is None or type(value) in (bool, int):
        return value
    if type(value) is str:
        return value[:MAX_STR]
    if type(value) is float:
        return _float(value)
    if type(value) is list:
        return [_plain(v, depth + 1) for v in value]
    if type(value) is tuple:
        return {"$tuple": [_plain(v, depth + 1) for v in value]}
    if type(value) is dict:
        if not all(type(k) is str for k in value):
            return {"$unsupported": "dict with non-string keys"}
        return {"$dict": {k[:MAX_STR]: _plain(v, depth + 1) for k, v in value.items()}}
    array = _array(value)
    if array is not None:
        return array
    return {"$unsupported": type(value).__name__[:100]}


def encode(value: object) -> str:
    """The JSON text of `value` (see the module docstring); raises WireError past MAX_BYTES."""
    text = json.dumps(_plain(value, 0), separators=(",", ":"), allow_nan=False)
    if len(text) > MAX_BYTES:
        raise WireError(f"the answer is {len(text)} bytes serialised, more than {MAX_BYTES}")
    return text


class Unsupported:
    """Stands for a value the sandbox could not serialise; `what` names its type."""

    def __init__(self, what: str):
        self.what = what

    def __repr__(self) -> str:
        return f"<{self.what}>"


def _refuse(what: str) -> WireError:
    return WireError(f"malformed answer: {what}")


def _decode(node, depth: int):
    import numpy as np

    if depth > MAX_DEPTH + 1:
        raise _refuse("nested too deeply")
    if node is None or type(node) in (bool, int, float):
        return node
    if type(node) is str:
        if len(node) > MAX_STR:
            raise _refuse("a string longer than allowed")
        return node
    if type(node) is list:
        return [_decode(v, depth + 1) for v in node]
    if type(node) is not dict or len(node) != 1:
        raise _refuse(f"unexpected {type(node).__name__}")
    ((tag, body),) = node.items()
    if tag == "$tuple" and type(body) is list:
        return tuple(_decode(v, depth + 1) for v in body)
    if tag == "$dict" and type(body) is dict:
        return {k: _decode(v, depth + 1) for k, v in body.items()}
    if tag == "$float" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "$unsupported" and type(body) is str:
        return Unsupported(body[:100])
    if tag == "$array" and type(body) is dict and set(body) == {"dtype", "shape", "data"}:
        dtype, shape, data = body["dtype"], body["shape"], body["data"]
        if dtype not in DTYPES or type(shape) is not list or type(data) is not list:
            raise _refuse("an array with a bad header")
        if not all(type(s) is int and 0 <= s for s in shape) or len(shape) > 8:
            raise _refuse("an array with a bad shape")
        if math.prod(shape) != len(data):
            raise _refuse("an array whose data does not fill its shape")
        want = bool if dtype == "bool" else int if dtype.startswith(("int", "uint")) else float
        flat = []
        for x in data:
            if type(x) is dict and want is float:
                x = _decode(x, depth + 1)
            if type(x) is not want and not (want is float and type(x) is int):
                raise _refuse(f"an array of {dtype} holding a {type(x).__name__}")
            flat.append(x)
        return np.asarray(flat, dtype=dtype).reshape(shape)
    raise _refuse(f"unknown tag {tag!r}")


def decode(text: str | bytes) -> object:
    """Rebuild an answer from `encode`'s text: NumPy arrays for tagged arrays, tuples, dicts,
    lists, numbers, strings, None, and `Unsupported` markers. Raises WireError on anything else."""
    if len(text) > MAX_BYTES:
        raise WireError(f"the answer is {len(text)} bytes, more than {MAX_BYTES}")
    try:
        node = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(_refuse(c)))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise WireError(f"malformed answer: not JSON ({str(e)[:100]})") from None
    return _decode(node, 0)
