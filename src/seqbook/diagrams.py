"""Diagrams of the architectures the book builds, drawn from the objects they describe.

Each function reads its sizes and names from a model (or from the shapes it is given), draws
with matplotlib, and returns a `Diagram`: a matplotlib `Figure` that also keeps what it drew,

- `sizes`: every number in the picture, by name (`diagram.sizes["H"]`), for tests and captions;
- `equations`: the labels of the equations it cites, in the order it cites them;
- `alt`: a sentence or two for readers who cannot see it.

`show_svg(diagram)` displays it in a notebook as SVG with that alt text (an HTML
`<img alt="...">` whose source is the SVG, plus the SVG itself and the alt text as plain
text), so the book shows a crisp vector picture that a screen reader can describe. The
diagrams, and the equations they draw::

    scaled_dot_product_attention(T_q, T_k, d_k)   eq. (eq-attention-sdpa)
    multi_head_attention(mha)                     eq. (eq-attention-mha)
    lstm_cell(cell)                               eqs. (eq-lstm-input) to (eq-lstm-hidden)
    bilstm(lstm, lengths)                         eqs. (eq-bilstm-forward) to (eq-bilstm-concat)
    stacked_bilstm(lstm)                          eq. (eq-bilstm-concat), layer on layer
    transformer_layer(layer)                      eq. (eq-albert-layer)
    albert_encoder(encoder)                       eqs. (eq-albert-factorised), (eq-albert-sharing)
    mlm_sop_inputs(segment_a, segment_b, masked)  eqs. (eq-pretrain-mlm), (eq-pretrain-sop-loss)
    albert_bilstm_pipeline(classifier)            eq. (eq-albert-bilstm-model)
    fusion(model)                                 eqs. (eq-fusion-concat) to (eq-fusion-gate)
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence

import matplotlib as mpl
import torch
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle
from matplotlib.text import Text
from torch import nn

from seqbook.validate import check_lengths, check_positive_ints

__all__ = [
    "Diagram",
    "albert_bilstm_pipeline",
    "albert_encoder",
    "bilstm",
    "fusion",
    "lstm_cell",
    "mlm_sop_inputs",
    "multi_head_attention",
    "scaled_dot_product_attention",
    "show_svg",
    "stacked_bilstm",
    "svg_bundle",
    "to_svg",
    "transformer_layer",
]

# Okabe & Ito's colour-blind-safe palette; boxes are filled with a pale tint of their colour
BLUE, ORANGE, GREEN, VERMILLION = "#0072B2", "#E69F00", "#009E73", "#D55E00"
PURPLE, SKY, YELLOW, GREY = "#CC79A7", "#56B4E9", "#F0E442", "#7F7F7F"
INK, MUTED = "#1A1A1A", "#555555"
HEAD_COLOURS = (BLUE, ORANGE, GREEN, PURPLE, VERMILLION, SKY, YELLOW, GREY)
UNIT = 0.5  # inches per drawing unit


class Diagram(Figure):
    """A matplotlib Figure that remembers what it shows: `sizes` (name -> number, shape or
    text), `equations` (the labels it cites, in order) and `alt` (its text alternative)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sizes: dict[str, object] = {}
        self.equations: list[str] = []
        self.alt = ""

    def strings(self) -> list[str]:
        """Every string drawn in the figure (title, labels, tags)."""
        return [t.get_text() for t in self.findobj(Text) if t.get_text()]

    def _ipython_display_(self) -> None:
        show_svg(self)


# ----------------------------------------------------------------------------- SVG output


def to_svg(fig: Figure) -> str:
    """The SVG text of `fig`, cropped to its contents; the same figure gives the same bytes
    (no date, fixed ids), so a re-executed notebook changes only when the drawing does."""
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    buffer = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": "seqbook", "svg.fonttype": "path"}):
        fig.savefig(
            buffer, format="svg", bbox_inches="tight", facecolor="white", metadata={"Date": None}
        )
    return buffer.getvalue()


def svg_bundle(fig: Figure, alt: str | None = None) -> dict[str, str]:
    """The notebook output of `show_svg`: {"text/html": <img alt> of the SVG, "image/svg+xml",
    "text/plain": alt}. `alt` defaults to the diagram's own `alt`."""
    alt = getattr(fig, "alt", "") if alt is None else alt
    if not isinstance(alt, str) or not alt.strip():
        raise ValueError(f"alt must be a non-empty description of the figure, got {alt!r}")
    svg = to_svg(fig)
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    img = (
        f'<img src="data:image/svg+xml;base64,{data}" alt="{html.escape(alt, quote=True)}" '
        'style="max-width: 100%; height: auto;">'
    )
    return {"text/html": img, "image/svg+xml": svg, "text/plain": alt}


def show_svg(fig: Figure, alt: str | None = None, *, profile: str | None = None) -> None:
    """Display `fig` in a notebook as SVG with alt text (myst-nb renders the `<img alt>`).
    `profile`, for a drawing whose sizes come from the profile, is added to its title and alt
    text: "(fast profile)"."""
    from IPython.display import display

    if profile is not None:
        for ax in fig.axes:
            ax.set_title(f"{ax.get_title()} ({profile} profile)", fontsize=11, pad=2, color=INK)
        alt = (
            getattr(fig, "alt", "") if alt is None else alt
        ) + f" Sizes of the {profile} profile."
    display(svg_bundle(fig, alt), raw=True)


# ----------------------------------------------------------------------------- drawing kit


def _canvas(
    width: float, height: float, title: str, label: str | None = None
) -> tuple[Diagram, Axes]:
    """A Diagram of width x height drawing units (UNIT inches each), y pointing up, with a
    title and, under it, the label of the equation it draws (the top 0.5 units)."""
    fig = Diagram(figsize=(width * UNIT, height * UNIT))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=11, pad=2, color=INK)
    if label:
        _tag(ax, width / 2, height - 0.2, label)
    return fig, ax


def _tint(colour: str, amount: float = 0.8) -> tuple[float, float, float]:
    """`colour` mixed with white: amount 0 is the colour, 1 is white."""
    return tuple(c + (1 - c) * amount for c in to_rgb(colour))


def _rounded(ax: Axes, left: float, bottom: float, w: float, h: float, **style) -> None:
    """A rounded rectangle from (left, bottom), w x h units; `style`: fc, ec, lw, ls, r."""
    shape = f"round,pad=0,rounding_size={style.pop('r', 0.12)}"
    ax.add_patch(FancyBboxPatch((left, bottom), w, h, boxstyle=shape, **style))


def _frame(ax: Axes, left: float, bottom: float, w: float, h: float, ls: str = "-") -> None:
    """The light grey outline around a cell, a layer or a block (dashed: a block)."""
    _rounded(ax, left, bottom, w, h, fc="#F8F8F8", ec=GREY, lw=1.0, ls=ls, r=0.25)


def _box(
    ax: Axes, x: float, y: float, w: float, h: float, text: str = "", colour: str = GREY, *,
    size: float = 9, dashed: bool = False, fill: float = 0.8,
) -> None:  # fmt: skip
    """A rounded box centred at (x, y), filled with a tint of `colour`, with centred text."""
    ls = "--" if dashed else "-"
    _rounded(ax, x - w / 2, y - h / 2, w, h, fc=_tint(colour, fill), ec=colour, lw=1.3, ls=ls)
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=size, color=INK)


ARROW = dict(arrowstyle="-|>,head_length=0.45,head_width=0.22", mutation_scale=12, shrinkA=0)


def _arrow(ax: Axes, *points: tuple[float, float], colour: str = INK, lw: float = 1.1) -> None:
    """A line through `points` with an arrow head at the last one."""
    *path, start, end = points
    if path:
        _line(ax, *path, start, colour=colour, lw=lw)
    ax.add_patch(FancyArrowPatch(start, end, color=colour, lw=lw, shrinkB=0, **ARROW))


def _line(ax: Axes, *points: tuple[float, float], colour: str = INK, lw: float = 1.1) -> None:
    xs, ys = zip(*points, strict=True)
    ax.plot(xs, ys, color=colour, lw=lw, solid_capstyle="butt")


