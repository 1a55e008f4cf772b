"""Input checks for the package's public entry points, in one place.

Each check raises ValueError or TypeError whose message names the argument, what was expected
and what came, so that a reader's mistake never surfaces as a bare index error deep inside
torch. Layers trust what their public entry point has checked; forward passes do not re-check.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor


def describe(x: object) -> str:
    """A short description of a value for error messages: type, shape and dtype."""
    if isinstance(x, Tensor | np.ndarray):
        return f"{type(x).__name__} of shape {tuple(x.shape)} and dtype {x.dtype}"
    return type(x).__name__


def check_labels(labels: Iterable[object], num_classes: int = 2, name: str = "labels") -> list[int]:
    """Class ids as a list of ints: every value an integer (not 0.7, not True) in
    [0, num_classes)."""
    if isinstance(labels, str):
        raise TypeError(f"{name} must be a sequence of class ids, got a str")
    if isinstance(labels, Tensor | np.ndarray):
        labels = labels.tolist()
    out = []
    for i, y in enumerate(labels):
        integral = isinstance(y, numbers.Integral) and not isinstance(y, bool | np.bool_)
        if not integral and isinstance(y, float) and y.is_integer():
            integral, y = True, int(y)
        if not integral:
            raise ValueError(f"{name}[{i}] must be an integer class id, got {y!r}")
        if not 0 <= int(y) < num_classes:
            raise ValueError(f"{name}[{i}] must lie in [0, {num_classes}), got {int(y)}")
        out.append(int(y))
    return out


def check_token_lists(token_lists: Iterable[Sequence[str]], name: str = "token_lists") -> list:
    """A list of token lists (each a list of str), not a list of strings."""
    if isinstance(token_lists, str):
        raise TypeError(f"{name} must be a list of token lists, got a str")
    out = list(token_lists)
    for i, tokens in enumerate(out):
        if isinstance(tokens, str):
            raise TypeError(
                f"{name}[{i}] must be a list of tokens, got a str {tokens[:30]!r} "
                "(tokenise each text first, e.g. with seqbook.data.tokenize)"
            )
        bad = [t for t in tokens if not isinstance(t, str)]
        if bad:
            raise TypeError(f"{name}[{i}] must hold str tokens, got {type(bad[0]).__name__}")
    return out


def check_mask(mask: object, shape: tuple[int, ...] | None = None, name: str = "mask") -> Tensor:
    """A 0/1 (or bool) tensor as a bool tensor; any other value is an error, not a cast."""
    if not isinstance(mask, Tensor):
        raise TypeError(f"{name} must be a tensor, got {describe(mask)}")
    if shape is not None and tuple(mask.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(mask.shape)}")
    if mask.dtype == torch.bool:
        return mask
    if mask.is_complex():
        raise TypeError(f"{name} must be bool or 0/1, got dtype {mask.dtype}")
    bad = (mask != 0) & (mask != 1)
    if bad.any():
        values = torch.unique(mask[bad])[:5].tolist()
        raise ValueError(f"{name} must hold only 0 and 1 (or True/False), got values {values}")
    return mask.bool()


def check_lengths(lengths: object, batch: int, max_len: int, name: str = "lengths") -> Tensor:
    """Sequence lengths as a (B,) long tensor with every value in [1, max_len]."""
    if isinstance(lengths, Sequence) and not isinstance(lengths, str):
        lengths = torch.as_tensor(list(lengths))
    if not isinstance(lengths, Tensor) or lengths.dim() != 1 or lengths.is_floating_point():
        raise TypeError(f"{name} must be a 1-D integer tensor or list, got {describe(lengths)}")
    if len(lengths) != batch:
        raise ValueError(f"{name} must hold one length per sequence ({batch}), got {len(lengths)}")
    if len(lengths) and (int(lengths.min()) < 1 or int(lengths.max()) > max_len):
        raise ValueError(
            f"{name} must lie in [1, {max_len}], got min {int(lengths.min())}, "
            f"max {int(lengths.max())}"
        )
    return lengths.long()


def mask_from_lengths(lengths: Tensor, max_len: int) -> Tensor:
    """(B, max_len) bool mask, True at the first `lengths[b]` positions of row b (the one place
    the book turns lengths into a mask)."""
    positions = torch.arange(max_len, device=lengths.device)
    return positions[None, :] < lengths[:, None]  # (B, T)
