"""The LSTM of Hochreiter & Schmidhuber (1997) with the forget gate of Gers et al. (2000).

`LSTMCell.forward` is the six equations of the LSTM chapter, one line each, with the weights named
as in the equations (`W_i`, `U_i`, `b_i`, ...). `LSTM` stacks cells into layers and directions and
gives exactly what `torch.nn.LSTM(batch_first=True)` gives, padded batches included.

One deliberate difference from the literal cell: `LSTM` computes the input terms W x_t + b of all
time steps in one matrix product before the time loop ("hoisting", `hoist_input_projection=True`),
because they do not depend on the recurrent state. Only U h_{t-1} has to wait for the previous
step. Set `hoist_input_projection=False` to project inside the loop instead (for the benchmark).

Two implementations, one set of weights. `impl="python"` (the default) is the teaching path: the
loop over time steps above, in Python. `impl="fused"` runs the same weights through torch's C++
kernel (`torch.nn.LSTM`), which is faster; the classifiers use it to train on every review. The
weights live in one place: each cell's W_*, U_*, b_* are the parameters, laid out in memory as
the row blocks of torch's stacked matrices, so `LSTM.to_torch()` returns a `torch.nn.LSTM` that
holds the same memory (not a copy): training either one changes the other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from seqbook.validate import (
    check_fraction,
    check_lengths,
    check_positive_ints,
    check_tensor,
    describe,
    mask_from_lengths,
)

State = tuple[Tensor, Tensor]  # (h, c)

# Our gate order when the four gates are stacked into one matrix. It is PyTorch's (i, f, g, o),
# with g = c~ the candidate, so `from_torch` copies blocks without reordering.
GATES = ("i", "f", "c", "o")
IMPLS = ("python", "fused")
TORCH_BLOCKS = (
    "weight_ih",
    "weight_hh",
    "bias_ih",
)  # torch's names for the stacked W, U, b  # the teaching loop, torch's kernel on the same weights


class Gates(NamedTuple):
    """The four gate activations of one time step, each (B, H)."""

    i: Tensor  # input gate, eq. (eq-lstm-input)
    f: Tensor  # forget gate, eq. (eq-lstm-forget)
    o: Tensor  # output gate, eq. (eq-lstm-output)
    c_tilde: Tensor  # candidate cell, eq. (eq-lstm-candidate)


class LSTMCell(nn.Module):
    """One LSTM time step; weights named as in eqs. (eq-lstm-input) to (eq-lstm-hidden).

    W_* (H, D) act on the input x_t, U_* (H, H) on the previous hidden state, b_* (H,) are biases.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        check_positive_ints(input_size=input_size, hidden_size=hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        for g in GATES:
            setattr(self, f"W_{g}", nn.Parameter(torch.empty(hidden_size, input_size)))
            setattr(self, f"U_{g}", nn.Parameter(torch.empty(hidden_size, hidden_size)))
            setattr(self, f"b_{g}", nn.Parameter(torch.empty(hidden_size)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)) for every weight and bias, as `torch.nn.LSTM` does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x_t: Tensor, state: State) -> State:
        """One step, eqs. (eq-lstm-input) to (eq-lstm-hidden): (x_t, (h, c)) -> (h_t, c_t)."""
        x_t = check_tensor(
            x_t, "x_t", "B, D", dtype="float", hint=" (one time step)", D=self.input_size
        )
        h_prev, c_prev = _check_state(state, (x_t.shape[0], self.hidden_size), None, "(B, H)")
        i = torch.sigmoid(x_t @ self.W_i.T + h_prev @ self.U_i.T + self.b_i)  # eq-lstm-input
        f = torch.sigmoid(x_t @ self.W_f.T + h_prev @ self.U_f.T + self.b_f)  # eq-lstm-forget
        o = torch.sigmoid(x_t @ self.W_o.T + h_prev @ self.U_o.T + self.b_o)  # eq-lstm-output
        c_tilde = torch.tanh(x_t @ self.W_c.T + h_prev @ self.U_c.T + self.b_c)  # candidate
        c = f * c_prev + i * c_tilde  # eq-lstm-cell
        h = o * torch.tanh(c)  # eq-lstm-hidden
        return h, c

    # -- the same equations, split so that the input terms can be computed ahead of time --------

    def input_weight(self) -> tuple[Tensor, Tensor]:
        """W_* and b_* stacked in `GATES` order: W (4H, D), b (4H,). Then W x_t + b (B, 4H) holds
        the input terms of eqs. (eq-lstm-input) to (eq-lstm-candidate) for all four gates."""
        W = torch.cat([self.W_i, self.W_f, self.W_c, self.W_o])
        b = torch.cat([self.b_i, self.b_f, self.b_c, self.b_o])
        return W, b

    def recurrent_weight(self) -> Tensor:
        """U_* stacked in `GATES` order: (4H, H). Build it once per sequence, not once per step."""
        return torch.cat([self.U_i, self.U_f, self.U_c, self.U_o])

    def recurrent_step(self, wx_t: Tensor, state: State, U: Tensor) -> tuple[State, Gates]:
        """Eqs. (eq-lstm-input) to (eq-lstm-hidden) given the input terms wx_t = x_t W^T + b (B, 4H)
        and U = `recurrent_weight()`: one (B, H) x (H, 4H) product covers the four U_* terms.

        Returns ((h_t, c_t), gates).
        """
        h_prev, c_prev = state
        z_i, z_f, z_c, z_o = (wx_t + h_prev @ U.T).chunk(4, dim=-1)  # 4 x (B, H)
        gates = Gates(torch.sigmoid(z_i), torch.sigmoid(z_f), torch.sigmoid(z_o), torch.tanh(z_c))
        c = gates.f * c_prev + gates.i * gates.c_tilde
        h = gates.o * torch.tanh(c)
        return (h, c), gates

    @torch.no_grad()
    def trace(self, x: Tensor, state: State | None = None) -> dict[str, Tensor]:
        """Run over a whole sequence x (B, T, D) and return every quantity of the six equations
        over time: keys i, f, o, c_tilde, c, h, each (B, T, H). For plots, not for training."""
        x = _check_input(x, self.input_size)
        B = x.shape[0]
        if state is None:
            zeros = x.new_zeros(B, self.hidden_size)
            state = (zeros, zeros)
        else:
            state = _check_state(state, (B, self.hidden_size), None, "(B, H)")
        (W, b), U = self.input_weight(), self.recurrent_weight()
        steps: dict[str, list[Tensor]] = {k: [] for k in ("i", "f", "o", "c_tilde", "c", "h")}
        for wx_t in (x @ W.T + b).unbind(1):  # T x (B, 4H)
            state, gates = self.recurrent_step(wx_t, state, U)
            for k, v in zip(("i", "f", "o", "c_tilde", "h", "c"), (*gates, *state), strict=True):
                steps[k].append(v)
        return {k: torch.stack(v, dim=1) for k, v in steps.items()}

    @classmethod
    def from_torch(cls, m: nn.LSTMCell) -> LSTMCell:
        """A cell with the weights of a `torch.nn.LSTMCell` (same outputs, same device/dtype)."""
        if not isinstance(m, nn.LSTMCell):
            raise TypeError(f"m must be a torch.nn.LSTMCell, got {type(m).__name__}")
        cell = cls(m.input_size, m.hidden_size).to(m.weight_ih.device, m.weight_ih.dtype)
        cell.copy_torch_weights(m.weight_ih, m.weight_hh, m.bias_ih, m.bias_hh)
        return cell

    @torch.no_grad()
    def copy_torch_weights(
        self, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None
    ) -> None:
        """Copy PyTorch's stacked (i, f, g, o) weights into W_*, U_*, b_* (b = b_ih + b_hh)."""
        H, D = self.hidden_size, self.input_size
        check_tensor(weight_ih, "weight_ih", (4 * H, D))
        check_tensor(weight_hh, "weight_hh", (4 * H, H))
        bias = torch.zeros(4 * H, dtype=weight_ih.dtype, device=weight_ih.device)
        for name, b in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
            if b is not None:
                check_tensor(b, name, (4 * H,))
                bias = bias + b
        for k, g in enumerate(GATES):  # PyTorch's blocks: i, f, g (= c~), o
            rows = slice(k * H, (k + 1) * H)
            getattr(self, f"W_{g}").copy_(weight_ih[rows])
            getattr(self, f"U_{g}").copy_(weight_hh[rows])
            getattr(self, f"b_{g}").copy_(bias[rows])