def _op(ax: Axes, x: float, y: float, symbol: str, r: float = 0.24) -> None:
    """A point-wise operation (x, +) in a circle."""
    ax.add_patch(Circle((x, y), r, fc="white", ec=INK, lw=1.2, zorder=3))
    ax.text(x, y, symbol, ha="center", va="center", fontsize=11, color=INK, zorder=4)


def _tag(
    ax: Axes, x: float, y: float, label: str, ha: str = "center", after: Text | None = None
) -> None:
    """An equation label, in grey monospace, at (x, y) or just after the text `after`;
    recorded in the diagram's `equations`."""
    style = dict(fontsize=7, color=MUTED, family="monospace", va="center")
    if after is None:
        ax.text(x, y, f"({label})", ha=ha, **style)
    else:  # 6 points to the right of `after`
        offset = dict(xytext=(6, 0), textcoords="offset points")
        ax.annotate(f"({label})", xy=(1, 0.5), xycoords=after, ha="left", **offset, **style)
    if label not in ax.figure.equations:
        ax.figure.equations.append(label)


def _note(ax: Axes, x: float, y: float, text: str, ha: str = "center", **kw) -> Text:
    """Text centred (or `ha`-aligned) at (x, y), 8 points unless `size` says otherwise."""
    return ax.text(x, y, text, ha=ha, va=kw.pop("va", "center"), fontsize=kw.pop("size", 8), **kw)


def _aside(ax: Axes, x: float, y: float, text: str, ha: str = "center") -> Text:
    """A secondary note: smaller, grey."""
    return _note(ax, x, y, text, ha=ha, size=7.5, color=MUTED)


def _matrix(
    ax: Axes, x: float, y: float, rows: int, cols: int, cell: float, colour: str, name: str,
    shape: str,
) -> tuple[float, float]:  # fmt: skip
    """A rows x cols matrix centred at (x, y), `cell` units per entry: a grid of entries when
    they are large enough to see, else a shaded block. Records its shape under `name` and
    returns its (width, height)."""
    w, h = cols * cell, rows * cell
    left, bottom = x - w / 2, y - h / 2
    ax.add_patch(Rectangle((left, bottom), w, h, fc=_tint(colour, 0.7), ec=colour, lw=1.2))
    if cell >= 0.12:  # the entries themselves
        rules = dict(colors=colour, lw=0.5)
        ax.hlines([bottom + i * cell for i in range(1, rows)], left, left + w, **rules)
        ax.vlines([left + j * cell for j in range(1, cols)], bottom, bottom + h, **rules)
    ax.text(x, y + h / 2 + 0.12, name, ha="center", va="bottom", fontsize=9, color=INK)
    ax.text(x, y - h / 2 - 0.1, shape, ha="center", va="top", fontsize=7.5, color=MUTED)
    ax.figure.sizes.setdefault("matrices", {})[name] = (rows, cols)
    return w, h


def _check_type(name: str, value: object, cls: type, what: str) -> None:
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ----------------------------------------------------------------------------- attention


def scaled_dot_product_attention(T_q: int, T_k: int, d_k: int, d_v: int | None = None) -> Diagram:
    """Scaled dot-product attention, eq. (eq-attention-sdpa), on matrices of the given shapes:
    Q (T_q, d_k), K (T_k, d_k), V (T_k, d_v) -> weights (T_q, T_k) -> output (T_q, d_v)."""
    d_v = d_k if d_v is None else d_v
    check_positive_ints(T_q=T_q, T_k=T_k, d_k=d_k, d_v=d_v)
    cell = min(0.32, 1.6 / max(T_q, T_k, d_k, d_v))  # one scale for every matrix
    title = f"Scaled dot-product attention: $T_q$ = {T_q}, $T_k$ = {T_k}, $d_k$ = {d_k}"
    h_q, h_k = T_q * cell, T_k * cell  # drawn heights of Q (and the output), K and V
    bottom = 0.5 + h_k / 2  # centre of V, then K and Q above it, each with its two labels
    y_k = bottom + h_k + 0.95
    y_q = y_k + h_k / 2 + 0.95 + h_q / 2
    top = max((y_q + y_k) / 2, bottom + 2.2)  # the row of operations
    fig, ax = _canvas(16.5, y_q + h_q / 2 + 1.1, title, "eq-attention-sdpa")
    fig.sizes.update(T_q=T_q, T_k=T_k, d_k=d_k, d_v=d_v, scale=d_k**-0.5)

    q, k, v = (T_q, d_k), (T_k, d_k), (T_k, d_v)
    _matrix(ax, 1.0, y_q, *q, cell, BLUE, "Q", f"$T_q × d_k$ = {T_q} × {d_k}")
    _matrix(ax, 1.0, y_k, *k, cell, ORANGE, "K", f"$T_k × d_k$ = {T_k} × {d_k}")
    _matrix(ax, 1.0, bottom, *v, cell, GREEN, "V", f"$T_k × d_v$ = {T_k} × {d_v}")
    steps = [  # (x, text, dashed)
        (3.8, "MatMul\n$QK^\\top$", False),
        (6.1, f"scale\n× 1/√{d_k}", False),
        (8.4, "mask\n(optional)", True),
        (10.7, "softmax\nover keys", False),
    ]
    _arrow(ax, (1.0 + d_k * cell / 2 + 0.1, y_q), (3.8, y_q), (3.8, top + 0.5))
    _arrow(ax, (1.0 + d_k * cell / 2 + 0.1, y_k), (3.8, y_k), (3.8, top - 0.5))
    for i, (x, text, dashed) in enumerate(steps):
        _box(ax, x, top, 1.9, 1.0, text, GREY if dashed else BLUE, dashed=dashed)
        if i:
            _arrow(ax, (steps[i - 1][0] + 0.95, top), (x - 0.95, top))
    _aside(ax, 4.95, top + 0.7, f"scores\n{T_q} × {T_k}")
    _tag(ax, 8.4, top - 0.75, "eq-attention-mask")
    _, a_h = _matrix(ax, 13.2, top, T_q, T_k, cell, PURPLE, "weights A", f"{T_q} × {T_k}")
    _arrow(ax, (11.65, top), (13.2 - T_k * cell / 2 - 0.1, top))
    _aside(ax, 13.2, top - a_h / 2 - 0.55, "each row sums to 1")
    _arrow(ax, (13.2, top - a_h / 2 - 0.75), (13.2, bottom + 0.45))
    _box(ax, 13.2, bottom, 1.7, 0.9, "MatMul\n$AV$", BLUE)
    _arrow(ax, (1.0 + d_v * cell / 2 + 0.1, bottom), (12.35, bottom))
    _matrix(ax, 15.5, bottom, T_q, d_v, cell, GREEN, "output", f"$T_q × d_v$ = {T_q} × {d_v}")
    _arrow(ax, (14.05, bottom), (15.5 - d_v * cell / 2 - 0.1, bottom))
    fig.alt = (
        f"Scaled dot-product attention, eq-attention-sdpa: queries Q ({T_q} × {d_k}) and keys K "
        f"({T_k} × {d_k}) are multiplied into scores ({T_q} × {T_k}), scaled by 1/√{d_k}, "
        f"optionally masked, and turned by a softmax over each row into weights A ({T_q} × "
        f"{T_k}); A times the values V ({T_k} × {d_v}) is the output ({T_q} × {d_v})."
    )
    return fig


