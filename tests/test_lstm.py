"""seqbook.lstm against the six equations by hand and against torch.nn.LSTM (values, gradients)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from seqbook.checks.lstm import (
    check_last_hidden,
    check_lstm_num_parameters,
    check_reverse_padded,
    check_torch_layout_step,
)
from seqbook.lstm import GATES, LSTM, LSTMCell, reverse_padded

F64 = torch.float64


def _torch_run(m: nn.LSTM, x, lengths=None, state=None):
    """torch.nn.LSTM on a padded batch, through a packed sequence when lengths are given."""
    if lengths is None:
        return m(x, state)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, (h_n, c_n) = m(packed, state)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, (h_n, c_n)


def _torch_grad_of(ours_cell_grad: dict[str, torch.Tensor], H: int) -> tuple[torch.Tensor, ...]:
    """Our per-gate gradients restacked into torch's (i, f, g, o) layout."""
    W = torch.cat([ours_cell_grad[f"W_{g}"] for g in GATES])
    U = torch.cat([ours_cell_grad[f"U_{g}"] for g in GATES])
    b = torch.cat([ours_cell_grad[f"b_{g}"] for g in GATES])
    return W, U, b


# -- the cell -----------------------------------------------------------------------------------


def test_cell_matches_the_six_equations_by_hand():
    cell = LSTMCell(1, 1).double()
    values = {"i": (0.5, -1.0, 0.1), "f": (1.0, 0.5, 2.0), "o": (-0.5, 1.5, 0.0)}
    values["c"] = (2.0, 0.25, -0.3)
    with torch.no_grad():
        for g, (w, u, b) in values.items():
            getattr(cell, f"W_{g}").fill_(w)
            getattr(cell, f"U_{g}").fill_(u)
            getattr(cell, f"b_{g}").fill_(b)
    x, h_prev, c_prev = 0.8, -0.4, 1.5

    def sig(z):
        return 1 / (1 + math.exp(-z))

    def pre(g):
        w, u, b = values[g]
        return w * x + u * h_prev + b

    i, f, o, c_tilde = sig(pre("i")), sig(pre("f")), sig(pre("o")), math.tanh(pre("c"))
    c = f * c_prev + i * c_tilde
    h = o * math.tanh(c)
    to = lambda v: torch.tensor([[v]], dtype=F64)  # noqa: E731
    h_got, c_got = cell(to(x), (to(h_prev), to(c_prev)))
    assert c_got.item() == pytest.approx(c, abs=1e-12)
    assert h_got.item() == pytest.approx(h, abs=1e-12)


def test_cell_matches_torch_lstmcell():
    torch.manual_seed(0)
    ref = nn.LSTMCell(5, 4).double()
    cell = LSTMCell.from_torch(ref)
    x, h, c = (
        torch.randn(3, 5, dtype=F64),
        torch.randn(3, 4, dtype=F64),
        torch.randn(3, 4, dtype=F64),
    )
    for got, expected in zip(cell(x, (h, c)), ref(x, (h, c)), strict=True):
        torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)


def test_recurrent_step_equals_literal_cell_and_returns_its_gates():
    torch.manual_seed(1)
    cell = LSTMCell(3, 2).double()
    x, h, c = (
        torch.randn(4, 3, dtype=F64),
        torch.randn(4, 2, dtype=F64),
        torch.randn(4, 2, dtype=F64),
    )
    W, b = cell.input_weight()
    (h_step, c_step), gates = cell.recurrent_step(x @ W.T + b, (h, c), cell.recurrent_weight())
    h_lit, c_lit = cell(x, (h, c))
    torch.testing.assert_close(h_step, h_lit)
    torch.testing.assert_close(c_step, c_lit)
    torch.testing.assert_close(gates.f, torch.sigmoid(x @ cell.W_f.T + h @ cell.U_f.T + cell.b_f))
    torch.testing.assert_close(
        gates.c_tilde, torch.tanh(x @ cell.W_c.T + h @ cell.U_c.T + cell.b_c)
    )


def test_cell_trace_ends_in_the_lstm_final_state():
    torch.manual_seed(2)
    lstm = LSTM(3, 4).double()
    x = torch.randn(2, 6, 3, dtype=F64)
    trace = lstm.cells[0].trace(x)
    output, (h_n, c_n) = lstm(x)
    assert set(trace) == {"i", "f", "o", "c_tilde", "c", "h"}
    assert all(v.shape == (2, 6, 4) for v in trace.values())
    torch.testing.assert_close(trace["h"], output)
    torch.testing.assert_close(trace["c"][:, -1], c_n[0])
    torch.testing.assert_close(trace["h"], trace["o"] * torch.tanh(trace["c"]))