class LSTM(nn.Module):
    """Stacked, optionally bidirectional, batch-first LSTM built from `LSTMCell`s.

    `forward(x, lengths=None, state=None)` returns `(output, (h_n, c_n))` with the shapes and values
    of `torch.nn.LSTM(batch_first=True)`: output (B, T, dirs * H), h_n and c_n
    (num_layers * dirs, B, H), ordered layer by layer, forward direction first.

    With `lengths`, every sequence is treated as if the padding were not there, as torch does for a
    packed sequence: the backward direction starts at each sequence's own last token, `output` is
    zero at padded positions (its time dimension stays T, i.e. `pad_packed_sequence` with
    `total_length=T`), and h_n, c_n are each sequence's true final states.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        hoist_input_projection: bool = True,
        impl: str = "python",
    ) -> None:
        super().__init__()
        check_positive_ints(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        check_fraction("dropout", dropout, allow_one=True)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if self.bidirectional else 1
        self.hoist_input_projection = hoist_input_projection
        # cells[layer * dirs + direction], the order of h_n / c_n and of torch's weight_*_l{k}
        self.cells = nn.ModuleList(
            LSTMCell(input_size if layer == 0 else self.num_directions * hidden_size, hidden_size)
            for layer in range(num_layers)
            for _ in range(self.num_directions)
        )
        self.dropout = nn.Dropout(dropout)  # between layers only, as in torch
        self.impl = impl
        self.pack: bool | None = None  # fused path: pack padded batches? None = on a GPU only
        # torch modules that are not children (no parameters, state_dict entries or repr lines):
        object.__setattr__(self, "_torch", None)  # to_torch()'s, sharing memory with the cells
        object.__setattr__(self, "_kernels", {})  # weightless kernels of the fused path
        self._tie()

    @property
    def impl(self) -> str:
        """ "python" (the teaching loop) or "fused" (torch's kernel); settable at any time."""
        return self._impl

    @impl.setter
    def impl(self, value: str) -> None:
        if value not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {value!r}")
        object.__setattr__(self, "_impl", value)

    def forward(
        self, x: Tensor, lengths: Tensor | Sequence[int] | None = None, state: State | None = None
    ) -> tuple[Tensor, State]:
        """x (B, T, D) -> (output (B, T, dirs * H), (h_n, c_n) each (layers * dirs, B, H)).

        Checks its inputs, then runs `_forward`, the path a model that has checked them calls."""
        return self._forward(*self._checked(x, lengths, state))

    def layer_outputs(self, x: Tensor, lengths: Tensor | Sequence[int] | None = None) -> list:
        """Every layer's output, [layer 1, ..., layer num_layers], each (B, T, dirs * H): the
        sequences eq. (eq-bilstm-stack) passes up the stack (the last one is `forward`'s output).
        Checks its inputs as `forward` does."""
        return self._forward(*self._checked(x, lengths, None), keep_layers=True)[2]

    def _checked(
        self, x: Tensor, lengths: Tensor | Sequence[int] | None, state: State | None
    ) -> tuple[Tensor, Tensor | None, State | None]:
        """(x, mask or None, state or None), each checked against the LSTM's sizes and dtype."""
        x = _check_input(x, self.input_size)
        autocast = torch.is_autocast_enabled(x.device.type)  # then torch casts as it needs
        if x.dtype != self.cells[0].W_i.dtype and not autocast:
            raise ValueError(
                f"x must have the dtype of the LSTM's weights, {self.cells[0].W_i.dtype}, got"
                f" {x.dtype} (convert one of them with .to(dtype))"
            )
        B, T, _ = x.shape
        mask = None if lengths is None else _lengths_mask(lengths, B, T, x.device)  # (B, T)
        if state is not None:
            shape = (self.num_layers * self.num_directions, B, self.hidden_size)
            state = _check_state(state, shape, None if autocast else x.dtype)
        return x, mask, state

    def _forward(
        self, x: Tensor, mask: Tensor | None, state: State | None = None, keep_layers: bool = False
    ) -> tuple:
        """`forward` without its checks, for a model that has checked its own inputs: x (B, T, D),
        mask (B, T) bool True at the first lengths[b] steps of row b (`mask_from_lengths`) or
        None, state (h_0, c_0) or None. With `keep_layers`, a third item: every layer's output.

        Stacking, eq. (eq-bilstm-stack): layer l reads the (dropped-out) 2H-wide outputs of layer
        l - 1, the input x for the first."""
        B = x.shape[0]
        L, H = self.num_layers * self.num_directions, self.hidden_size
        if state is None:
            h0 = c0 = x.new_zeros(L, B, H)
        else:
            h0, c0 = state
        run = self._run_fused if self.impl == "fused" else self._run

        h_n, c_n, layers = [], [], []
        layer_input = x
        for layer in range(self.num_layers):
            if layer > 0:
                layer_input = self.dropout(layer_input)
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                reverse = direction == 1
                inp = _reverse_padded(layer_input, mask) if reverse else layer_input
                out, (h, c) = run(self.cells[k], inp, mask, (h0[k], c0[k]))
                outputs.append(_reverse_padded(out, mask) if reverse else out)
                h_n.append(h)
                c_n.append(c)
            layer_input = torch.cat(outputs, dim=-1)  # (B, T, dirs * H)
            layers.append(layer_input)
        states = (torch.stack(h_n), torch.stack(c_n))
        return (layer_input, states, layers) if keep_layers else (layer_input, states)

    def _run(
        self, cell: LSTMCell, x: Tensor, mask: Tensor | None, state: State
    ) -> tuple[Tensor, State]:
        """One direction of one layer, left to right over x (B, T, D)."""
        (W, b), U = cell.input_weight(), cell.recurrent_weight()  # (4H, D), (4H,), (4H, H)
        if self.hoist_input_projection:
            # W x_t + b needs no recurrent state: one big product covers all T steps.
            steps = (x @ W.T + b).unbind(1)  # T x (B, 4H)
        else:
            steps = x.unbind(1)  # T x (B, D), projected inside the loop
        # unbind, not indexing [:, t]: autograd then joins the T step gradients in one copy,
        # where indexing would allocate a full (B, T, .) gradient per step, O(T^2) in total.
        outputs = []
        for t, step in enumerate(steps):
            wx_t = step if self.hoist_input_projection else step @ W.T + b  # (B, 4H)
            new_state, _ = cell.recurrent_step(wx_t, state, U)
            if mask is None:
                state = new_state
                outputs.append(state[0])
            else:  # a finished sequence keeps its state and outputs zeros
                m = mask[:, t, None]  # (B, 1)
                state = (
                    torch.where(m, new_state[0], state[0]),
                    torch.where(m, new_state[1], state[1]),
                )
                outputs.append(new_state[0] * m)
        return torch.stack(outputs, dim=1), state  # (B, T, H)

    # -- the fused path: the same weights through torch's kernel ---------------------------------

    def _run_fused(
        self, cell: LSTMCell, x: Tensor, mask: Tensor | None, state: State
    ) -> tuple[Tensor, State]:
        """`_run` on torch's kernel: the cell's weights, stacked as torch stacks them (a
        differentiable concatenation, so gradients reach W_*, U_*, b_*), fill a one-layer
        `torch.nn.LSTM` for this call.

        A padded batch must not be read past each sequence's length. On a GPU the batch goes in
        packed (`pack_padded_sequence`, cuDNN's own variable-length path). On a CPU, torch's
        backward pass through a packed sequence is a slow generic one (about ten times slower
        than an unpacked batch in our measurements), so there the sequences are sorted by length
        and the kernel runs once per stretch of time steps in which the same sequences are still
        going, each stretch starting from the state the previous one ended in; a finished
        sequence keeps its final state. Both give what the python path gives."""
        (W, b), U = cell.input_weight(), cell.recurrent_weight()
        kernel = self._kernel(x.shape[-1])
        weights = {"weight_ih_l0": W, "weight_hh_l0": U, "bias_ih_l0": b}
        weights["bias_hh_l0"] = torch.zeros_like(b)  # our one bias is the sum of torch's two
        h0, c0 = state  # (B, H) each

        def run(inputs, h, c):
            out, (h_n, c_n) = torch.func.functional_call(
                kernel, weights, (inputs, (h[None].contiguous(), c[None].contiguous()))
            )
            return out, h_n[0], c_n[0]

        if mask is None:
            out, h, c = run(x, h0, c0)
            return out, (h, c)
        B, T, _ = x.shape
        lengths = mask.sum(1).cpu()
        if self.pack if self.pack is not None else x.is_cuda:
            packed = nn.utils.rnn.pack_padded_sequence(
                x, lengths, batch_first=True, enforce_sorted=False
            )
            out, h, c = run(packed, h0, c0)
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
            return out, (h, c)
        order = torch.argsort(lengths, descending=True, stable=True).to(x.device)
        x, h, c, lengths = x[order], h0[order], c0[order], lengths[order.cpu()]
        pieces, start = [], 0
        for end in sorted(set(lengths.tolist())):
            n = int((lengths >= end).sum())  # the first n (longest) sequences are still going
            out, h_new, c_new = run(x[:n, start:end], h[:n], c[:n])
            pieces.append(nn.functional.pad(out, (0, 0, 0, 0, 0, B - n)))  # zero rows: finished
            h, c = torch.cat([h_new, h[n:]]), torch.cat([c_new, c[n:]])
            start = end
        out = torch.cat(pieces, dim=1)  # (B, max length, H)
        out = nn.functional.pad(out, (0, 0, 0, T - start))  # zeros up to T
        inverse = torch.argsort(order)
        return out[inverse], (h[inverse], c[inverse])

    def _kernel(self, input_size: int) -> nn.LSTM:
        """A one-layer `torch.nn.LSTM` for inputs of `input_size` features, without weights of
        its own (on the meta device): `_run_fused` passes the weights in for each call."""
        if input_size not in self._kernels:
            self._kernels[input_size] = nn.LSTM(
                input_size, self.hidden_size, batch_first=True, device="meta"
            )
        return self._kernels[input_size]

    def to_torch(self) -> nn.LSTM:
        """A `torch.nn.LSTM(batch_first=True)` that holds this LSTM's weights (the same memory,
        not a copy): `weight_ih_l{k}` is [W_i; W_f; W_c; W_o] of cell k, `weight_hh_l{k}` the
        U_*, `bias_ih_l{k}` the b_*, and `bias_hh_l{k}` a fixed zero (torch's two biases only
        ever enter as their sum). Training the returned module trains this one and vice versa.

        The same module is returned on every call. Moving this LSTM (`.to(...)`) keeps the two
        tied; replacing a parameter object (e.g. `load_state_dict(..., assign=True)`) unties
        them, and the next call ties them again.
        """
        if not self._tied():
            self._tie()
        return self._torch

    def _torch_suffix(self, k: int) -> str:
        """torch's name suffix of cell k: l{layer}, plus _reverse for the backward direction."""
        return f"l{k // self.num_directions}" + ("_reverse" if k % self.num_directions else "")

    def _blocks(self, cell: LSTMCell) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        return tuple([getattr(cell, f"{kind}_{g}") for g in GATES] for kind in "WUb")

    @torch.no_grad()
    def _tie(self) -> None:
        """Lay each cell's W_*, U_*, b_* out as the row blocks of one tensor per torch parameter
        (torch's i, f, g, o order), and point the `torch.nn.LSTM` of `to_torch()` at them."""
        first = self.cells[0].W_i
        if self._torch is None:
            kernel = nn.LSTM(
                self.input_size,
                self.hidden_size,
                self.num_layers,
                batch_first=True,
                bidirectional=self.bidirectional,
                device="meta",  # no memory of its own: every weight is replaced below
            )
            object.__setattr__(self, "_torch", kernel)
        for k, cell in enumerate(self.cells):
            suffix = self._torch_suffix(k)
            for name, blocks in zip(TORCH_BLOCKS, self._blocks(cell), strict=True):
                stacked = torch.cat([p.detach() for p in blocks])  # fresh contiguous memory
                rows = blocks[0].shape[0]
                for j, p in enumerate(blocks):
                    p.data = stacked[j * rows : (j + 1) * rows]  # same values, shared memory
                setattr(self._torch, f"{name}_{suffix}", nn.Parameter(stacked))
            zero = torch.zeros(4 * self.hidden_size, dtype=first.dtype, device=first.device)
            setattr(self._torch, f"bias_hh_{suffix}", nn.Parameter(zero, requires_grad=False))

    def _tied(self) -> bool:
        """Whether every block still shares memory with the `to_torch()` module's weights."""
        if self._torch is None:
            return False
        for k, cell in enumerate(self.cells):
            suffix = self._torch_suffix(k)
            for name, blocks in zip(TORCH_BLOCKS, self._blocks(cell), strict=True):
                stacked = getattr(self._torch, f"{name}_{suffix}")
                if stacked.device != blocks[0].device or stacked.dtype != blocks[0].dtype:
                    return False
                rows = blocks[0].shape[0]
                for j, p in enumerate(blocks):
                    if p.data_ptr() != stacked[j * rows].data_ptr() or not p.is_contiguous():
                        return False
        return True

    def _apply(self, fn, recurse=True):
        # .to(), .double(), .cuda() give every parameter memory of its own: tie them again
        super()._apply(fn, recurse)
        self._tie()
        return self

    @classmethod
    def from_torch(cls, m: nn.LSTM, impl: str = "python") -> LSTM:
        """An `LSTM` with the weights of `m` (a `torch.nn.LSTM`), on its device and dtype.

        The copy is batch-first whatever `m.batch_first` is; a model without biases gets zero
        biases (trainable here). `impl` is as in the constructor. (The other way round,
        `to_torch()` shares memory instead of copying.)
        """
        if not isinstance(m, nn.LSTM):
            raise TypeError(f"m must be a torch.nn.LSTM, got {type(m).__name__}")
        if m.proj_size:
            raise ValueError(
                f"m.proj_size must be 0 (projections are not supported), got {m.proj_size}"
            )
        ours = cls(
            m.input_size, m.hidden_size, m.num_layers, m.bidirectional, float(m.dropout), impl=impl
        )
        ours.to(m.weight_ih_l0.device, m.weight_ih_l0.dtype).train(m.training)
        for k, cell in enumerate(ours.cells):
            suffix = ours._torch_suffix(k)
            cell.copy_torch_weights(
                getattr(m, f"weight_ih_{suffix}"),
                getattr(m, f"weight_hh_{suffix}"),
                getattr(m, f"bias_ih_{suffix}", None),
                getattr(m, f"bias_hh_{suffix}", None),
            )
        return ours

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"bidirectional={self.bidirectional}, dropout={self.dropout.p}, "
            f"hoist_input_projection={self.hoist_input_projection}"
            + (f", impl={self.impl!r}" if self.impl != "python" else "")  # the default unsaid
        )