def multi_head_attention(mha: nn.Module) -> Diagram:
    """Multi-head attention, eq. (eq-attention-mha), as `mha` (a
    `seqbook.attention.MultiHeadAttention`) computes it: project, split into heads, attend per
    head, concatenate, project."""
    from seqbook.attention import MultiHeadAttention

    _check_type("mha", mha, MultiHeadAttention, "a seqbook.attention.MultiHeadAttention")
    E, h, d = mha.embed_dim, mha.num_heads, mha.head_dim
    bias, parameters = mha.q_proj.bias is not None, _count(mha)
    shown = list(range(h)) if h <= 6 else [0, 1, 2, None, h - 1]  # None: the heads left out
    band, n = 0.7, len(shown)
    title = f"Multi-head attention: $E$ = {E} split into $h$ = {h} heads of $d_k$ = {d}"
    fig, ax = _canvas(17.5, n * band + 4.2, title, "eq-attention-mha")
    fig.sizes.update(E=E, h=h, d_k=d, bias=bias, parameters=parameters, heads_drawn=shown)

    y_top = n * band + 1.2  # top of the head bands
    bands = [y_top - (i + 0.5) * band for i in range(n)]  # centre of each drawn band
    _box(ax, 1.4, y_top + 1.7, 2.2, 0.8, f"$X$  ($T$ × {E})", GREY)
    _line(ax, (2.5, y_top + 1.7), (7.6, y_top + 1.7))
    for k, name in enumerate("QKV"):
        x = 4.0 + 1.8 * k
        _arrow(ax, (x, y_top + 1.7), (x, y_top + 1.35))
        _box(ax, x, y_top + 0.85, 1.6, 1.0, f"$W^{name}$\n{E}→{E}", GREY, size=8)
        _arrow(ax, (x, y_top + 0.35), (x, y_top + 0.02))
        for head, yc in zip(shown, bands, strict=True):  # the split of the projected Q, K, V
            if head is None:
                _note(ax, x, yc, "⋮", size=11)
                continue
            _band(ax, x, yc, band, head)
            _note(ax, x, yc, f"${name}_{{{head + 1}}}$", size=8)
    _aside(ax, 5.8, 0.75, f"split: {h} heads × $d_k$ = {d}")
    for head, yc in zip(shown, bands, strict=True):
        if head is None:
            _note(ax, 10.6, yc, "⋮", size=11)
            _note(ax, 14.2, yc, "⋮", size=11)
            continue
        i = head + 1
        text = f"head {i}: softmax$(Q_{{{i}}}K_{{{i}}}^\\top/\\sqrt{{{d}}})\\,V_{{{i}}}$"
        _arrow(ax, (7.9, yc), (8.6, yc))
        _box(ax, 10.6, yc, 4.0, band * 0.8, text, HEAD_COLOURS[head % 8], size=7.5, fill=0.6)
        _arrow(ax, (12.6, yc), (13.9, yc))
        _band(ax, 14.2, yc, band, head)
    _tag(ax, 10.6, 0.75, "eq-attention-sdpa")
    _note(ax, 14.2, y_top + 0.4, f"concat\n$T$ × {h}·{d}", size=8)
    middle = y_top - n * band / 2
    _arrow(ax, (14.5, middle), (15.0, middle))
    _box(ax, 15.8, middle, 1.6, 1.0, f"$W^O$\n{E}→{E}", GREY, size=8)
    _arrow(ax, (15.8, middle - 0.5), (15.8, 1.15))
    _box(ax, 15.8, 0.75, 2.6, 0.8, f"output ($T$ × {E})", GREY)
    with_bias = " with biases" if bias else ""
    _note(ax, 1.4, 0.75, f"4 maps {E}→{E}{with_bias}:\n{parameters:,} parameters", size=7.5)
    fig.alt = (
        f"Multi-head attention, eq-attention-mha, with embedding size {E} and {h} heads: the "
        f"input X is projected by W^Q, W^K and W^V ({E} to {E}); each projection is split into "
        f"{h} heads of {d} features; each head runs scaled dot-product attention on its own "
        f"slices; the {h} head outputs are concatenated back to {E} features and projected by "
        f"W^O. {parameters:,} parameters."
    )
    return fig


def _band(ax: Axes, x: float, y: float, height: float, head: int) -> None:
    """Head `head`'s slice of a projected Q, K, V or of the concatenation, in its colour."""
    colour = _tint(HEAD_COLOURS[head % len(HEAD_COLOURS)], 0.45)
    ax.add_patch(Rectangle((x - 0.3, y - height / 2), 0.6, height, fc=colour, ec=INK, lw=0.8))


# ----------------------------------------------------------------------------- LSTM

GATE_STYLE = {  # gate -> (name, activation, colour, equation)
    "f": ("forget", "σ", VERMILLION, "eq-lstm-forget"),
    "i": ("input", "σ", GREEN, "eq-lstm-input"),
    "c": ("candidate", "tanh", ORANGE, "eq-lstm-candidate"),
    "o": ("output", "σ", BLUE, "eq-lstm-output"),
}


def lstm_cell(cell: nn.Module) -> Diagram:
    """One LSTM step, eqs. (eq-lstm-input) to (eq-lstm-hidden), with the sizes of `cell` (a
    `seqbook.lstm.LSTMCell`): four gates read [h_{t-1}; x_t], the cell state runs along the top."""
    from seqbook.lstm import LSTMCell

    _check_type("cell", cell, LSTMCell, "a seqbook.lstm.LSTMCell")
    H, D = cell.W_i.shape  # W_* (H, D), U_* (H, H), b_* (H,)
    U, b = tuple(cell.U_i.shape), tuple(cell.b_i.shape)
    title = f"LSTM cell: input size $D$ = {D}, hidden size $H$ = {H}"
    fig, ax = _canvas(17.6, 8.2, title)
    fig.sizes.update(D=D, H=H, W=(H, D), U=U, b=b, parameters=_count(cell))

    y0 = 0.9  # everything above the line of sizes
    _frame(ax, 1.4, y0 + 0.9, 13.7, 5.8)
    c_y, bus_y, gate_y, mix_y = y0 + 5.9, y0 + 1.8, y0 + 3.1, y0 + 4.4
    xs = dict(zip("fico", (3.0, 5.7, 8.4, 11.1), strict=True))  # the gates, left to right
    out_x, add_x = 13.8, (xs["i"] + xs["c"]) / 2
    _arrow(ax, (0.2, c_y), (xs["f"] - 0.24, c_y))  # the cell state, c_{t-1} -> c_t
    _arrow(ax, (xs["f"] + 0.24, c_y), (add_x - 0.24, c_y))
    _arrow(ax, (add_x + 0.24, c_y), (16.8, c_y))
    _note(ax, 0.2, c_y + 0.3, "$c_{t-1}$", ha="left", size=10)
    _note(ax, 16.8, c_y + 0.3, "$c_t$", ha="right", size=10)
    _op(ax, xs["f"], c_y, "×")
    _op(ax, add_x, c_y, "+")
    _tag(ax, add_x, c_y + 0.45, "eq-lstm-cell")
    _line(ax, (0.2, bus_y), (xs["o"], bus_y))  # [h_{t-1}; x_t] feeds every gate
    _note(ax, 0.2, bus_y + 0.3, "$h_{t-1}$", ha="left", size=10)
    _line(ax, (2.0, y0 + 0.2), (2.0, bus_y))
    _note(ax, 2.2, y0 + 0.35, "$x_t$", ha="left", size=10)
    for gate, x in xs.items():
        name, activation, colour, label = GATE_STYLE[gate]
        symbol = "\\tilde{c}_t" if gate == "c" else f"{gate}_t"
        _arrow(ax, (x, bus_y), (x, gate_y - 0.45))
        _box(ax, x, gate_y, 1.9, 0.9, f"{name} ${symbol}$\n{activation}", colour, size=8.5)
        _tag(ax, x + 0.12, bus_y + 0.42, label, ha="left")
    _arrow(ax, (xs["f"], gate_y + 0.45), (xs["f"], c_y - 0.24))  # f_t * c_{t-1}
    _op(ax, add_x, mix_y, "×")  # i_t * c~_t
    _arrow(ax, (xs["i"], gate_y + 0.45), (xs["i"], mix_y), (add_x - 0.24, mix_y))
    _arrow(ax, (xs["c"], gate_y + 0.45), (xs["c"], mix_y), (add_x + 0.24, mix_y))
    _arrow(ax, (add_x, mix_y + 0.24), (add_x, c_y - 0.24))
    _arrow(ax, (out_x, c_y), (out_x, mix_y + 0.58))  # h_t = o_t * tanh(c_t)
    _box(ax, out_x, mix_y + 0.3, 1.0, 0.55, "tanh", GREY, size=8.5)
    _arrow(ax, (out_x, mix_y + 0.02), (out_x, gate_y + 0.24))
    _op(ax, out_x, gate_y, "×")
    _arrow(ax, (xs["o"] + 0.95, gate_y), (out_x - 0.24, gate_y))
    _tag(ax, out_x + 0.3, gate_y - 0.45, "eq-lstm-hidden", ha="left")
    _arrow(ax, (out_x, gate_y - 0.24), (out_x, y0 + 1.3), (16.8, y0 + 1.3))
    _note(ax, 16.8, y0 + 1.6, "$h_t$", ha="right", size=10)
    _note(
        ax,
        8.8,
        0.35,
        f"each gate: $W$ ($H × D$) = {H} × {D},  $U$ ($H × H$) = {U[0]} × {U[1]},  "
        f"$b$ ($H$) = {b[0]};   4 gates: {_count(cell):,} parameters",
        size=8,
    )
    fig.alt = (
        f"An LSTM cell with input size {D} and hidden size {H}, eqs. eq-lstm-input to "
        "eq-lstm-hidden: the previous hidden state and the input feed four gates (forget and "
        "input sigmoid gates, a tanh candidate, an output sigmoid gate). The cell state runs "
        "along the top: it is multiplied by the forget gate and the input gate times the "
        "candidate is added, giving c_t; the output gate times tanh(c_t) is h_t. Each gate has "
        f"W of {H} × {D}, U of {H} × {H} and a bias of {H}: {_count(cell):,} parameters."
    )
    return fig


