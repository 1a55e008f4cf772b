"""seqbook.validate: the public entry points' input checks."""

import re
from pathlib import Path

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
    with pytest.raises(ValueError, match=r"mask must have shape \(B=2, T\), got \(1, 2\)"):
        validate.check_mask(torch.ones(1, 2), "B, T", B=2)
    with pytest.raises(TypeError, match="mask must be a tensor, got list"):
        validate.check_mask([[1, 0]])


def test_check_lengths_names_the_bad_values():
    assert validate.check_lengths([3, 1], batch=2, max_len=3).tolist() == [3, 1]
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 3\], got \[0, 4\]"):
        validate.check_lengths(torch.tensor([0, 4]), batch=2, max_len=3)
    with pytest.raises(ValueError, match=r"lengths must have shape \(3,\) .*, got \(2,\)"):
        validate.check_lengths([1, 2], batch=3, max_len=3)
    with pytest.raises(
        TypeError, match="lengths must be an integer tensor, got dtype torch.float32"
    ):
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


# ----------------------------------------------------------------------------- tensors


def test_check_tensor_reads_shapes_as_the_docstrings_write_them():
    x = torch.zeros(2, 5, 8)
    assert validate.check_tensor(x, "x", "B, T, dim", dim=8, dtype="float") is x
    assert validate.check_tensor(x, "x", "..., T_q, d_k") is x  # any leading dimensions
    assert validate.check_tensor(x, "x", "B, T, ...") is x  # any trailing dimensions
    assert validate.check_tensor(x, "x", (2, 5, 8)) is x
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, dim=4\), got \(2, 5, 8\)"):
        validate.check_tensor(x, "x", "B, T, dim", dim=4)
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, 8\) \(batch first\)"):
        validate.check_tensor(torch.zeros(5, 8, 2), "x", "B, T, 8", hint=" (batch first)")
    with pytest.raises(
        ValueError, match=r"got \(5, 8\) \(a single sequence\? use .unsqueeze\(0\)\)"
    ):
        validate.check_tensor(torch.zeros(5, 8), "x", "B, T, 8")
    with pytest.raises(ValueError, match=r"query must have shape \(..., T_q, d_k\), got \(3,\)"):
        validate.check_tensor(torch.zeros(3), "query", "..., T_q, d_k")
    with pytest.raises(TypeError, match=r"x must be a tensor of shape \(B, T\), got list"):
        validate.check_tensor([[1]], "x", "B, T")
    with pytest.raises(
        TypeError, match="ids must be an integer tensor .int64 or int32., got dtype"
    ):
        validate.check_tensor(torch.zeros(2, 3, dtype=torch.int16), "ids", dtype="index")
    with pytest.raises(TypeError, match="x must be a floating-point tensor, got dtype torch.int64"):
        validate.check_tensor(torch.zeros(2, dtype=torch.long), "x", dtype="float")


def test_input_type_error_is_both_a_type_error_and_a_value_error():
    """The model modules raised ValueError for a wrong dtype before their checks moved here."""
    for error in (TypeError, ValueError):
        with pytest.raises(error, match="lengths must be an integer tensor"):
            validate.check_lengths(torch.tensor([1.5]), 1, 2)


def test_check_ids_names_the_range_the_dtype_and_the_shape():
    ids = torch.tensor([[1, 2], [3, 0]])
    assert validate.check_ids(ids, "input_ids", 4) is ids
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, 3\), got values from 0 to 3"):
        validate.check_ids(ids, "input_ids", 3, of=" (the vocabulary size)")
    with pytest.raises(TypeError, match="input_ids must be an integer tensor"):
        validate.check_ids(ids.float(), "input_ids", 4)
    with pytest.raises(ValueError, match=r"token_type_ids must have shape \(B=3, T=2\)"):
        validate.check_ids(ids, "token_type_ids", 2, B=3, T=2)


def test_check_same_and_check_fraction():
    validate.check_same("batch size", query=2, key=2)
    with pytest.raises(ValueError, match="query, key and value must have the same batch size, got"):
        validate.check_same("batch size", query=2, key=3, value=3)
    assert validate.check_fraction("dropout", 0) == 0.0
    assert validate.check_fraction("p", 1, allow_one=True) == 1.0
    with pytest.raises(ValueError, match=r"dropout must be a float in \[0, 1\), got 1"):
        validate.check_fraction("dropout", 1)
    with pytest.raises(TypeError, match=r"dropout must be a float in \[0, 1\), got str"):
        validate.check_fraction("dropout", "0.1")
    with pytest.raises(TypeError, match="got bool"):
        validate.check_fraction("dropout", True)


def test_check_mask_bool_only_says_what_true_means():
    mask = torch.ones(2, 3, dtype=torch.bool)
    assert validate.check_mask(mask, "B, T", bool_only=True, B=2) is mask
    with pytest.raises(TypeError, match=r"kpm must be a bool tensor \(True = padding\), got dtype"):
        validate.check_mask(mask.long(), name="kpm", bool_only=True, meaning="padding")
    with pytest.raises(
        TypeError, match=r"mask must be a bool tensor \(True = real token\), got list"
    ):
        validate.check_mask([[True]], bool_only=True)


