"""seqbook.validate: the public entry points' input checks."""

import numpy as np
import pytest
import torch

from seqbook import validate


def test_check_mask_accepts_bool_and_zero_one_and_rejects_other_values():
    assert validate.check_mask(torch.tensor([[1, 0]])).dtype == torch.bool
    assert validate.check_mask(torch.tensor([[1.0, 0.0]])).tolist() == [[True, False]]
    with pytest.raises(ValueError, match=r"mask must hold only 0 and 1 .* got values \[2\]"):
        validate.check_mask(torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match=r"mask must hold only 0 and 1 .* got values \[0.5"):
        validate.check_mask(torch.tensor([[0.5, 1.0]]))
    with pytest.raises(ValueError, match=r"attention_mask must have shape \(1, 3\), got \(1, 2\)"):
        validate.check_mask(torch.ones(1, 2), shape=(1, 3), name="attention_mask")
    with pytest.raises(TypeError, match="mask must be a tensor, got list"):
        validate.check_mask([[1, 0]])


def test_check_lengths_names_the_bad_values():
    assert validate.check_lengths([3, 1], batch=2, max_len=3).tolist() == [3, 1]
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 3\], got min 0, max 4"):
        validate.check_lengths(torch.tensor([0, 4]), batch=2, max_len=3)
    with pytest.raises(ValueError, match=r"one length per sequence \(3\), got 2"):
        validate.check_lengths([1, 2], batch=3, max_len=3)
    with pytest.raises(TypeError, match="1-D integer tensor"):
        validate.check_lengths(torch.tensor([1.0, 2.0]), batch=2, max_len=3)


def test_mask_from_lengths():
    mask = validate.mask_from_lengths(torch.tensor([2, 0, 3]), 3)
    assert mask.tolist() == [[True, True, False], [False, False, False], [True, True, True]]


def test_check_labels_takes_numpy_and_rejects_fractions():
    assert validate.check_labels(np.array([0, 1, 2]), num_classes=3) == [0, 1, 2]
    with pytest.raises(ValueError, match=r"y\[1\] must be an integer class id, got 0.5"):
        validate.check_labels([1, 0.5], name="y")
    with pytest.raises(TypeError, match="labels must be a sequence of class ids, got a str"):
        validate.check_labels("01")


def test_describe():
    assert validate.describe(torch.zeros(2, 3)) == "Tensor of shape (2, 3) and dtype torch.float32"
    assert validate.describe([1]) == "list"