def _lstm(lstm: object) -> None:
    from seqbook.lstm import LSTM

    _check_type("lstm", lstm, LSTM, "a seqbook.lstm.LSTM")


def bilstm(lstm: nn.Module, lengths: Sequence[int] | torch.Tensor) -> Diagram:
    """The first layer of a bidirectional `seqbook.lstm.LSTM` unrolled over a padded batch,
    eqs. (eq-bilstm-forward) to (eq-bilstm-concat): one row per sequence of `lengths`, padded
    to the longest; each direction reads only the real tokens, the backward one starting at
    each sequence's own last token, and padded positions output zeros."""
    _lstm(lstm)
    if not lstm.bidirectional:
        raise ValueError("lstm must be bidirectional (LSTM(..., bidirectional=True)), got one way")
    lengths = check_lengths(torch.as_tensor(lengths), low=1).tolist()
    if not 1 <= len(lengths) <= 4 or max(lengths) > 10:
        raise ValueError(
            f"lengths must hold 1 to 4 sequences of at most 10 tokens (a diagram, not a batch), "
            f"got {lengths}"
        )
    D, H, L, T = lstm.input_size, lstm.hidden_size, lstm.num_layers, max(lengths)
    step, block, x0 = 1.7, 3.6, 3.4  # units per time step and per sequence; first column
    width = x0 + T * step + 4.4
    layer = f" (layer 1 of {L})" if L > 1 else ""
    title = f"BiLSTM over a padded batch{layer}: $D$ = {D}, $H$ = {H}, lengths {lengths}"
    fig, ax = _canvas(width, len(lengths) * block + 0.8, title)
    fig.sizes.update(D=D, H=H, output=2 * H, num_layers=L, lengths=lengths, T=T)
    fig.sizes["backward_starts"] = [n - 1 for n in lengths]  # 0-based position of each start

    for b, n in enumerate(lengths):
        y = (len(lengths) - 1 - b) * block + 0.6  # the x row of sequence b
        _note(ax, 1.0, y + 1.3, f"sequence {b + 1}\nlength {n}", size=8.5)
        for t in range(T):
            x, real = x0 + t * step, t < n
            if not real:
                _box(ax, x, y, 1.1, 0.55, "pad", GREY, size=8, fill=0.92, dashed=True)
                _box(ax, x, y + 2.6, 1.1, 0.55, "0", GREY, size=8, fill=0.92, dashed=True)
                continue
            _box(ax, x, y, 1.1, 0.55, f"$x_{{{t + 1}}}$", GREY, size=9)
            _arrow(ax, (x, y + 0.28), (x, y + 0.85))
            _box(ax, x, y + 1.525, 1.1, 0.45, f"$\\overrightarrow{{h}}_{{{t + 1}}}$", BLUE, size=9)
            _box(ax, x, y + 1.075, 1.1, 0.45, f"$\\overleftarrow{{h}}_{{{t + 1}}}$", ORANGE, size=9)
            _arrow(ax, (x, y + 1.75), (x, y + 2.32))
            _box(ax, x, y + 2.6, 1.1, 0.55, f"$h_{{{t + 1}}}$", PURPLE, size=9)
            if t + 1 < n:  # the recurrences: forward to the right, backward to the left
                _arrow(ax, (x + 0.55, y + 1.525), (x + step - 0.55, y + 1.525), colour=BLUE)
                _arrow(ax, (x + step - 0.55, y + 1.075), (x + 0.55, y + 1.075), colour=ORANGE)
        _arrow(ax, (x0 - 0.95, y + 1.525), (x0 - 0.55, y + 1.525), colour=BLUE)  # from zeros
        _note(ax, x0 - 1.05, y + 1.525, "0", ha="right", size=8, color=BLUE)
        end = x0 + (n - 1) * step
        _arrow(ax, (end + 0.9, y + 1.075), (end + 0.55, y + 1.075), colour=ORANGE)
        _note(ax, end + 1.0, y + 1.075, "0", ha="left", size=8, color=ORANGE)
        if n < T:
            _note(ax, end + 0.85, y + 0.55, "← starts here", size=7.5, color=ORANGE, ha="left")
    right = x0 + (T - 1) * step + 1.6
    y = (len(lengths) - 1) * block + 0.6  # the first sequence's rows
    _note(
        ax,
        right,
        y + 2.6,
        f"$h_t$ = [$\\overrightarrow{{h}}_t$ ; $\\overleftarrow{{h}}_t$]: $2H$ = {2 * H}",
        ha="left",
        size=8,
    )
    _tag(ax, right, y + 2.25, "eq-bilstm-concat", ha="left")
    _note(ax, right, y + 1.7, f"forward, $H$ = {H}", ha="left", size=8, color=BLUE)
    _tag(ax, right, y + 1.4, "eq-bilstm-forward", ha="left")
    _note(ax, right, y + 0.95, f"backward, $H$ = {H}", ha="left", size=8, color=ORANGE)
    _tag(ax, right, y + 0.65, "eq-bilstm-backward", ha="left")
    _note(ax, right, y, f"$x_t$: $D$ = {D}", ha="left", size=8)
    fig.alt = (
        f"A bidirectional LSTM layer (input size {D}, {H} units per direction) unrolled over a "
        f"batch of {len(lengths)} sequences of lengths {lengths}, padded to {T}. In each "
        "sequence the forward LSTM reads the real tokens left to right and the backward LSTM "
        "reads them right to left, starting from a zero state at that sequence's own last "
        f"token, not in the padding; each output h_t joins the two states ({2 * H} features), "
        "and padded positions output zeros."
    )
    return fig