# -- the LSTM against torch.nn.LSTM --------------------------------------------------------------


def _use(lstm: LSTM, impl: str) -> LSTM:
    """Select an implementation: "python", "fused" (segments on a CPU) or "fused-packed"."""
    lstm.impl = "python" if impl == "python" else "fused"
    lstm.pack = impl == "fused-packed"
    return lstm


IMPL_IDS = ["python", "fused", "fused-packed"]


@pytest.mark.parametrize("impl", IMPL_IDS)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("padded", [False, True], ids=["full", "padded"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "initial_state"])
def test_lstm_matches_torch_values_and_gradients(
    num_layers, bidirectional, padded, with_state, impl
):
    torch.manual_seed(3)
    B, T, D, H = 4, 6, 3, 5
    dirs = 2 if bidirectional else 1
    ref = nn.LSTM(D, H, num_layers, batch_first=True, bidirectional=bidirectional).double()
    ours = _use(LSTM.from_torch(ref), impl)
    x = torch.randn(B, T, D, dtype=F64)
    lengths = torch.tensor([6, 2, 5, 1]) if padded else None
    state = None
    if with_state:
        state = tuple(torch.randn(num_layers * dirs, B, H, dtype=F64) for _ in range(2))

    results = []
    for model in (ours, ref):
        xg = x.clone().requires_grad_()
        sg = None if state is None else tuple(s.clone().requires_grad_() for s in state)
        run = _torch_run if model is ref else lambda m, *a: m(*a)
        out, (h_n, c_n) = run(model, xg, lengths, sg)
        g = torch.Generator().manual_seed(0)  # the same random loss weights for both models
        loss = sum(
            (t * torch.randn(t.shape, generator=g, dtype=F64)).sum() for t in (out, h_n, c_n)
        )
        loss.backward()
        results.append((out, h_n, c_n, xg.grad, sg))

    (o1, h1, c1, gx1, s1), (o2, h2, c2, gx2, s2) = results
    assert o1.shape == o2.shape == (B, T, dirs * H)
    assert h1.shape == h2.shape == c1.shape == (num_layers * dirs, B, H)
    for a, b in [(o1, o2), (h1, h2), (c1, c2), (gx1, gx2)]:
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)
    if with_state:
        for a, b in zip(s1, s2, strict=True):
            torch.testing.assert_close(a.grad, b.grad, atol=1e-12, rtol=1e-10)
    for k, cell in enumerate(ours.cells):
        suffix = f"l{k // dirs}" + ("_reverse" if k % dirs else "")
        W, U, b = _torch_grad_of({n: p.grad for n, p in cell.named_parameters()}, H)
        torch.testing.assert_close(W, getattr(ref, f"weight_ih_{suffix}").grad)
        torch.testing.assert_close(U, getattr(ref, f"weight_hh_{suffix}").grad)
        torch.testing.assert_close(b, getattr(ref, f"bias_ih_{suffix}").grad)


