"""Input checks for the package's public entry points, in one place.

Each check raises ValueError or TypeError whose message names the argument, what was expected
and what came, so that a reader's mistake never surfaces as a bare index error deep inside
torch. A model checks its inputs once, at its public entry point (its `forward`), and then runs
its layers on an unchecked internal path (`LSTM._forward`, `AttentionPooling._forward`,
`scaled_dot_product_attention(..., check=False)`): the same inputs are not checked again at
every level.

Shapes are written as in the docstrings, e.g. `check_tensor(x, "x", "B, T, dim", dim=8)`: a name
is any size unless a keyword fixes it, a number is that size, and `...` (first or last) stands for
any number of further dimensions.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor


class InputTypeError(TypeError, ValueError):
    """An argument of the wrong type or dtype (a list for a tensor, float ids, an integer x).

    A TypeError; also a ValueError, because the model modules raised ValueError for some of these
    before their checks moved here, and code that catches ValueError should keep working."""


def describe(x: object) -> str:
    """A short description of a value for error messages: type, shape and dtype."""
    if isinstance(x, Tensor | np.ndarray):
        return f"{type(x).__name__} of shape {tuple(x.shape)} and dtype {x.dtype}"
    return type(x).__name__


def _some(values: Tensor, most: int = 8) -> str:
    """The values of a 1-D tensor for a message: all of them, or the first `most` and '...'."""
    shown = values[:most].tolist()
    return str(shown) if len(values) <= most else f"{str(shown)[:-1]}, ...]"


def _and(items: Sequence[object]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ----------------------------------------------------------------------------- numbers


def check_positive_ints(**values: object) -> None:
    """Each keyword's value a positive int (a bool or a float such as 2.0 is refused):
    sizes, counts, epochs, steps."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_fraction(name: str, value: object, *, allow_one: bool = False) -> float:
    """A number in [0, 1) (a dropout rate), or in [0, 1] with `allow_one=True`."""
    interval = "[0, 1]" if allow_one else "[0, 1)"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"{name} must be a float in {interval}, got {type(value).__name__}")
    if not (0.0 <= value <= 1.0 if allow_one else 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be a float in {interval}, got {value}")
    return float(value)


def check_int(name: str, value: object, *, low: int = 0) -> int:
    """An integer (NumPy's included; a bool or a float such as 2.0 is refused) of at least `low`,
    as an int: a seed, a length, a count that may be zero."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"{name} must be an int >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def check_number(name: str, value: object, *, positive: bool = False) -> float:
    """A finite real number (a NumPy float is one; a bool, a str or a tensor is not), as a float;
    with `positive=True` also > 0."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        hint = " (call .item() on a one-element tensor)" if isinstance(value, Tensor) else ""
        raise InputTypeError(f"{name} must be a number, got {describe(value)}{hint}")
    if not np.isfinite(float(value)) or (positive and value <= 0):
        kind = "positive, finite" if positive else "finite"
        raise ValueError(f"{name} must be a {kind} number, got {value!r}")
    return float(value)


def check_strs(values: object, name: str, hint: str = "") -> list[str]:
    """A sequence of str (tokens, words, texts) as a list: not one str, whose characters would
    be taken for its items, and no item of another type. `hint` ends the message about a wrong
    item."""
    if isinstance(values, str):
        raise InputTypeError(f"{name} must be a list of str, got a single str {values[:30]!r}")
    if isinstance(values, Tensor) or (isinstance(values, np.ndarray) and values.ndim != 1):
        raise InputTypeError(f"{name} must be a list of str, got {describe(values)}{hint}")
    try:
        out = list(values)
    except TypeError:
        raise InputTypeError(f"{name} must be a list of str, got {describe(values)}") from None
    for i, v in enumerate(out):
        if not isinstance(v, str):
            raise InputTypeError(f"{name}[{i}] must be a str, got {type(v).__name__} {v!r}{hint}")
    return out


def check_same(what: str, **sizes: object) -> None:
    """All keywords' values equal: `check_same("batch size", query=2, key=3)` raises "query and
    key must have the same batch size, got 2 and 3"."""
    if len(set(sizes.values())) > 1:
        raise ValueError(
            f"{_and(list(sizes))} must have the same {what}, got {_and(list(sizes.values()))}"
        )


def check_labels(
    labels: Iterable[object], num_classes: int | None = 2, name: str = "labels"
) -> list[int]:
    """Class ids as a list of ints: every value an integer (not 0.7, not True) in
    [0, num_classes) (any non-negative integer when num_classes is None)."""
    if isinstance(labels, str):
        raise TypeError(f"{name} must be a sequence of class ids, got a str")
    if isinstance(labels, Tensor | np.ndarray):
        if labels.ndim != 1:
            raise ValueError(
                f"{name} must be 1-D (one class id per example), got shape {tuple(labels.shape)}"
            )
        labels = labels.tolist()
    if not isinstance(labels, Iterable):
        raise TypeError(f"{name} must be a sequence of class ids, got {describe(labels)}")
    high = "" if num_classes is None else f", {num_classes}"
    out = []
    for i, y in enumerate(labels):
        if isinstance(y, Tensor) and y.dim() == 0:
            y = y.item()
        boolean = isinstance(y, bool | np.bool_)
        integral = isinstance(y, numbers.Integral) and not boolean
        if not (integral or boolean) and isinstance(y, numbers.Real) and float(y).is_integer():
            integral, y = True, int(y)
        if not integral:
            raise ValueError(f"{name}[{i}] must be an integer class id, got {y!r}")
        if int(y) < 0 or (num_classes is not None and int(y) >= num_classes):
            raise ValueError(f"{name}[{i}] must lie in [0{high or ', inf'}), got {int(y)}")
        out.append(int(y))
    return out


def check_token_lists(token_lists: Iterable[Sequence[str]], name: str = "token_lists") -> list:
    """A list of token lists (each a list of str), not a list of strings."""
    if isinstance(token_lists, str):
        raise TypeError(f"{name} must be a list of token lists, got a str")
    if not isinstance(token_lists, Iterable):
        raise TypeError(f"{name} must be a list of token lists, got {describe(token_lists)}")
    out = list(token_lists)
    for i, tokens in enumerate(out):
        if isinstance(tokens, str):
            raise TypeError(
                f"{name}[{i}] must be a list of tokens, got a str {tokens[:30]!r} "
                "(tokenise each text first, e.g. with seqbook.data.tokenize)"
            )
        if not isinstance(tokens, Iterable):
            raise TypeError(f"{name}[{i}] must be a list of tokens, got {describe(tokens)}")
        bad = [t for t in tokens if not isinstance(t, str)]
        if bad:
            raise TypeError(f"{name}[{i}] must hold str tokens, got {type(bad[0]).__name__}")
    return out


# ----------------------------------------------------------------------------- tensors

_DTYPES = {  # dtype kind -> (test, wording)
    "float": (lambda d: d.is_floating_point, "a floating-point tensor"),
    "index": (lambda d: d in (torch.long, torch.int), "an integer tensor (int64 or int32)"),
    "integer": (
        lambda d: not (d.is_floating_point or d.is_complex or d == torch.bool),
        "an integer tensor",
    ),
    "bool": (lambda d: d == torch.bool, "a bool tensor"),
}


def check_tensor(
    x: object,
    name: str,
    shape: str | tuple[int, ...] | None = None,
    *,
    dtype: str | None = None,
    hint: str = "",
    **sizes: int,
) -> Tensor:
    """`x` a tensor of `shape` (e.g. "B, T, dim" with dim=8, see the module docstring) whose
    dtype is of kind `dtype` ("float", "index": what nn.Embedding takes, "integer", "bool").
    `hint` follows the expected shape in the message, e.g. " (batch first)"."""
    if isinstance(shape, str):
        dims = [d.strip() for d in shape.split(",")]
    else:
        dims = None if shape is None else [str(d) for d in shape]
    spec = "" if dims is None else "(" + ", ".join(_dim(d, sizes) for d in dims) + ")"
    if not isinstance(x, Tensor):
        raise InputTypeError(
            f"{name} must be a tensor"
            + (f" of shape {spec}" if spec else "")
            + f", got {describe(x)}"
        )
    if dims is not None and not _shape_matches(tuple(x.shape), dims, sizes):
        unbatched = dims[0] == "B" and x.dim() == len(dims) - 1
        tail = " (a single sequence? use .unsqueeze(0))" if unbatched else ""
        raise ValueError(f"{name} must have shape {spec}{hint}, got {tuple(x.shape)}{tail}")
    if dtype is not None:
        test, wording = _DTYPES[dtype]
        if not test(x.dtype):
            raise InputTypeError(f"{name} must be {wording}, got dtype {x.dtype}")
    return x


def _dim(d: str, sizes: dict[str, int]) -> str:
    return f"{d}={sizes[d]}" if d in sizes else d


def _shape_matches(shape: tuple[int, ...], dims: list[str], sizes: dict[str, int]) -> bool:
    """Whether `shape` fits `dims` ("..." first: any leading dimensions; "..." last: any
    trailing ones)."""
    if dims[0] == "...":  # compare the last dimensions
        dims = dims[1:]
        shape = shape[len(shape) - len(dims) :] if len(shape) >= len(dims) else shape
    elif dims[-1] == "...":  # compare the first dimensions
        dims = dims[:-1]
        shape = shape[: len(dims)]
    if len(shape) != len(dims):
        return False
    for d, n in zip(dims, shape, strict=True):
        want = int(d) if d.isdigit() else sizes.get(d)
        if want is not None and n != want:
            return False
    return True


def check_ids(
    ids: object,
    name: str,
    vocab_size: int,
    shape: str = "B, T",
    *,
    of: str = "",
    hint: str = "",
    **sizes: int,
) -> Tensor:
    """Token ids: an int64/int32 tensor of `shape` with every value in [0, vocab_size). `of`
    ends the message of a value out of range, e.g. " (the vocabulary size)"; `hint` is as in
    `check_tensor`."""
    ids = check_tensor(ids, name, shape, dtype="index", hint=hint, **sizes)
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(
            f"{name} must lie in [0, {vocab_size}), got values from {int(ids.min())} to "
            f"{int(ids.max())}{of}"
        )
    return ids


def check_mask(
    mask: object,
    shape: str | tuple[int, ...] | None = None,
    name: str = "mask",
    *,
    bool_only: bool = False,
    meaning: str = "real token",
    **sizes: int,
) -> Tensor:
    """A 0/1 (or bool) tensor as a bool tensor; any other value is an error, not a cast.

    `bool_only=True` refuses 0/1 numbers too (the attention modules' masks, whose True can mean
    "may attend" or "padding": only a bool says which). `meaning` is what True means."""
    if bool_only:
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            came = f"dtype {mask.dtype}" if isinstance(mask, Tensor) else describe(mask)
            raise InputTypeError(f"{name} must be a bool tensor (True = {meaning}), got {came}")
    mask = check_tensor(mask, name, shape, **sizes)
    if mask.dtype == torch.bool:
        return mask
    if mask.is_complex():
        raise InputTypeError(f"{name} must be bool or 0/1, got dtype {mask.dtype}")
    bad = (mask != 0) & (mask != 1)
    if bad.any():
        values = torch.unique(mask[bad])[:5].tolist()
        raise ValueError(f"{name} must hold only 0 and 1 (or True/False), got values {values}")
    return mask.bool()


# ----------------------------------------------------------------------------- lengths


def check_lengths(
    lengths: object,
    batch: int | None = None,
    max_len: int | None = None,
    *,
    name: str = "lengths",
    low: int = 1,
    of: str = "",
) -> Tensor:
    """Sequence lengths as a 1-D int64 tensor (a list is converted): one per sequence when
    `batch` is given, every value in [low, max_len] (at least `low` when max_len is None).
    `of` says what max_len is, e.g. " (the time dimension of x)"."""
    if not isinstance(lengths, Tensor):
        try:
            lengths = torch.as_tensor(lengths)
        except (TypeError, ValueError, RuntimeError):
            raise InputTypeError(
                f"{name} must be a 1-D integer tensor or list, got {describe(lengths)}"
            ) from None
    if not _DTYPES["integer"][0](lengths.dtype):
        raise InputTypeError(f"{name} must be an integer tensor, got dtype {lengths.dtype}")
    if lengths.dim() != 1 or (batch is not None and len(lengths) != batch):
        expected = "B" if batch is None else batch
        raise ValueError(
            f"{name} must have shape ({expected},) (one length per sequence), "
            f"got {tuple(lengths.shape)}"
        )
    too_short = lengths < low
    too_long = torch.zeros_like(too_short) if max_len is None else lengths > max_len
    if bool((too_short | too_long).any()):
        allowed = f"be at least {low}" if max_len is None else f"lie in [{low}, {max_len}]"
        raise ValueError(f"{name} must {allowed}{of}, got {_some(lengths)}")
    return lengths.long()


def mask_from_lengths(lengths: Tensor, max_len: int) -> Tensor:
    """(B, max_len) bool mask, True at the first `lengths[b]` positions of row b (the one place
    the book turns lengths into a mask)."""
    positions = torch.arange(max_len, device=lengths.device)
    return positions[None, :] < lengths[:, None]  # (B, T)


def check_mask_matches_lengths(mask: Tensor, lengths: Tensor) -> None:
    """A (B, T) bool `mask` given together with `lengths` (B,) must be exactly
    `mask_from_lengths(lengths, T)`: True at the first lengths[b] positions of row b."""
    lengths = lengths.to(mask.device)
    wrong = (mask != mask_from_lengths(lengths, mask.shape[1])).any(dim=1)  # (B,)
    if bool(wrong.any()):
        rows = wrong.nonzero().flatten()[:5]
        raise ValueError(
            f"mask and lengths disagree in rows {rows.tolist()}: the mask must be True exactly "
            "at the first lengths[b] positions of row b (True = real token, padding at the "
            f"end), but there it has {mask[rows].sum(1).tolist()} True values and lengths says "
            f"{lengths[rows].tolist()}"
        )