def stacked_bilstm(lstm: nn.Module) -> Diagram:
    """A stacked `seqbook.lstm.LSTM`, layer by layer: each layer's input is the output of the
    layer below, the concatenation of both directions (eq. (eq-bilstm-concat)) when it is
    bidirectional; input sizes read from the cells themselves."""
    _lstm(lstm)
    L, H, dirs = lstm.num_layers, lstm.hidden_size, lstm.num_directions
    shown = list(range(L)) if L <= 4 else [0, 1, None, L - 1]  # None: the layers left out
    inputs = [lstm.cells[k * dirs].input_size for k in range(L)]  # layer k's input size
    per_layer = [sum(_count(lstm.cells[k * dirs + d]) for d in range(dirs)) for k in range(L)]
    p = lstm.dropout.p
    kind = "BiLSTM" if dirs == 2 else "LSTM"
    row = 2.3  # units per drawn layer (the gap of the layers left out: 1.3)
    height = len(shown) * row + 3.2 - (1.0 if None in shown else 0.0)
    title = f"Stacked {kind}: {L} layers, $H$ = {H} per direction"
    fig, ax = _canvas(11.0, height, title, "eq-bilstm-concat" if dirs == 2 else None)
    fig.sizes.update(num_layers=L, H=H, directions=dirs, input_sizes=inputs, dropout=p)
    fig.sizes.update(output=dirs * H, parameters=per_layer, layers_drawn=shown)

    _box(ax, 4.0, 0.6, 3.6, 0.7, f"$x$  ($B$, $T$, {inputs[0]})", GREY)
    y = 0.95
    for k in shown:
        if k is None:
            _arrow(ax, (4.0, y), (4.0, y + 0.35))
            _note(ax, 4.0, y + 0.75, "⋮", size=14)
            _aside(ax, 4.4, y + 0.75, f"layers 3 to {L - 1}", ha="left")
            y += row - 1.0
            continue
        _arrow(ax, (4.0, y), (4.0, y + 0.45))
        if k > 0 and p > 0:
            _aside(ax, 4.15, y + 0.22, f"dropout {p:g}", ha="left")
        _frame(ax, 0.6, y + 0.45, 6.8, row - 0.6)
        mid = y + 0.45 + (row - 0.6) / 2
        if dirs == 2:
            _box(ax, 2.4, mid - 0.15, 2.8, 0.75, f"forward LSTM\n{inputs[k]} → {H}", BLUE, size=8)
            _box(
                ax, 5.6, mid - 0.15, 2.8, 0.75, f"backward LSTM\n{inputs[k]} → {H}", ORANGE, size=8
            )
            _aside(ax, 4.0, mid + 0.5, f"concat [→ ; ←]: {2 * H}")
        else:
            _box(ax, 4.0, mid, 3.2, 0.75, f"LSTM\n{inputs[k]} → {H}", BLUE, size=8)
        _note(ax, 7.7, mid + 0.2, f"layer {k + 1}", ha="left", size=9)
        _aside(ax, 7.7, mid - 0.25, f"{per_layer[k]:,} parameters", ha="left")
        y += row
    _arrow(ax, (4.0, y - 0.15), (4.0, y + 0.4))
    _box(ax, 4.0, y + 0.75, 3.6, 0.7, f"output  ($B$, $T$, {dirs * H})", PURPLE)
    _aside(ax, 7.7, y + 0.75, f"$h_n$, $c_n$: ({L * dirs}, $B$, {H})", ha="left")
    fig.alt = (
        f"A stacked {kind} of {L} layers with {H} units per direction: the input of layer 1 "
        f"has {inputs[0]} features, every later layer reads the {dirs * H}-wide output of the "
        "layer below"
        + (", the concatenation of its forward and backward states" if dirs == 2 else "")
        + (f", with dropout {p:g} between layers" if p > 0 else "")
        + f". The output has {dirs * H} features per token."
    )
    return fig


# ----------------------------------------------------------------------------- ALBERT


def _activation_name(function: object) -> str:
    from seqbook.albert import ACTIVATIONS

    return next((name for name, f in ACTIVATIONS.items() if f is function), "activation")


def transformer_layer(layer: nn.Module) -> Diagram:
    """One Transformer encoder layer as BERT and ALBERT place it (post-LN), eq.
    (eq-albert-layer), with the sizes of `layer` (a `seqbook.albert.AlbertLayer`): the
    attention block, eq. (eq-albert-attention-block), then the feed-forward block, eq.
    (eq-albert-ffn-block), each with a residual connection and a LayerNorm."""
    from seqbook.albert import AlbertLayer

    _check_type("layer", layer, AlbertLayer, "a seqbook.albert.AlbertLayer")
    attention, ffn = layer.attention, layer.feed_forward
    H, heads, d = attention.query.in_features, attention.num_heads, attention.head_dim
    I, act = ffn.ffn.out_features, _activation_name(ffn.activation)
    n_att, n_ffn = _count(attention), _count(ffn)
    title = f"Transformer encoder layer (post-LN): $H$ = {H}, {heads} heads, $I$ = {I}"
    fig, ax = _canvas(13.0, 12.6, title, "eq-albert-layer")
    fig.sizes.update(H=H, heads=heads, d_k=d, I=I, activation=act, attention_parameters=n_att)
    fig.sizes.update(ffn_parameters=n_ffn, parameters=n_att + n_ffn)

    cx = 4.6  # the main column
    _box(ax, cx, 0.55, 4.4, 0.7, f"$h^{{l-1}}$  ($B$, $T$, {H})", GREY)
    _frame(ax, 1.0, 1.35, 6.6, 4.1, ls="--")  # the attention block
    for dx, name in ((-1.2, "Q"), (0.0, "K"), (1.2, "V")):
        _arrow(ax, (cx, 0.9), (cx, 1.2), (cx + dx, 1.2), (cx + dx, 1.75))
        _aside(ax, cx + dx + 0.15, 1.5, name, ha="left")
    _box(ax, cx, 2.3, 4.4, 1.1, f"multi-head self-attention\n{heads} heads × $d_k$ = {d}", BLUE)
    _arrow(ax, (cx, 2.85), (cx, 3.41))
    _op(ax, cx, 3.65, "+")
    _arrow(ax, (cx, 1.2), (1.6, 1.2), (1.6, 3.65), (cx - 0.24, 3.65))  # the residual
    _arrow(ax, (cx, 3.89), (cx, 4.3))
    _box(ax, cx, 4.65, 2.6, 0.7, f"LayerNorm ({H})", PURPLE, size=8.5)
    _frame(ax, 1.0, 5.75, 6.6, 5.2, ls="--")  # the feed-forward block
    _arrow(ax, (cx, 5.0), (cx, 6.15))
    _box(ax, cx, 6.5, 3.4, 0.7, f"linear $W_1$: {H} → {I}", ORANGE, size=8.5)
    _arrow(ax, (cx, 6.85), (cx, 7.25))
    _box(ax, cx, 7.6, 3.4, 0.7, act, ORANGE, size=8.5)
    _arrow(ax, (cx, 7.95), (cx, 8.35))
    _box(ax, cx, 8.7, 3.4, 0.7, f"linear $W_2$: {I} → {H}", ORANGE, size=8.5)
    _arrow(ax, (cx, 9.05), (cx, 9.41))
    _op(ax, cx, 9.65, "+")
    _arrow(ax, (cx, 5.55), (1.6, 5.55), (1.6, 9.65), (cx - 0.24, 9.65))  # the residual
    _arrow(ax, (cx, 9.89), (cx, 10.2))
    _box(ax, cx, 10.55, 2.6, 0.7, f"LayerNorm ({H})", PURPLE, size=8.5)
    _arrow(ax, (cx, 10.9), (cx, 11.3))
    _box(ax, cx, 11.65, 4.4, 0.7, f"$h^l$  ($B$, $T$, {H})", GREY)
    notes = [  # (y, text, size, colour) on the right; a None colour is an equation label
        (4.35, "attention block", 9.5, INK),
        (3.95, "eq-albert-attention-block", 0, None),
        (3.45, f"$W^Q, W^K, W^V, W^O$: {H} × {H}", 8, INK),
        (3.0, "+ biases, one LayerNorm", 8, INK),
        (2.5, f"{n_att:,} parameters", 8, MUTED),
        (10.25, "feed-forward block", 9.5, INK),
        (9.85, "eq-albert-ffn-block", 0, None),
        (9.35, f"activation: {act}", 8, INK),
        (8.95, "eq-albert-gelu" if act == "gelu_new" else "", 0, None),
        (8.45, "each position on its own", 8, INK),
        (7.95, f"{n_ffn:,} parameters", 8, MUTED),
    ]
    for y, text, size, colour in notes:
        if colour is None:
            if text:
                _tag(ax, 7.9, y, text, ha="left")
        else:
            _note(ax, 7.9, y, text, ha="left", size=size, color=colour)
    _note(ax, 7.9, 5.6, "LayerNorm after each sum: post-LN", ha="left", size=8)
    _tag(ax, 7.9, 5.2, "eq-albert-layernorm", ha="left")
    fig.alt = (
        f"One post-LN Transformer encoder layer, eq-albert-layer, of width {H}: multi-head "
        f"self-attention with {heads} heads of {d}, added to its input and normalised "
        f"(LayerNorm); then a feed-forward block, linear {H} to {I}, {act}, linear {I} to {H}, "
        f"added to its input and normalised. {n_att:,} parameters in the attention block, "
        f"{n_ffn:,} in the feed-forward block."
    )
    return fig


