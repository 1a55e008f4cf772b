"""seqbook.diagrams: every diagram draws the sizes of the object it is given (change the
configuration, the drawing changes), cites labels the chapters define, refuses bad arguments by
name, keeps its text apart, and renders to well-formed, deterministic SVG with alt text."""

from __future__ import annotations

import base64
import html
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from transformers import AlbertConfig

from seqbook import diagrams as D
from seqbook import fusion as F
from seqbook.albert import AlbertEncoder, AlbertLayer
from seqbook.albert_bilstm import AlbertBiLSTMClassifier
from seqbook.attention import MultiHeadAttention
from seqbook.checks.albert_bilstm import tiny_albert
from seqbook.lstm import LSTM, LSTMCell

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]


def albert_config(**overrides) -> AlbertConfig:
    sizes = dict(
        vocab_size=120,
        embedding_size=8,
        hidden_size=16,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=24,
        max_position_embeddings=32,
    )
    return AlbertConfig(**(sizes | overrides))


def book_labels() -> set[str]:
    """Every equation label a chapter defines (`$$ ... $$ (eq-...)`)."""
    labels = set()
    for path in (ROOT / "book").glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                labels |= set(re.findall(r"\$\$\s*\((eq-[a-z0-9-]+)\)", "".join(cell["source"])))
    return labels


def drawn(diagram: D.Diagram, *numbers: object) -> None:
    """Each number appears in the text of the drawing (not only in `sizes`)."""
    text = " ".join(diagram.strings())
    for n in numbers:
        shown = f"{n:,}" if isinstance(n, int) else str(n)
        assert re.search(rf"(?<![\d,.]){re.escape(shown)}(?!\d|,\d)", text), (n, text)


# one factory per diagram, for the checks every diagram must pass
EVERY_DIAGRAM = {
    "scaled_dot_product_attention": lambda: D.scaled_dot_product_attention(3, 5, 4),
    "multi_head_attention": lambda: D.multi_head_attention(MultiHeadAttention(16, 4)),
    "lstm_cell": lambda: D.lstm_cell(LSTMCell(3, 2)),
    "bilstm": lambda: D.bilstm(LSTM(8, 6, bidirectional=True), [5, 3]),
    "stacked_bilstm": lambda: D.stacked_bilstm(LSTM(5, 4, 2, bidirectional=True, dropout=0.2)),
    "transformer_layer": lambda: D.transformer_layer(AlbertLayer(albert_config())),
    "albert_encoder": lambda: D.albert_encoder(AlbertEncoder(albert_config(), "attention")),
    "mlm_sop_inputs": lambda: D.mlm_sop_inputs(
        ["the", "plot", "drags"], ["but", "it", "ends", "well"], {2: "[MASK]", 7: "starts"}
    ),
    "albert_bilstm_pipeline": lambda: D.albert_bilstm_pipeline(
        AlbertBiLSTMClassifier(tiny_albert(0), hidden_size=6)
    ),
    "fusion": lambda: D.fusion(
        [F.ConcatFusion(12, 5), F.WeightedSumFusion(12, 5, 8, 0.25), F.GatedFusion(12, 5, 8)]
    ),
}


# ----------------------------------------------------------------------------- every diagram


@pytest.mark.parametrize("name", EVERY_DIAGRAM)
def test_every_diagram_is_a_figure_with_sizes_labels_and_alt_text(name):
    diagram = EVERY_DIAGRAM[name]()
    assert isinstance(diagram, Figure) and isinstance(diagram, D.Diagram)
    assert diagram.sizes and diagram.equations and len(diagram.alt) > 40
    assert set(diagram.equations) <= book_labels(), "a label no chapter defines"
    for label in diagram.equations:
        assert f"({label})" in diagram.strings(), f"{label} recorded but not drawn"
    assert name in D.__all__


def overlapping_strings(figure: Figure) -> list[tuple[str, str]]:
    """Pairs of strings whose rendered boxes overlap by more than a pixel each way."""
    renderer = FigureCanvasAgg(figure).get_renderer()
    boxes = [
        (t.get_text(), t.get_window_extent(renderer))
        for t in figure.findobj(matplotlib.text.Text)
        if t.get_text().strip() and t.get_visible()
    ]
    return [
        (a, b)
        for i, (a, box_a) in enumerate(boxes)
        for b, box_b in boxes[i + 1 :]
        if min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0) > 1
        and min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0) > 1
    ]