def reverse_padded(x: Tensor, lengths: Tensor | Sequence[int]) -> Tensor:
    """Reverse each sequence of x (B, T, ...) within its own length; padding stays where it is."""
    check_tensor(x, "x", "B, T, ...")
    return _reverse_padded(x, _lengths_mask(lengths, x.shape[0], x.shape[1], x.device))


# -- helpers --------------------------------------------------------------------------------------


def _reverse_padded(x: Tensor, mask: Tensor | None) -> Tensor:
    """x (B, T, ...) reversed in time within each sequence's real tokens (mask (B, T) or None,
    True at the first lengths[b] steps of row b)."""
    if mask is None:
        return x.flip(1)
    lengths = mask.sum(1, keepdim=True)  # (B, 1)
    t = torch.arange(x.shape[1], device=x.device)  # (T,)
    index = torch.where(mask, lengths - 1 - t, t)  # (B, T); an involution
    index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


def _lengths_mask(lengths: Tensor | Sequence[int], B: int, T: int, device: torch.device) -> Tensor:
    """Check `lengths` and return the (B, T) bool mask of real tokens."""
    lengths = check_lengths(lengths, B, T, of=" (the time dimension of x)")
    return mask_from_lengths(lengths.to(device), T)


def _check_input(x: object, input_size: int) -> Tensor:
    x = check_tensor(x, "x", f"B, T, {input_size}", hint=" (batch first)", dtype="float")
    if x.shape[1] < 1:
        raise ValueError(f"x must have at least one time step (T >= 1), got {tuple(x.shape)}")
    return x


def _check_state(
    state: object,
    shape: tuple[int, ...],
    dtype: torch.dtype | None,
    meaning: str = "(layers * directions, B, H)",
) -> State:
    if not isinstance(state, tuple | list) or len(state) != 2:
        raise ValueError(
            f"state must be a pair (h_0, c_0) of tensors of shape {shape}, got {describe(state)}"
        )
    for name, s in zip(("h_0", "c_0"), state, strict=True):
        check_tensor(s, f"state {name}", shape, hint=f" {meaning}")
        if dtype is not None and s.dtype != dtype:
            raise ValueError(f"state {name} must have the dtype of x, {dtype}, got {s.dtype}")
    return state[0], state[1]