def test_lstm_matches_torch_float32_default_sizes():
    torch.manual_seed(4)
    ref = nn.LSTM(16, 32, num_layers=2, batch_first=True, bidirectional=True)
    ours = LSTM.from_torch(ref)
    x = torch.randn(8, 20, 16)
    out, (h_n, c_n) = ours(x)
    out_ref, (h_ref, c_ref) = ref(x)
    torch.testing.assert_close(out, out_ref, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(h_n, h_ref, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(c_n, c_ref, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("impl", IMPL_IDS)
def test_padded_outputs_are_zero_and_padding_content_is_ignored(impl):
    torch.manual_seed(5)
    lstm = _use(LSTM(3, 4, num_layers=2, bidirectional=True).double(), impl)
    x = torch.randn(3, 7, 3, dtype=F64)
    lengths = torch.tensor([7, 4, 2])
    out, (h_n, c_n) = lstm(x, lengths)
    pad = torch.arange(7) >= lengths[:, None]  # (B, T)
    assert out[pad].abs().max() == 0
    assert out[~pad].abs().min() > 0
    garbage = x.clone()
    garbage[pad] = 1e3
    out2, (h2, c2) = lstm(garbage, lengths)
    torch.testing.assert_close(out2, out, atol=0, rtol=0)
    torch.testing.assert_close(h2, h_n, atol=0, rtol=0)


def test_backward_direction_starts_at_each_sequences_last_token():
    torch.manual_seed(6)
    lstm = LSTM(2, 3, bidirectional=True).double()
    x = torch.randn(1, 5, 2, dtype=F64)
    short, _ = lstm(x[:, :3])  # the same sequence without padding
    padded, _ = lstm(x, torch.tensor([3]))
    torch.testing.assert_close(padded[:, :3], short)


def test_hoisted_and_unhoisted_input_projection_agree():
    torch.manual_seed(7)
    lstm = LSTM(3, 4, num_layers=2, bidirectional=True).double()
    x = torch.randn(2, 5, 3, dtype=F64, requires_grad=True)
    lengths = torch.tensor([5, 3])
    out_hoisted, _ = lstm(x, lengths)
    (grad_hoisted,) = torch.autograd.grad(out_hoisted.sum(), x)
    lstm.hoist_input_projection = False
    out_step, _ = lstm(x, lengths)
    (grad_step,) = torch.autograd.grad(out_step.sum(), x)
    torch.testing.assert_close(out_step, out_hoisted)
    torch.testing.assert_close(grad_step, grad_hoisted)


def test_dropout_acts_between_layers_only_in_training():
    torch.manual_seed(8)
    ref = nn.LSTM(3, 4, num_layers=2, batch_first=True, dropout=0.5).eval()
    ours = LSTM.from_torch(ref)
    assert not ours.training and ours.dropout.p == 0.5
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(ours(x)[0], ref(x)[0])  # eval: dropout is off
    ours.train()
    dropped, (h_n, _) = ours(x)
    assert not torch.allclose(dropped, ref(x)[0])
    # the first layer's final state is computed before any dropout
    torch.testing.assert_close(h_n[0], ref(x)[1][0][0])


def test_from_torch_copies_time_first_models_and_models_without_bias():
    torch.manual_seed(9)
    ref = nn.LSTM(3, 4, bias=False)  # time-first, no biases
    ours = LSTM.from_torch(ref)
    x = torch.randn(2, 5, 3)  # (B, T, D) for ours; torch wants (T, B, D)
    out_ref, _ = ref(x.transpose(0, 1))
    torch.testing.assert_close(ours(x)[0], out_ref.transpose(0, 1))
    assert ours.cells[0].b_i.abs().max() == 0


def test_from_torch_rejects_projections_and_other_modules():
    with pytest.raises(ValueError, match="proj_size"):
        LSTM.from_torch(nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(TypeError, match="torch.nn.LSTM"):
        LSTM.from_torch(nn.GRU(3, 4))


def test_reverse_padded_reverses_within_each_length():
    x = torch.arange(8.0).view(2, 4, 1)
    y = reverse_padded(x, torch.tensor([4, 2]))
    assert y[..., 0].tolist() == [[3.0, 2.0, 1.0, 0.0], [5.0, 4.0, 6.0, 7.0]]


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, match",
    [((2, 5, 4), r"x must have shape \(B, T, 3\).*got \(2, 5, 4\)"), ((5, 3), "unsqueeze")],
    ids=["wrong_feature_size", "unbatched"],
)
def test_wrong_input_size_names_x_and_the_expected_shape(shape, match):
    with pytest.raises(ValueError, match=match):
        LSTM(3, 4)(torch.randn(*shape))


@pytest.mark.parametrize(
    "lengths, match",
    [
        (torch.tensor([5, 0]), r"lengths must lie in \[1, 5\].*\[5, 0\]"),
        (torch.tensor([6, 2]), r"lengths must lie in \[1, 5\].*\[6, 2\]"),
        (torch.tensor([5, 2, 1]), r"lengths must have shape \(2,\).*\(3,\)"),
        (torch.tensor([[5, 2]]), r"lengths must have shape \(2,\)"),
        (torch.tensor([5.0, 2.0]), "lengths must be an integer tensor, got dtype torch.float32"),
    ],
    ids=["zero", "longer_than_time_dimension", "wrong_batch", "two_dimensional", "float_dtype"],
)
def test_invalid_lengths_raise_value_error_naming_lengths(lengths, match):
    with pytest.raises(ValueError, match=match):
        LSTM(3, 4)(torch.randn(2, 5, 3), lengths)


def test_lengths_as_a_python_list_are_accepted():
    lstm = LSTM(3, 4)
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(lstm(x, [5, 2])[0], lstm(x, torch.tensor([5, 2]))[0])


@pytest.mark.parametrize(
    "state, match",
    [
        ((torch.zeros(2, 2, 4), torch.zeros(2, 2, 4)), r"h_0 must have shape \(4, 2, 4\)"),
        ((torch.zeros(4, 2, 4), torch.zeros(4, 3, 4)), r"c_0 must have shape \(4, 2, 4\)"),
        (torch.zeros(4, 2, 4), r"state must be a pair \(h_0, c_0\)"),
    ],
    ids=["h0_missing_directions", "c0_wrong_batch", "not_a_pair"],
)
def test_wrong_state_shapes_raise_value_error(state, match):
    lstm = LSTM(3, 4, num_layers=2, bidirectional=True)
    with pytest.raises(ValueError, match=match):
        lstm(torch.randn(2, 5, 3), state=state)


def test_dtype_mismatches_raise_value_error():
    lstm = LSTM(3, 4)
    with pytest.raises(ValueError, match="x must have the dtype of the LSTM's weights"):
        lstm(torch.randn(2, 5, 3, dtype=F64))
    state = (torch.zeros(1, 2, 4, dtype=F64), torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="state h_0 must have the dtype of x"):
        lstm(torch.randn(2, 5, 3), state=state)
    with pytest.raises(ValueError, match="x must be a floating-point tensor"):
        lstm(torch.ones(2, 5, 3, dtype=torch.long))


@pytest.mark.parametrize("impl", IMPL_IDS)
def test_mixed_dtypes_are_accepted_under_autocast(impl):
    lstm = _use(LSTM(3, 4, num_layers=2), impl)
    x = torch.randn(2, 5, 3, dtype=torch.bfloat16)  # e.g. the output of an autocast encoder
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, (h_n, _) = lstm(x, torch.tensor([5, 2]))
    assert out.shape == (2, 5, 4) and h_n.shape == (2, 2, 4)
    assert torch.isfinite(out).all()


# -- the fused path: the same weights on torch's kernel ------------------------------------------


def _outputs_and_grads(lstm: LSTM, x, lengths, state, seed: int = 0):
    """Outputs, h_n, c_n and the gradients (input, state, every parameter) of one random loss."""
    lstm.zero_grad()
    x = x.clone().requires_grad_()
    state = tuple(s.clone().requires_grad_() for s in state)
    torch.manual_seed(seed)  # the same dropout masks for every implementation
    out, (h_n, c_n) = lstm(x, lengths, state)
    g = torch.Generator().manual_seed(1)
    loss = sum(
        (t * torch.randn(t.shape, generator=g, dtype=t.dtype)).sum() for t in (out, h_n, c_n)
    )
    loss.backward()
    return [out, h_n, c_n, x.grad, *(s.grad for s in state), *(p.grad for p in lstm.parameters())]


@pytest.mark.parametrize("impl", ["fused", "fused-packed"])
def test_fused_equals_python_path_in_values_and_gradients_with_dropout(impl):
    # 2 layers, both directions, many distinct lengths (one stretch of the kernel each), an
    # initial state, and dropout between the layers in training mode: identical masks, because
    # both paths draw them from the same nn.Dropout
    torch.manual_seed(11)
    B, T, D, H = 9, 13, 4, 6
    lstm = LSTM(D, H, num_layers=2, bidirectional=True, dropout=0.3).double().train()
    x = torch.randn(B, T, D, dtype=F64)
    lengths = torch.tensor([13, 1, 7, 7, 12, 3, 13, 2, 9])
    state = tuple(torch.randn(4, B, H, dtype=F64) for _ in "hc")
    python = _outputs_and_grads(_use(lstm, "python"), x, lengths, state)
    fused = _outputs_and_grads(_use(lstm, impl), x, lengths, state)
    assert len(python) == len(fused) == 6 + 4 * 12
    for a, b in zip(python, fused, strict=True):
        torch.testing.assert_close(b, a, atol=1e-12, rtol=1e-10)


def test_fused_path_keeps_parameters_state_dict_and_default_repr():
    python = LSTM(3, 4, num_layers=2, bidirectional=True)
    fused = LSTM(3, 4, num_layers=2, bidirectional=True, impl="fused")
    assert [n for n, _ in python.named_parameters()] == [n for n, _ in fused.named_parameters()]
    fused.load_state_dict(python.state_dict())  # the same keys: a checkpoint serves both
    assert "impl" not in repr(python) and "impl='fused'" in repr(fused)
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(fused(x, [5, 2])[0], python(x, [5, 2])[0])


def test_to_torch_shares_memory_so_training_either_trains_both():
    torch.manual_seed(12)
    ours = LSTM(3, 4, num_layers=2, bidirectional=True).double()
    twin = ours.to_torch()
    assert isinstance(twin, nn.LSTM) and twin.batch_first and twin is ours.to_torch()
    assert twin.weight_ih_l1_reverse.data_ptr() == ours.cells[3].W_i.data_ptr()
    assert twin.bias_hh_l0.abs().max() == 0 and not twin.bias_hh_l0.requires_grad
    x = torch.randn(3, 6, 3, dtype=F64)
    lengths = torch.tensor([6, 2, 4])
    torch.testing.assert_close(_torch_run(twin, x, lengths)[0], ours(x, lengths)[0])
    # a step of an optimizer on ours changes torch's module ...
    before = twin.weight_hh_l0.detach().clone()
    optimizer = torch.optim.SGD(ours.parameters(), lr=0.1)
    ours(x, lengths)[0].sum().backward()
    optimizer.step()
    assert not torch.equal(twin.weight_hh_l0, before)
    torch.testing.assert_close(twin.weight_hh_l0[:4], ours.cells[0].U_i)
    # ... and a step on torch's module changes ours
    before = ours.cells[2].W_c.detach().clone()
    trainable = [p for p in twin.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.1)
    _torch_run(twin, x, lengths)[0].sum().backward()
    optimizer.step()
    assert not torch.equal(ours.cells[2].W_c, before)
    torch.testing.assert_close(twin.weight_ih_l1[8:12], ours.cells[2].W_c)
    torch.testing.assert_close(_torch_run(twin, x, lengths)[0], ours(x, lengths)[0])


def test_to_torch_stays_tied_after_moving_and_ties_again_after_replacing():
    ours = LSTM(3, 4)
    twin = ours.to_torch()
    ours.double()  # every parameter gets new memory; the module ties them again
    assert twin.weight_ih_l0.dtype == F64
    assert twin.weight_ih_l0.data_ptr() == ours.cells[0].W_i.data_ptr()
    import copy

    clone = copy.deepcopy(ours)  # deepcopy gives each parameter its own memory
    with torch.no_grad():
        clone.cells[0].b_f.fill_(2.0)
    assert clone.to_torch().bias_ih_l0[4:8].eq(2.0).all()  # tied again on demand
    assert ours.to_torch().bias_ih_l0[4:8].ne(2.0).all()  # the original is untouched


def test_invalid_impl_raises_value_error():
    with pytest.raises(ValueError, match=r"impl must be one of \('python', 'fused'\), got 'cuda'"):
        LSTM(3, 4, impl="cuda")
    lstm = LSTM(3, 4)
    with pytest.raises(ValueError, match="impl must be one of"):
        lstm.impl = "fast"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hidden_size": 0}, "hidden_size must be a positive int"),
        ({"num_layers": 0}, "num_layers must be a positive int"),
        ({"dropout": 1.5}, r"dropout must be a float in \[0, 1\]"),
    ],
)
def test_invalid_options_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LSTM(**{"input_size": 3, "hidden_size": 4, **kwargs})


# -- exercise checks ------------------------------------------------------------------------------


def _torch_layout_step(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    i, f, g, o = (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def test_checks_pass_correct_solutions():
    assert check_torch_layout_step(_torch_layout_step).ok
    assert check_reverse_padded(reverse_padded).ok
    count = lambda d, h, layers, bi: sum(  # noqa: E731
        (1 + bi) * (4 * h * ((d if k == 0 else (1 + bi) * h) + h + 2)) for k in range(layers)
    )
    assert check_lstm_num_parameters(count).ok
    last = lambda out, lengths: out[torch.arange(len(lengths)), lengths - 1]  # noqa: E731
    assert check_last_hidden(last).ok


def test_checks_catch_typical_mistakes():
    def wrong_gate_order(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
        i, f, o, g = (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    report = check_torch_layout_step(wrong_gate_order)
    assert report.passed == 0 and "gate order" in str(report)
    assert not check_reverse_padded(lambda x, lengths: x.flip(1)).ok
    one_bias = lambda d, h, layers, bi: (1 + bi) * layers * 4 * h * (d + h + 1)  # noqa: E731
    assert check_lstm_num_parameters(one_bias).passed == 0
    assert not check_last_hidden(lambda out, lengths: out[:, -1]).ok

    def unfinished(*args):
        raise NotImplementedError

    assert "not implemented yet" in str(check_reverse_padded(unfinished))


# -- CUDA -----------------------------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_lstm_matches_torch_on_cuda():
    torch.manual_seed(10)
    ref = nn.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True).cuda().double()
    ours = LSTM.from_torch(ref)
    assert ours.cells[0].W_i.is_cuda
    x = torch.randn(3, 9, 8, device="cuda", dtype=F64)
    lengths = torch.tensor([9, 4, 1])
    out, (h_n, c_n) = ours(x, lengths.cuda())
    out_ref, (h_ref, c_ref) = _torch_run(ref, x, lengths)
    torch.testing.assert_close(out, out_ref)
    torch.testing.assert_close(h_n, h_ref)
    torch.testing.assert_close(c_n, c_ref)


def test_copying_weights_that_are_not_tensors_names_them():
    with pytest.raises(TypeError, match=r"weight_ih must be a tensor of shape \(12, 2\), got list"):
        LSTMCell(2, 3).copy_torch_weights([1.0], torch.zeros(12, 3), None, None)


@pytest.mark.parametrize("impl", ["python", "fused"])
def test_the_unchecked_path_gives_what_forward_gives(impl):
    """`_forward` is what a model that has checked its inputs calls: the same numbers."""
    from seqbook.validate import mask_from_lengths

    torch.manual_seed(0)
    lstm = LSTM(3, 4, num_layers=2, bidirectional=True, impl=impl)
    x, lengths = torch.randn(3, 5, 3), torch.tensor([5, 2, 4])
    got, (h, c) = lstm._forward(x, mask_from_lengths(lengths, 5))
    want, (h_want, c_want) = lstm(x, lengths)
    assert torch.equal(got, want) and torch.equal(h, h_want) and torch.equal(c, c_want)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("impl", ["python", "fused"])
def test_layer_outputs_are_the_stack_of_single_layers(impl, seed):
    """eq-bilstm-stack: layer l of a stacked LSTM is a one-layer LSTM with layer l's weights
    reading layer l - 1's outputs; the last layer's output is forward's output."""
    torch.manual_seed(seed)
    stacked = LSTM(3, 4, num_layers=3, bidirectional=True, impl=impl).double().eval()
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    lengths = torch.randint(1, 7, (3,))
    layers = stacked.layer_outputs(x, lengths)
    assert [tuple(t.shape) for t in layers] == [(3, 6, 8)] * 3
    assert torch.equal(layers[-1], stacked(x, lengths)[0])
    inputs = x
    for layer in range(3):
        single = LSTM(inputs.shape[-1], 4, bidirectional=True, impl=impl).double()
        for d in range(2):
            single.cells[d].load_state_dict(stacked.cells[2 * layer + d].state_dict())
        inputs = single(inputs, lengths)[0]
        torch.testing.assert_close(layers[layer], inputs, rtol=0, atol=1e-12)


def test_layer_outputs_refuse_what_forward_refuses():
    lstm = LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match="x must"):
        lstm.layer_outputs(torch.zeros(2, 5, 4))
    with pytest.raises(ValueError, match="dtype"):
        lstm.layer_outputs(torch.zeros(2, 5, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="lengths"):
        lstm.layer_outputs(torch.zeros(2, 5, 3), lengths=[6, 2])


# --------------------------------------------------------------------------- bad input, refused
def test_cell_refuses_an_unbatched_input_that_would_broadcast():
    cell = LSTMCell(3, 2)
    state = (torch.zeros(4, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, D=3\) \(one time step\)"):
        cell(torch.ones(3), state)


def test_cell_refuses_a_state_that_would_broadcast():
    # an (H,) state used to be broadcast over the batch without a word
    cell = LSTMCell(3, 2)
    with pytest.raises(
        ValueError, match=r"state h_0 must have shape \(4, 2\) \(B, H\), got \(2,\)"
    ):
        cell(torch.ones(4, 3), (torch.zeros(2), torch.zeros(2)))


def test_cell_trace_refuses_a_state_of_the_wrong_shape():
    cell = LSTMCell(3, 2)
    with pytest.raises(ValueError, match=r"state c_0 must have shape \(4, 2\)"):
        cell.trace(torch.ones(4, 5, 3), (torch.zeros(4, 2), torch.zeros(1, 2)))