def test_the_overlap_check_finds_overlapping_text():
    figure = Figure()
    figure.text(0.5, 0.5, "forget gate")
    figure.text(0.52, 0.5, "(eq-lstm-forget)")
    figure.text(0.1, 0.1, "far away")
    assert overlapping_strings(figure) == [("forget gate", "(eq-lstm-forget)")]


@pytest.mark.parametrize("name", EVERY_DIAGRAM)
def test_every_diagram_keeps_its_text_apart(name):
    clashes = overlapping_strings(EVERY_DIAGRAM[name]())
    assert not clashes, f"overlapping text in {name}: {clashes[:3]}"


@pytest.mark.parametrize("name", EVERY_DIAGRAM)
def test_every_diagram_renders_well_formed_deterministic_svg_with_alt_text(name):
    diagram = EVERY_DIAGRAM[name]()
    svg = D.to_svg(diagram)
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag.endswith("svg") and float(root.get("width").removesuffix("pt")) > 100
    assert len(root.findall(".//{http://www.w3.org/2000/svg}path")) > 10  # something drawn
    assert D.to_svg(diagram) == svg, "the same figure must give the same SVG"
    bundle = D.svg_bundle(diagram)
    assert set(bundle) == {"text/html", "image/svg+xml", "text/plain"}
    assert bundle["image/svg+xml"] == svg and bundle["text/plain"] == diagram.alt
    img = bundle["text/html"]
    assert img.startswith("<img ") and f'alt="{html.escape(diagram.alt, quote=True)}"' in img
    data = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', img).group(1)
    assert base64.b64decode(data).decode("utf-8") == svg


def test_show_svg_displays_the_bundle_and_the_diagram_displays_itself(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw: shown.append((obj, raw)))
    diagram = D.scaled_dot_product_attention(2, 2, 2)
    D.show_svg(diagram, alt="two by two")
    diagram._ipython_display_()
    assert [raw for _, raw in shown] == [True, True]
    assert shown[0][0]["text/plain"] == "two by two" and shown[1][0]["text/plain"] == diagram.alt


def test_show_svg_names_the_profile_in_title_and_alt_text(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw: shown.append(obj))
    with torch.device("meta"):  # sizes only: the diagram reads shapes, never values
        diagram = D.transformer_layer(AlbertLayer(albert_config()))
    D.show_svg(diagram, profile="fast")
    assert diagram.axes[0].get_title().endswith("$I$ = 24 (fast profile)")
    assert shown[0]["text/plain"] == diagram.alt + " Sizes of the fast profile."


def test_svg_bundle_needs_alt_text_and_a_figure():
    with pytest.raises(ValueError, match="alt must be a non-empty description"):
        D.svg_bundle(Figure())
    with pytest.raises(ValueError, match="alt must be"):
        D.svg_bundle(D.scaled_dot_product_attention(2, 2, 2), alt="  ")
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure, got str"):
        D.to_svg("figure")


# ----------------------------------------------------------------------------- attention


@pytest.mark.parametrize("T_q, T_k, d_k, d_v", [(3, 3, 4, 4), (2, 7, 5, 3), (128, 512, 64, 64)])
def test_attention_diagram_draws_the_shapes_it_is_given(T_q, T_k, d_k, d_v):
    diagram = D.scaled_dot_product_attention(T_q, T_k, d_k, d_v)
    assert diagram.sizes["matrices"] == {
        "Q": (T_q, d_k),
        "K": (T_k, d_k),
        "V": (T_k, d_v),
        "weights A": (T_q, T_k),
        "output": (T_q, d_v),
    }
    assert diagram.sizes["scale"] == pytest.approx(d_k**-0.5)
    assert f"× 1/√{d_k}" in " ".join(diagram.strings())
    drawn(diagram, f"{T_q} × {d_k}", f"{T_k} × {d_v}", f"{T_q} × {T_k}")


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "3"])
def test_attention_diagram_refuses_sizes_that_are_not_positive_ints_by_name(bad):
    with pytest.raises(ValueError, match=r"d_k must be a positive int"):
        D.scaled_dot_product_attention(3, 3, bad)


@pytest.mark.parametrize("E, heads", [(16, 4), (12, 3), (768, 12)])
def test_multi_head_diagram_reads_the_head_split_from_the_module(E, heads):
    mha = MultiHeadAttention(E, heads, bias=E != 12)
    diagram = D.multi_head_attention(mha)
    assert (diagram.sizes["E"], diagram.sizes["h"], diagram.sizes["d_k"]) == (
        E,
        heads,
        mha.head_dim,
    )
    assert diagram.sizes["parameters"] == sum(p.numel() for p in mha.parameters())
    assert diagram.sizes["bias"] == (E != 12)
    drawn(diagram, f"{E}→{E}", f"{heads}·{E // heads}", diagram.sizes["parameters"])
    heads_drawn = [h for h in diagram.sizes["heads_drawn"] if h is not None]
    assert heads_drawn[-1] == heads - 1 and f"head {heads}:" in " ".join(diagram.strings())
    assert (None in diagram.sizes["heads_drawn"]) == (heads > 6)