def albert_encoder(encoder: nn.Module) -> Diagram:
    """ALBERT's encoder as `encoder` (a `seqbook.albert.AlbertEncoder`) is configured:
    embeddings E wide, the E -> H projection, eq. (eq-albert-factorised), and the L layers with
    the attention and feed-forward block each one uses (its sharing schedule), eq.
    (eq-albert-sharing)."""
    from seqbook.albert import AlbertEncoder, embedding_parameters

    _check_type("encoder", encoder, AlbertEncoder, "a seqbook.albert.AlbertEncoder")
    c, schedule = encoder.config, encoder.schedule
    V, E, H, L = c.vocab_size, c.embedding_size, c.hidden_size, len(schedule)
    projection = not isinstance(encoder.embedding_hidden_mapping_in, nn.Identity)
    uses_a = [a for a, _ in schedule]
    uses_f = [f for _, f in schedule]
    shown = list(range(L)) if L <= 12 else [*range(5), None, L - 2, L - 1]
    row = 0.62
    height = max(len(shown) * row + 3.3, 5.2)
    title = (
        f"ALBERT encoder: $V$ = {V:,}, $E$ = {E}, $H$ = {H}, $L$ = {L}, sharing '{encoder.sharing}'"
    )
    fig, ax = _canvas(21.5, height, title)
    factorised, full = embedding_parameters(V, E, H), V * H
    fig.sizes.update(V=V, E=E, H=H, L=L, P=c.max_position_embeddings, types=c.type_vocab_size)
    fig.sizes.update(sharing=encoder.sharing, schedule=list(schedule), projection=projection)
    n_a, n_f = len(encoder.attention_blocks), len(encoder.ffn_blocks)
    fig.sizes.update(attention_blocks=n_a, ffn_blocks=n_f, pooler=encoder.pooler is not None)
    fig.sizes.update(factorised=factorised, unfactorised=full, layers_drawn=shown)

    mid = 2.6  # the embedding row
    _box(ax, 1.3, mid, 2.0, 0.9, "token ids\n($B$, $T$)", GREY, size=8.5)
    tables = (
        (mid + 1.1, f"word: $V × E$\n{V:,} × {E}"),
        (mid, f"position: {c.max_position_embeddings} × {E}"),
        (mid - 1.1, f"type: {c.type_vocab_size} × {E}"),
    )
    for y, text in tables:
        _arrow(ax, (2.3, mid), (2.7, mid), (2.7, y), (3.2, y))
        _box(ax, 4.6, y, 2.8, 0.85, text, GREEN, size=8)
        _arrow(ax, (6.0, y), (6.5, y), (6.5, mid), (6.86, mid))
    _op(ax, 7.1, mid, "+")
    _arrow(ax, (7.34, mid), (7.7, mid))
    _box(ax, 8.7, mid, 2.0, 0.8, f"LayerNorm\n({E})", PURPLE, size=8)
    _tag(ax, 5.4, mid - 1.95, "eq-albert-embedding")
    _arrow(ax, (9.7, mid), (10.2, mid))
    proj = f"$W_{{proj}}$: {E} → {H}" if projection else f"identity\n($E$ = $H$ = {H})"
    _box(ax, 11.3, mid, 2.2, 0.9, proj, VERMILLION, size=8.5, dashed=not projection)
    _tag(ax, 11.3, mid - 0.8, "eq-albert-factorised")
    _aside(ax, 11.3, mid - 1.5, f"$VE + EH$ = {factorised:,}\ninstead of $VH$ = {full:,}")
    x_a, x_f = 15.0, 16.9  # the layer stack: attention halves, feed-forward halves
    _arrow(ax, (12.4, mid), (13.2, mid), (13.2, 0.9), (15.95, 0.9), (15.95, 1.05))
    y = 1.05
    for layer in shown:
        if layer is None:
            _note(ax, 15.95, y + row / 2, "⋮", size=11)
            y += row
            continue
        a, f = schedule[layer]
        _half(ax, x_a, y, row, f"attention {a + 1}", BLUE, uses_a.count(a) > 1)
        _half(ax, x_f, y, row, f"FFN {f + 1}", ORANGE, uses_f.count(f) > 1)
        _note(ax, 14.0, y + row / 2, f"layer {layer + 1}", ha="right", size=7.5)
        y += row
    _arrow(ax, (15.95, y + 0.05), (15.95, y + 0.45))
    _box(ax, 15.95, y + 0.8, 3.8, 0.7, f"hidden states ($B$, $T$, {H})", GREY, size=8.5)
    if encoder.pooler is not None:
        _aside(ax, 15.95, y + 1.4, "+ [CLS] pooler tanh($W h_0 + b$)")
    _note(
        ax,
        18.2,
        2.9,
        f"{n_a} attention block{'s' * (n_a > 1)},\n{n_f} FFN block{'s' * (n_f > 1)}\n"
        f"for {L} layers",
        ha="left",
        size=8.5,
    )
    _tag(ax, 18.2, 1.9, "eq-albert-sharing", ha="left")
    _aside(ax, 18.2, 1.35, "filled: shared by layers", ha="left")
    fig.alt = (
        f"An ALBERT encoder: token, position and type embeddings of width E = {E} (the word "
        f"table is {V:,} × {E}) are summed and normalised, projected from {E} to H = {H} "
        f"(eq-albert-factorised: {factorised:,} parameters instead of {full:,}), then run "
        f"through {L} layers with sharing '{encoder.sharing}' (eq-albert-sharing): {n_a} "
        f"attention block(s) and {n_f} feed-forward block(s) serve the {L} layers."
    )
    return fig


def _half(ax: Axes, x: float, y: float, h: float, text: str, colour: str, shared: bool) -> None:
    """Half of a layer's box in the encoder stack: filled when its block is shared."""
    ax.add_patch(
        Rectangle((x - 0.95, y), 1.9, h, fc=_tint(colour, 0.45 if shared else 0.92), ec=colour)
    )
    ax.text(x, y + h / 2, text, ha="center", va="center", fontsize=7.5, color=INK)


# ----------------------------------------------------------------------------- pretraining

CLS, SEP, MASK = "[CLS]", "[SEP]", "[MASK]"


def _check_tokens(name: str, tokens: object) -> list[str]:
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise TypeError(f"{name} must be a list of token strings, got {type(tokens).__name__}")
    if not tokens or not all(isinstance(t, str) and t for t in tokens):
        raise ValueError(f"{name} must be a non-empty list of non-empty strings, got {tokens!r}")
    return list(tokens)


def _token_row(
    ax: Axes,
    y: float,
    tokens: list[str],
    segments: str,
    types: list[int],
    shown: Mapping[int, str],
) -> list[float]:
    """One input sequence as a row of boxes coloured by segment ("A", "B" or "-" for a special
    token), token types below; selected MLM positions outlined in vermillion, showing what the
    model reads, with the label above. Returns the boxes' x."""
    xs, x = [], 2.6
    for i, (token, segment, kind) in enumerate(zip(tokens, segments, types, strict=True)):
        text = shown.get(i, token)
        w = max(0.95, 0.14 * len(text) + 0.4)
        colour = {"A": ORANGE, "B": BLUE}.get(segment, GREY)
        _box(ax, x + w / 2, y, w, 0.65, text, colour, size=8.5)
        if i in shown:
            edge = Rectangle(
                (x - 0.06, y - 0.39), w + 0.12, 0.78, fill=False, ec=VERMILLION, lw=2.2
            )
            ax.add_patch(edge)
            _note(ax, x + w / 2, y + 0.62, token, size=8, color=VERMILLION, style="italic")
        _aside(ax, x + w / 2, y - 0.6, str(kind))
        xs.append(x + w / 2)
        x += w + 0.15
    return xs