def test_check_lengths_takes_lists_and_a_lower_bound():
    assert validate.check_lengths([2, 0], low=0).tolist() == [2, 0]
    with pytest.raises(ValueError, match=r"lengths must be at least 0, got \[2, -1\]"):
        validate.check_lengths([2, -1], low=0)
    with pytest.raises(ValueError, match=r"lengths must have shape \(B,\)"):
        validate.check_lengths(torch.ones(1, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="lengths must be a 1-D integer tensor or list, got list"):
        validate.check_lengths([[1, 2], [3]])
    with pytest.raises(
        ValueError, match=r"n must lie in \[1, 2\] \(T\), got \[1, 2, 3, 1, 1, 1, 1, 1, \.\.\.\]"
    ):
        validate.check_lengths([1, 2, 3] + [1] * 7, 10, 2, name="n", of=" (T)")


def test_check_mask_matches_lengths_names_the_rows():
    lengths = torch.tensor([3, 1])
    validate.check_mask_matches_lengths(validate.mask_from_lengths(lengths, 3), lengths)
    with pytest.raises(
        ValueError,
        match=r"mask and lengths disagree in rows \[1\]: .* it has \[2\] True values and lengths "
        r"says \[1\]",
    ):
        validate.check_mask_matches_lengths(torch.tensor([[1, 1, 1], [1, 1, 0]]).bool(), lengths)


def test_check_labels_without_num_classes_and_with_tensor_items():
    assert validate.check_labels([torch.tensor(1), 7, 2.0], num_classes=None) == [1, 7, 2]
    with pytest.raises(ValueError, match=r"labels\[0\] must lie in \[0, inf\), got -1"):
        validate.check_labels([-1], num_classes=None)
    with pytest.raises(ValueError, match=r"labels\[1\] must be an integer class id, got 0.5"):
        validate.check_labels([1, torch.tensor(0.5)], num_classes=None)


# ----------------------------------------------------------------------------- one lengths -> mask

SRC = Path(validate.__file__).parent


def test_lengths_become_a_mask_only_in_validate():
    """`arange(T) < lengths[:, None]` is written once, in `mask_from_lengths` (the exercise
    checkers in seqbook/checks keep their own independent references)."""
    pattern = re.compile(r"<\s*lengths\b")
    found = [
        f"{path.name}:{i}"
        for path in sorted(SRC.glob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert len(found) == 1 and found[0].startswith("validate.py:"), found


def test_the_modules_turn_lengths_into_masks_with_mask_from_lengths(monkeypatch):
    from seqbook import attention, data, fusion, lstm, models

    calls = []

    def spy(lengths, max_len):
        calls.append(max_len)
        return validate.mask_from_lengths(lengths, max_len)

    for module in (attention, data, fusion, lstm, models):
        assert module.mask_from_lengths is validate.mask_from_lengths
        monkeypatch.setattr(module, "mask_from_lengths", spy)
    lengths = torch.tensor([3, 1])
    attention.padding_mask(lengths, 4)
    lstm.LSTM(2, 3)(torch.zeros(2, 5, 2), lengths)
    models.lengths_from_mask(torch.tensor([[1, 1, 0]]))
    models.BiLSTMClassifier(5, 2, hidden_size=2)(torch.ones(2, 6, dtype=torch.long), lengths)
    fusion.FusionClassifier(fusion.ConcatFusion(2, 1))(
        torch.zeros(2, 7, 2), torch.zeros(2, 7, 1), lengths=lengths
    )
    fusion.collate_fusion([(torch.zeros(2, 2), torch.zeros(2, 1), 0)])
    assert calls == [4, 5, 3, 6, 7, 2]


# --------------------------------------------------------------------------- the next class
def test_check_labels_refuses_one_number_instead_of_a_sequence():
    with pytest.raises(TypeError, match="labels must be a sequence of class ids, got int"):
        validate.check_labels(5)


def test_check_labels_refuses_a_column_of_labels():
    with pytest.raises(ValueError, match=r"labels must be 1-D .* got shape \(2, 1\)"):
        validate.check_labels(torch.tensor([[0], [1]]))


def test_check_labels_accepts_integral_numpy_floats_like_python_floats():
    assert validate.check_labels([np.float32(1.0), 0.0, np.float64(1.0)]) == [1, 0, 1]


def test_check_token_lists_refuses_what_does_not_iterate():
    with pytest.raises(TypeError, match="token_lists must be a list of token lists, got int"):
        validate.check_token_lists(5)
    with pytest.raises(TypeError, match=r"token_lists\[1\] must be a list of tokens, got int"):
        validate.check_token_lists([["a"], 3])


def test_check_int_takes_numpy_integers_and_refuses_bools_and_floats():
    assert validate.check_int("seed", np.int64(3)) == 3 and validate.check_int("n", 0) == 0
    for bad in (True, 2.0, "2"):
        with pytest.raises(TypeError, match="seed must be an int >= 0"):
            validate.check_int("seed", bad)
    with pytest.raises(ValueError, match="n must be an int >= 1, got 0"):
        validate.check_int("n", 0, low=1)


def test_check_number_takes_numpy_floats_and_refuses_nan_bools_and_tensors():
    assert validate.check_number("lr", np.float32(0.5)) == 0.5
    with pytest.raises(ValueError, match="lr must be a finite number, got nan"):
        validate.check_number("lr", float("nan"))
    with pytest.raises(ValueError, match="norm must be a positive, finite number, got 0"):
        validate.check_number("norm", 0, positive=True)
    with pytest.raises(TypeError, match="lr must be a number, got bool"):
        validate.check_number("lr", True)
    with pytest.raises(TypeError, match=r"call \.item\(\)"):
        validate.check_number("lr", torch.tensor(0.5))


def test_check_strs_refuses_one_str_and_items_of_another_type():
    assert validate.check_strs(np.array(["a", "b"], dtype=object), "words") == ["a", "b"]
    with pytest.raises(TypeError, match="words must be a list of str, got a single str 'ab'"):
        validate.check_strs("ab", "words")
    with pytest.raises(TypeError, match=r"words\[1\] must be a str, got int 3 \(a hint\)"):
        validate.check_strs(["a", 3], "words", hint=" (a hint)")
    with pytest.raises(TypeError, match="words must be a list of str, got Tensor"):
        validate.check_strs(torch.tensor([1, 2]), "words")