def test_multi_head_diagram_refuses_torch_module_by_name():
    with pytest.raises(TypeError, match="mha must be a seqbook.attention.MultiHeadAttention"):
        D.multi_head_attention(torch.nn.MultiheadAttention(8, 2))


# ----------------------------------------------------------------------------- LSTM


@pytest.mark.parametrize("D_in, H", [(3, 2), (50, 64)])
def test_lstm_cell_diagram_reads_the_weight_shapes(D_in, H):
    cell = LSTMCell(D_in, H)
    diagram = D.lstm_cell(cell)
    assert diagram.sizes["W"] == tuple(cell.W_f.shape) == (H, D_in)
    assert diagram.sizes["U"] == tuple(cell.U_o.shape) == (H, H)
    assert diagram.sizes["parameters"] == sum(p.numel() for p in cell.parameters())
    drawn(diagram, f"{H} × {D_in}", f"{H} × {H}", diagram.sizes["parameters"])
    assert diagram.equations[:1] == ["eq-lstm-cell"] and len(diagram.equations) == 6


def test_lstm_cell_diagram_refuses_torch_cell_by_name():
    with pytest.raises(TypeError, match="cell must be a seqbook.lstm.LSTMCell, got LSTMCell"):
        D.lstm_cell(torch.nn.LSTMCell(3, 2))


@pytest.mark.parametrize("lengths", [[5, 3], [2], [4, 4, 1, 3]])
def test_bilstm_diagram_unrolls_each_sequence_to_its_own_length(lengths):
    lstm = LSTM(7, 5, num_layers=2, bidirectional=True)
    diagram = D.bilstm(lstm, torch.tensor(lengths))
    sizes = diagram.sizes
    assert (sizes["D"], sizes["H"], sizes["output"], sizes["num_layers"]) == (7, 5, 10, 2)
    assert sizes["lengths"] == lengths and sizes["T"] == max(lengths)
    assert sizes["backward_starts"] == [n - 1 for n in lengths]
    texts = diagram.strings()
    pads = sum(max(lengths) - n for n in lengths)
    assert texts.count("pad") == pads and texts.count("0") == pads + 2 * len(lengths)
    assert sum(t.startswith("$\\overleftarrow") for t in texts) == sum(lengths)
    drawn(diagram, "$2H$ = 10", "layer 1 of 2")


@pytest.mark.parametrize(
    "lstm, lengths, error, match",
    [
        (LSTM(4, 3), [2], ValueError, "lstm must be bidirectional"),
        (torch.nn.LSTM(4, 3, bidirectional=True), [2], TypeError, "lstm must be a seqbook.lstm"),
        (LSTM(4, 3, bidirectional=True), [0, 2], ValueError, "lengths"),
        (LSTM(4, 3, bidirectional=True), [11], ValueError, "lengths must hold 1 to 4"),
        (LSTM(4, 3, bidirectional=True), [1] * 5, ValueError, "lengths must hold 1 to 4"),
        (LSTM(4, 3, bidirectional=True), [2.5], TypeError, "lengths"),
    ],
)
def test_bilstm_diagram_refuses_bad_arguments_by_name(lstm, lengths, error, match):
    with pytest.raises(error, match=match):
        D.bilstm(lstm, lengths)


@pytest.mark.parametrize("layers, bidirectional", [(2, True), (6, True), (3, False)])
def test_stacked_diagram_reads_each_layer_from_the_cells(layers, bidirectional):
    lstm = LSTM(11, 4, num_layers=layers, bidirectional=bidirectional, dropout=0.3)
    dirs = 2 if bidirectional else 1
    diagram = D.stacked_bilstm(lstm)
    assert diagram.sizes["input_sizes"] == [11] + [dirs * 4] * (layers - 1)
    assert diagram.sizes["parameters"] == [
        sum(p.numel() for c in lstm.cells[k * dirs : (k + 1) * dirs] for p in c.parameters())
        for k in range(layers)
    ]
    assert diagram.sizes["output"] == dirs * 4 and diagram.sizes["dropout"] == 0.3
    drawn(diagram, "11 → 4", f"({layers * dirs}, $B$, 4)", f"layer {layers}", "dropout 0.3")
    assert (None in diagram.sizes["layers_drawn"]) == (layers > 4)
    assert ("eq-bilstm-concat" in diagram.equations) == bidirectional