def mlm_sop_inputs(
    segment_a: Sequence[str],
    segment_b: Sequence[str],
    masked: Mapping[int, str] | Sequence[int] = (),
) -> Diagram:
    """The pretraining inputs: [CLS] A [SEP] B [SEP] with token types 0 / 1, the MLM positions
    `masked` (eq. (eq-pretrain-mlm)) and the sentence-order pair (eq. (eq-pretrain-sop-loss)):
    in order (label 0) and swapped (label 1).

    `masked` gives positions in the in-order input ([CLS] is position 0), either as a list
    (each shown as [MASK]) or as {position: what the model reads}: [MASK], a random token, or
    the token itself, the three outcomes of eq. (eq-pretrain-mlm)."""
    a, b = _check_tokens("segment_a", segment_a), _check_tokens("segment_b", segment_b)
    tokens = [CLS, *a, SEP, *b, SEP]
    if len(tokens) > 24:
        raise ValueError(
            f"segment_a and segment_b must hold at most 21 tokens together (a diagram), got "
            f"{len(a)} + {len(b)}"
        )
    if not isinstance(masked, Mapping):
        if isinstance(masked, str) or not isinstance(masked, Sequence):
            raise TypeError(f"masked must be a list of positions or a dict, got {masked!r}")
        masked = dict.fromkeys(masked, MASK)
    specials = {0, len(a) + 1, len(tokens) - 1}
    for i, text in masked.items():
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(tokens):
            raise ValueError(f"masked positions must be ints in [0, {len(tokens)}), got {i!r}")
        if i in specials:
            raise ValueError(f"masked position {i} is {tokens[i]}: only ordinary tokens are masked")
        if not isinstance(text, str) or not text:
            raise ValueError(f"masked[{i}] must be the token the model reads, got {text!r}")
    types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    swapped = [CLS, *b, SEP, *a, SEP]
    in_order = "-" + "A" * len(a) + "-" + "B" * len(b) + "-"  # segment of each token
    swapped_segments = "-" + "B" * len(b) + "-" + "A" * len(a) + "-"
    outcome = {
        i: "mask" if t == MASK else "kept" if t == tokens[i] else "random"
        for i, t in masked.items()
    }
    width = 3.0 + sum(
        max(0.95, 0.14 * len(masked.get(i, t)) + 0.4) + 0.15 for i, t in enumerate(tokens)
    )
    title = "Pretraining inputs: masked tokens and sentence order"
    fig, ax = _canvas(max(width, 15.0), 6.4, title)
    fig.sizes.update(tokens=tokens, token_type_ids=types, masked=dict(masked), outcomes=outcome)
    swapped_types = [0] * (len(b) + 2) + [1] * (len(a) + 1)
    fig.sizes.update(swapped=swapped, swapped_token_type_ids=swapped_types)
    fig.sizes["sop_labels"] = {"in order": 0, "swapped": 1}

    _note(ax, 0.2, 4.6, "in order\nSOP label 0", ha="left", size=8.5)
    xs = _token_row(ax, 4.6, tokens, in_order, types, masked)
    _aside(ax, 0.2, 4.0, "token type", ha="left")
    _tag(ax, 0.2, 5.45, "eq-pretrain-mlm", ha="left")
    _note(ax, 0.2, 2.0, "swapped\nSOP label 1", ha="left", size=8.5)
    _token_row(ax, 2.0, swapped, swapped_segments, swapped_types, {})
    _aside(ax, 0.2, 1.4, "token type", ha="left")
    _tag(ax, 0.2, 2.85, "eq-pretrain-sop-loss", ha="left")
    _note(
        ax,
        xs[0],
        0.55,
        "Segment A (orange) and B (blue) are consecutive text of one document; SOP predicts "
        "whether they come in order. Outlined: the positions selected for MLM, with the "
        "label above; the model reads [MASK] (p = 0.8), a random token (0.1) or the token "
        "itself (0.1).",
        ha="left",
        size=7.5,
        color=MUTED,
        wrap=True,
    )
    fig.alt = (
        f"Pretraining inputs. In order (SOP label 0): {' '.join(tokens)}, token types "
        f"{''.join(map(str, types))}; the model reads "
        + (
            ", ".join(f"{masked[i]} at position {i} (label {tokens[i]})" for i in sorted(masked))
            or "no masked token"
        )
        + f". Swapped (SOP label 1): {' '.join(swapped)}."
    )
    return fig


# ----------------------------------------------------------------------------- systems


def albert_bilstm_pipeline(classifier: nn.Module) -> Diagram:
    """The book's sentiment system h = ALBERT(x), u = BiLSTM(h), y = f(pool(u)), eq.
    (eq-albert-bilstm-model), with the sizes of `classifier` (a
    `seqbook.albert_bilstm.AlbertBiLSTMClassifier`)."""
    from seqbook.albert_bilstm import AlbertBiLSTMClassifier

    what = "a seqbook.albert_bilstm.AlbertBiLSTMClassifier"
    _check_type("classifier", classifier, AlbertBiLSTMClassifier, what)
    c, settings = classifier.encoder.config, classifier.settings
    H_enc, L_enc, E = c.hidden_size, c.num_hidden_layers, getattr(c, "embedding_size", None)
    H, layers, C = settings["hidden_size"], settings["num_layers"], settings["num_classes"]
    pooling, p = settings["pooling"], settings["dropout"]
    frozen = "frozen" if classifier.encoder_frozen else "fine-tuned"
    name = type(classifier.encoder).__name__
    title = f"ALBERT + BiLSTM: $H_{{enc}}$ = {H_enc}, BiLSTM $H$ = {H}, {pooling} pooling"
    fig, ax = _canvas(16.0, 11.6, title, "eq-albert-bilstm-model")
    fig.sizes.update(encoder=name, H_enc=H_enc, encoder_layers=L_enc, E=E, H=H, num_layers=layers)
    fig.sizes.update(frozen=classifier.encoder_frozen, pooling=pooling, num_classes=C, dropout=p)
    fig.sizes["output"] = 2 * H

    encoder = f"{name} ({frozen})\n{L_enc} layers, $H_{{enc}}$ = {H_enc}"
    encoder += f", $E$ = {E}" if E is not None else ""
    bilstm = f"BiLSTM: {layers} layer{'s' * (layers > 1)} × 2 directions\n$H$ = {H} each"
    stages = [  # (centre y, height, text, colour, the tensor it outputs, equation)
        (0.6, 0.7, "input_ids, attention_mask  ($B$, $T$)", GREY, "", ""),
        (2.4, 1.4, encoder, GREEN, f"$h$: ($B$, $T$, {H_enc})", "eq-albert-bilstm-encoder"),
        (4.9, 1.2, bilstm, BLUE, f"$u$: ($B$, $T$, {2 * H})", "eq-albert-bilstm-bilstm"),
        (7.0, 0.9, f"{pooling} pooling over the real tokens", PURPLE, f"$z$: ($B$, {2 * H})",
         "eq-albert-bilstm-pool"),
        (8.8, 0.9, f"dropout {p:g}, linear {2 * H} → {C}", ORANGE, f"logits: ($B$, {C})",
         "eq-albert-bilstm-output"),
        (10.25, 0.7, f"$p(y \\mid x)$: {C} classes", GREY, "", ""),
    ]  # fmt: skip
    cx = 7.0  # the main column; equation labels on its right
    for (y0, h0, *_, shape, _), (y, h, text, colour, _, label) in zip(
        [(0, 0, "", "", "", "")] + stages, stages, strict=False
    ):
        _box(ax, cx, y, 6.0 if h > 0.7 else 4.6, h, text, colour, size=8.5)
        if h0:  # an arrow from the stage below, labelled with the tensor it carries
            _arrow(ax, (cx, y0 + h0 / 2), (cx, y - h / 2))
            _aside(ax, cx + 0.15, (y0 + h0 / 2 + y - h / 2) / 2, shape, ha="left")
        if label:
            _tag(ax, cx + 3.2, y, label, ha="left")
    # the mask becomes lengths, so the BiLSTM never reads padding
    _arrow(ax, (cx - 2.3, 0.6), (0.3, 0.6), (0.3, 3.9), (0.65, 3.9))
    _box(ax, 1.85, 3.9, 2.4, 0.9, "lengths $n$\nfrom the mask", GREY, size=8.5)
    _arrow(ax, (1.85, 4.35), (1.85, 4.9), (cx - 3.0, 4.9))
    _tag(ax, 0.55, 3.15, "eq-albert-bilstm-lengths", ha="left")
    fig.alt = (
        f"The ALBERT + BiLSTM classifier, eq-albert-bilstm-model: token ids and the attention "
        f"mask go into a {frozen} {name} with {L_enc} layers of width {H_enc}; its states "
        f"(B, T, {H_enc}) feed a {layers}-layer bidirectional LSTM with {H} units per "
        f"direction, which reads only the first n real tokens (n from the mask); its outputs "
        f"(B, T, {2 * H}) are {pooling}-pooled to (B, {2 * H}), and dropout {p:g} and a linear "
        f"layer give {C} logits."
    )
    return fig