def test_stacked_diagram_refuses_a_torch_lstm_by_name():
    with pytest.raises(TypeError, match="lstm must be a seqbook.lstm.LSTM, got LSTM"):
        D.stacked_bilstm(torch.nn.LSTM(3, 2))


# ----------------------------------------------------------------------------- ALBERT


@pytest.mark.parametrize(
    "overrides", [{}, {"hidden_size": 24, "num_attention_heads": 3, "intermediate_size": 40}]
)
def test_transformer_layer_diagram_reads_the_layer(overrides):
    config = albert_config(**overrides)
    layer = AlbertLayer(config)
    diagram = D.transformer_layer(layer)
    H, heads, I = config.hidden_size, config.num_attention_heads, config.intermediate_size
    assert (diagram.sizes["H"], diagram.sizes["heads"], diagram.sizes["I"]) == (H, heads, I)
    assert diagram.sizes["d_k"] == H // heads and diagram.sizes["activation"] == "gelu_new"
    assert diagram.sizes["parameters"] == sum(p.numel() for p in layer.parameters())
    drawn(diagram, f"{H} → {I}", f"{I} → {H}", f"{heads} heads", f"LayerNorm ({H})")


def test_transformer_layer_diagram_names_the_configured_activation():
    diagram = D.transformer_layer(AlbertLayer(albert_config(hidden_act="relu")))
    assert diagram.sizes["activation"] == "relu" and "eq-albert-gelu" not in diagram.equations
    with pytest.raises(TypeError, match="layer must be a seqbook.albert.AlbertLayer"):
        D.transformer_layer(AlbertEncoder(albert_config()))


@pytest.mark.parametrize("sharing", ["all", "attention", "ffn", "none"])
def test_albert_encoder_diagram_reads_sizes_and_sharing(sharing):
    config = albert_config()
    encoder = AlbertEncoder(config, sharing=sharing)
    diagram = D.albert_encoder(encoder)
    sizes = diagram.sizes
    assert (sizes["V"], sizes["E"], sizes["H"], sizes["L"]) == (120, 8, 16, 3)
    assert sizes["sharing"] == sharing and sizes["schedule"] == encoder.schedule
    assert sizes["attention_blocks"] == len(encoder.attention_blocks)
    assert sizes["ffn_blocks"] == len(encoder.ffn_blocks)
    assert sizes["factorised"] == 120 * 8 + 8 * 16 and sizes["unfactorised"] == 120 * 16
    texts = diagram.strings()
    assert [t for t in texts if t.startswith("attention ")] == [
        f"attention {a + 1}" for a, _ in encoder.schedule
    ]
    assert [t for t in texts if t.startswith("FFN ")] == [
        f"FFN {f + 1}" for _, f in encoder.schedule
    ]
    drawn(diagram, "8 → 16", f"'{sharing}'", "120 × 8")


def test_albert_encoder_diagram_follows_a_bigger_config_and_bert_without_projection():
    big = AlbertEncoder(albert_config(num_hidden_layers=14, embedding_size=16), sharing="none")
    diagram = D.albert_encoder(big)
    assert diagram.sizes["L"] == 14 and None in diagram.sizes["layers_drawn"]
    assert "layer 14" in diagram.strings() and "layer 7" not in diagram.strings()
    bert = AlbertEncoder(albert_config(embedding_size=16), sharing="none", projection=False)
    assert D.albert_encoder(bert).sizes["projection"] is False
    with pytest.raises(TypeError, match="encoder must be a seqbook.albert.AlbertEncoder"):
        D.albert_encoder(tiny_albert(0))


# ----------------------------------------------------------------------------- pretraining


def test_mlm_sop_diagram_draws_segments_types_masks_and_the_swap():
    diagram = D.mlm_sop_inputs(["a", "b"], ["c", "d", "e"], {1: "[MASK]", 4: "zebra", 6: "e"})
    sizes = diagram.sizes
    assert sizes["tokens"] == ["[CLS]", "a", "b", "[SEP]", "c", "d", "e", "[SEP]"]
    assert sizes["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert sizes["swapped"] == ["[CLS]", "c", "d", "e", "[SEP]", "a", "b", "[SEP]"]
    assert sizes["swapped_token_type_ids"] == [0, 0, 0, 0, 0, 1, 1, 1]
    assert sizes["outcomes"] == {1: "mask", 4: "random", 6: "kept"}
    texts = diagram.strings()
    assert "zebra" in texts and "[MASK]" in texts and "SOP label 1" in " ".join(texts)
    assert D.mlm_sop_inputs(["a"], ["b"], [1]).sizes["masked"] == {1: "[MASK]"}


@pytest.mark.parametrize(
    "a, b, masked, error, match",
    [
        ("the film", ["b"], (), TypeError, "segment_a must be a list of token strings"),
        (["a"], [], (), ValueError, "segment_b must be a non-empty list"),
        (["a"], ["b"], [0], ValueError, r"masked position 0 is \[CLS\]"),
        (["a"], ["b"], [2], ValueError, r"masked position 2 is \[SEP\]"),
        (["a"], ["b"], [9], ValueError, "masked positions must be ints"),
        (["a"], ["b"], {1: ""}, ValueError, r"masked\[1\] must be the token"),
        (["a"], ["b"], 3, TypeError, "masked must be a list of positions or a dict"),
        (["a"] * 15, ["b"] * 7, (), ValueError, "segment_a and segment_b must hold at most"),
    ],
)
def test_mlm_sop_diagram_refuses_bad_arguments_by_name(a, b, masked, error, match):
    with pytest.raises(error, match=match):
        D.mlm_sop_inputs(a, b, masked)


# ----------------------------------------------------------------------------- systems


@pytest.mark.parametrize("hidden, layers, pooling", [(6, 1, "mean"), (9, 2, "attention")])
def test_pipeline_diagram_reads_the_classifier(hidden, layers, pooling):
    classifier = AlbertBiLSTMClassifier(
        tiny_albert(0, hidden_size=12), hidden_size=hidden, num_layers=layers, pooling=pooling
    )
    diagram = D.albert_bilstm_pipeline(classifier)
    sizes = diagram.sizes
    assert (sizes["H_enc"], sizes["encoder_layers"], sizes["E"]) == (12, 2, 8)
    assert (sizes["H"], sizes["num_layers"], sizes["pooling"]) == (hidden, layers, pooling)
    assert sizes["output"] == 2 * hidden and sizes["frozen"] is False
    drawn(diagram, f"$H$ = {hidden} each", f"($B$, $T$, {2 * hidden})", f"linear {2 * hidden} → 2")
    frozen = AlbertBiLSTMClassifier(tiny_albert(0), freeze_encoder=True)
    assert "AlbertModel (frozen)" in D.albert_bilstm_pipeline(frozen).strings()[2]
    with pytest.raises(TypeError, match="classifier must be a seqbook.albert_bilstm"):
        D.albert_bilstm_pipeline(tiny_albert(0))


def test_fusion_diagram_reads_each_fusion_module():
    modules = [
        F.ConcatFusion(12, 5),
        F.WeightedSumFusion(12, 5, 8, 0.25),
        F.WeightedSumFusion(12, 5, 8, 0.75, learn_alpha=True),
        F.GatedFusion(20, 7, 6),
        F.SingleSource(12, 5, 8, "static"),
    ]
    panels = D.fusion(modules).sizes["panels"]
    assert [p["kind"] for p in panels] == [type(m).__name__ for m in modules]
    assert [(p["D_c"], p["D_s"], p["out"]) for p in panels] == [
        (12, 5, 17),
        (12, 5, 8),
        (12, 5, 8),
        (20, 7, 6),
        (12, 5, 8),
    ]
    assert panels[1]["alpha"] == 0.25 and panels[1]["learned"] is False
    assert panels[2]["alpha"] == pytest.approx(0.75) and panels[2]["learned"] is True
    diagram = D.fusion(F.GatedFusion(20, 7, 6))
    drawn(diagram, "$W_h$: 20 → 6", "$W_e$: 7 → 6", "$v$: 6")
    assert diagram.equations == ["eq-fusion-gate"]


def test_fusion_diagram_draws_a_classifier_head_and_refuses_other_modules():
    classifier = F.FusionClassifier(F.ConcatFusion(12, 5), head="bilstm", hidden_size=7)
    panel = D.fusion(classifier).sizes["panels"][0]
    assert panel["head"] == "bilstm" and panel["num_classes"] == 2 and panel["out"] == 17
    assert "BiLSTM, $H$ = 7" in D.fusion(classifier).strings()
    with pytest.raises(TypeError, match="model must be a seqbook.fusion module"):
        D.fusion(torch.nn.Linear(3, 3))
    with pytest.raises(TypeError, match="model must be"):
        D.fusion([])