def fusion(model: nn.Module | Sequence[nn.Module]) -> Diagram:
    """The fusion of contextual and static word vectors that `model` computes: a
    `seqbook.fusion` module (`ConcatFusion`, `WeightedSumFusion`, `GatedFusion`,
    `SingleSource`), a `FusionClassifier` (its fusion, then its head), or a list of them, one
    panel each. Eqs. (eq-fusion-concat), (eq-fusion-weighted), (eq-fusion-gate)."""
    from seqbook import fusion as F

    models = list(model) if isinstance(model, Sequence) and not isinstance(model, str) else [model]
    kinds = (F.ConcatFusion, F.WeightedSumFusion, F.GatedFusion, F.SingleSource, F.FusionClassifier)
    if not models or not all(isinstance(m, kinds) for m in models):
        got = [type(m).__name__ for m in models]
        raise TypeError(
            "model must be a seqbook.fusion module (ConcatFusion, WeightedSumFusion, GatedFusion, "
            f"SingleSource, FusionClassifier) or a list of them, got {got}"
        )
    panel, height = 4.3, len(models) * 4.3 + 0.4
    fig, ax = _canvas(40.0, height, "Fusing contextual and static word vectors")
    fig.sizes["panels"], right = [], 0.0
    for k, m in enumerate(models):
        y = (len(models) - 1 - k) * panel + 0.3  # bottom of this panel
        sizes, panel_right = _fusion_panel(ax, y, m)
        fig.sizes["panels"].append(sizes)
        right = max(right, panel_right)
    ax.set_xlim(0, right + 0.3)  # as wide as the widest panel
    fig.set_size_inches((right + 0.3) * UNIT, height * UNIT)
    fig.alt = (
        "Fusion of a contextual vector h and a static vector e of one word: "
        + "; ".join(p["alt"] for p in fig.sizes["panels"])
        + "."
    )
    return fig


def _fusion_panel(ax: Axes, y: float, m: nn.Module) -> tuple[dict[str, object], float]:
    """One fusion, drawn in the 4.3-unit band above y; returns the sizes it drew and the x
    where its drawing ends."""
    from seqbook import fusion as F

    head = m if isinstance(m, F.FusionClassifier) else None
    m = m.fusion if head is not None else m
    Dc, Ds, out = m.d_context, m.d_static, m.out_dim
    top, bottom, mid = y + 2.9, y + 0.9, y + 1.9
    sizes: dict[str, object] = {"kind": type(m).__name__, "D_c": Dc, "D_s": Ds, "out": out}
    _box(ax, 1.5, top, 2.6, 0.8, f"$h$ contextual\n$D_c$ = {Dc}", GREEN, size=8.5)
    _box(ax, 1.5, bottom, 2.6, 0.8, f"$e$ static\n$D_s$ = {Ds}", ORANGE, size=8.5)
    if isinstance(m, F.ConcatFusion):
        name, label = "concatenation", "eq-fusion-concat"
        _arrow(ax, (2.8, top), (5.0, top), (5.0, mid + 0.45))
        _arrow(ax, (2.8, bottom), (5.0, bottom), (5.0, mid - 0.45))
        _box(ax, 5.0, mid, 2.6, 0.9, "concatenate\n$[h\\,;\\,e]$", PURPLE, size=8.5)
        end, text = 6.3, f"$v$: {Dc} + {Ds}\n= {out}"
        sizes["alt"] = f"concatenation [h ; e] gives {out} = {Dc} + {Ds} features"
    elif isinstance(m, F.SingleSource):
        name, label = f"one source only ({m.source})", "eq-fusion-weighted"
        y_used, d_in = (top, Dc) if m.source == "contextual" else (bottom, Ds)
        y_unused = bottom if m.source == "contextual" else top
        _aside(ax, 3.0, y_unused, "not used", ha="left")
        _arrow(ax, (2.8, y_used), (3.6, y_used))
        _box(ax, 4.9, y_used, 2.6, 0.8, f"linear {d_in} → {out}", GREY, size=8.5)
        end, text, mid = 6.2, f"$v$: {out}", y_used
        sizes["alt"] = f"one source only, the {m.source} vector projected to {out} features"
    else:
        gated = isinstance(m, F.GatedFusion)
        name, label = (
            ("gate", "eq-fusion-gate") if gated else ("weighted sum", "eq-fusion-weighted")
        )
        _arrow(ax, (2.8, top), (3.6, top))
        _box(ax, 4.8, top, 2.4, 0.8, f"$W_h$: {Dc} → {out}", GREY, size=8.5)
        _arrow(ax, (2.8, bottom), (3.6, bottom))
        _box(ax, 4.8, bottom, 2.4, 0.8, f"$W_e$: {Ds} → {out}", GREY, size=8.5)
        if gated:
            _arrow(ax, (6.0, top), (7.0, top), (7.0, mid + 0.4))
            _arrow(ax, (6.0, bottom), (7.0, bottom), (7.0, mid - 0.4))
            _box(
                ax,
                7.9,
                mid,
                3.4,
                0.8,
                "$g = \\sigma(w_g^\\top[h'\\,;\\,e'] + b_g)$",
                PURPLE,
                size=8,
            )
            _arrow(ax, (9.6, mid), (10.6, mid), (10.6, top - 0.24))
            _arrow(ax, (10.6, mid), (10.6, bottom + 0.24))
            weight_h, weight_e, x_op = "$g$", "$1 - g$", 10.6
            sizes["alt"] = (
                f"a gate: h and e are projected to {out} features (h', e'), a sigmoid of both "
                "gives one weight g per word, and v = g h' + (1 - g) e'"
            )
        else:
            alpha = float(m.alpha.detach())
            weight_h, weight_e, x_op = f"α = {alpha:.2f}", f"1 − α = {1 - alpha:.2f}", 8.2
            how = "learned, σ(θ)" if m.learn_alpha else "fixed"
            _aside(ax, 8.2, mid, f"α {how}")
            sizes.update(alpha=alpha, learned=bool(m.learn_alpha))
            sizes["alt"] = (
                f"a weighted sum: h and e are projected to {out} features and mixed as "
                f"{alpha:.2f} W_h h + {1 - alpha:.2f} W_e e (alpha {how})"
            )
        for yy, weight in ((top, weight_h), (bottom, weight_e)):
            _arrow(ax, (6.0, yy), (x_op - 0.24, yy))
            _op(ax, x_op, yy, "×")
            _note(ax, x_op, yy + (0.45 if yy == top else -0.45), weight, size=8)
        _arrow(ax, (x_op + 0.24, top), (x_op + 1.2, top), (x_op + 1.2, mid + 0.24))
        _arrow(ax, (x_op + 0.24, bottom), (x_op + 1.2, bottom), (x_op + 1.2, mid - 0.24))
        _op(ax, x_op + 1.2, mid, "+")
        end, text = x_op + 1.44, f"$v$: {out}"
    _arrow(ax, (end, mid), (end + 0.6, mid))
    _box(ax, end + 1.6, mid, 2.0, 0.8, text, BLUE, size=8.5)
    _tag(ax, 0, 0, label, after=_note(ax, 0.2, y + 3.75, name, ha="left", size=9.5))
    if head is not None:
        chain = [f"BiLSTM, $H$ = {head.lstm.hidden_size}"] if head.lstm is not None else []
        chain += ["attention pooling", f"linear → {head.head.out_features}"]
        x = end + 2.6
        for text_ in chain:
            _arrow(ax, (x, mid), (x + 0.5, mid))
            _box(ax, x + 1.6, mid, 2.2, 0.7, text_, GREY, size=8)
            x += 2.7
        sizes.update(head=head.head_type, num_classes=head.head.out_features)
        return sizes, x
    return sizes, end + 2.6
