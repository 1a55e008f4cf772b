"""Checks for the fusion chapter: aligning subwords to words, the weighted sum, gated fusion (one
gate per word, and one per word and feature) and a fallback for GloVe's missing contractions.
Inputs are generated (seeded); answers come from `seqbook.fusion` or the equations themselves.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from gensim.models import KeyedVectors
from torch import nn

from seqbook.checks import CheckReport, assert_close, run_cases
from seqbook.fusion import GatedFusion, align_subwords, weighted_sum


def _word_ids(pieces: list[int], pad: int = 0) -> list[int | None]:
    """[None] + word w repeated pieces[w] times + [None] * (1 + pad): [CLS] ... [SEP] padding."""
    ids: list[int | None] = [None]
    for w, n in enumerate(pieces):
        ids += [w] * n
    return ids + [None] * (1 + pad)


def check_align_subwords(fn: Callable) -> CheckReport:
    """`fn(hidden, word_ids, num_words, strategy)` -> (num_words, H): for subword states `hidden`
    (T, H) and `word_ids` (T entries, None at special tokens and padding), each word's first,
    mean or last subword state (`strategy` "first" | "mean" | "last"), eq. (eq-fusion-align)."""

    def case(pieces: list[int], H: int, pad: int, strategy: str, seed: int) -> Callable[[], None]:
        def run() -> None:
            ids = _word_ids(pieces, pad)
            hidden = torch.randn(len(ids), H, generator=torch.Generator().manual_seed(seed))
            expected = align_subwords(hidden, ids, len(pieces), strategy)
            got = fn(hidden.clone(), list(ids), len(pieces), strategy)
            assert_close(
                got, expected, f"{strategy} subword of words with {pieces} pieces", 1e-5, 1e-5
            )

        return run

    g = torch.Generator().manual_seed(0)
    many = torch.randint(1, 5, (12,), generator=g).tolist()  # 12 words of 1 to 4 pieces
    return run_cases(
        "align_subwords",
        [
            ("one piece per word (all strategies agree)", case([1, 1, 1], 4, 0, "mean", 0)),
            ("first piece, words of 1-4 pieces", case(many, 6, 0, "first", 1)),
            ("mean of the pieces", case(many, 6, 0, "mean", 2)),
            ("last piece", case(many, 6, 0, "last", 3)),
            ("mean, with padding after [SEP]", case([3, 1, 2], 5, 4, "mean", 4)),
            ("a word of 7 pieces, last", case([1, 7, 1], 3, 2, "last", 5)),
        ],
    )


def check_weighted_sum(fn: Callable) -> CheckReport:
    """`fn(h_proj, e_proj, alpha)` -> alpha * h_proj + (1 - alpha) * e_proj for two projected
    tensors of one shape (B, W, D), eq. (eq-fusion-weighted); alpha a float or a 0-d tensor
    (through which a gradient must flow when alpha is learned)."""

    def pair(seed: int, shape=(2, 5, 8)) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        return torch.randn(*shape, generator=g), torch.randn(*shape, generator=g)

    def case(alpha: float, seed: int) -> Callable[[], None]:
        def run() -> None:
            h, e = pair(seed)
            got = fn(h.clone(), e.clone(), alpha)
            assert_close(got, weighted_sum(h, e, alpha), f"fused vectors with alpha={alpha}")

        return run

    def learned() -> None:
        h, e = pair(7, (3, 4, 6))
        alpha = torch.tensor(0.3, requires_grad=True)
        got = fn(h, e, alpha)
        assert_close(got, weighted_sum(h, e, 0.3), "fused vectors with alpha a 0-d tensor")
        if not got.requires_grad:
            raise AssertionError("with alpha a tensor that requires grad, the result must too")
        got.sum().backward()
        expected = (h - e).sum()  # d/d alpha of sum(alpha h + (1 - alpha) e)
        assert_close(alpha.grad, expected, "gradient with respect to alpha", 1e-4, 1e-4)

    return run_cases(
        "weighted_sum",
        [
            ("alpha = 0.5", case(0.5, 0)),
            ("alpha = 0.2", case(0.2, 1)),
            ("alpha = 1: the contextual side only", case(1.0, 2)),
            ("alpha = 0: the static side only", case(0.0, 3)),
            ("alpha a learnable tensor", learned),
        ],
    )


def _reference_gated(d_model: int, seed: int) -> GatedFusion:
    torch.manual_seed(seed)
    return GatedFusion(5, 3, d_model)


def check_gated_fusion(cls_or_fn: Callable | type) -> CheckReport:
    """Gated fusion, eq. (eq-fusion-gate). Two accepted forms:

    - a **function** `fn(h, e, w_g, b_g)` -> `(fused, gate)`, for projected `h`, `e` (B, W, D),
      gate weights `w_g` (2D,) and bias `b_g` (a 0-d tensor): `gate` (B, W) is
      sigmoid([h ; e] . w_g + b_g) per word and `fused` (B, W, D) is gate * h + (1 - gate) * e;
    - an **nn.Module class** built as `cls(d_context, d_static, d_model)` whose
      `forward(contextual, static, return_gate=True)` returns `(fused, gate)`, with the parameters
      of `seqbook.fusion.GatedFusion` (proj_context, proj_static, gate: the check loads the
      reference's weights into it).
    """
    is_module = isinstance(cls_or_fn, type) and issubclass(cls_or_fn, nn.Module)

    def case(B: int, W: int, D: int, seed: int) -> Callable[[], None]:
        def run() -> None:
            ref = _reference_gated(D, seed)
            g = torch.Generator().manual_seed(seed + 50)
            contextual, static = (
                torch.randn(B, W, 5, generator=g),
                torch.randn(B, W, 3, generator=g),
            )
            with torch.no_grad():
                expected, expected_gate = ref(contextual, static, return_gate=True)
                if is_module:
                    reader = cls_or_fn(5, 3, D)
                    try:
                        reader.load_state_dict(ref.state_dict())
                    except RuntimeError as err:
                        names = sorted(ref.state_dict())
                        raise AssertionError(
                            f"the module must have GatedFusion's parameters {names}: {err}"
                        ) from err
                    out = reader(contextual, static, return_gate=True)
                else:
                    h, e = ref.proj_context(contextual), ref.proj_static(static)
                    w_g, b_g = ref.gate.weight[0].clone(), ref.gate.bias[0].clone()
                    out = cls_or_fn(h, e, w_g, b_g)
            if not isinstance(out, tuple | list) or len(out) != 2:
                raise AssertionError(f"expected a pair (fused, gate), got {type(out).__name__}")
            fused, gate = out
            if isinstance(gate, torch.Tensor) and gate.shape == (B, W, 1):
                gate = gate.squeeze(-1)
            assert_close(gate, expected_gate, "gate per word (B, W)", 1e-5, 1e-4)
            assert_close(fused, expected, "fused vectors (B, W, D)", 1e-5, 1e-4)

        return run

    return run_cases(
        "gated_fusion",
        [
            ("one text of 4 words, D = 6", case(1, 4, 6, 0)),
            ("3 texts of 7 words, D = 8", case(3, 7, 8, 1)),
            ("one word, D = 2", case(2, 1, 2, 2)),
        ],
    )


def check_feature_gate(fn: Callable) -> CheckReport:
    """`fn(h, e, W_g, b_g)` -> `(fused, gate)`: gated fusion with one gate per word *and feature*,
    eq. (eq-fusion-gate-feature): for projected `h`, `e` (B, W, d), the weight `W_g` (d, 2d) and
    bias `b_g` (d,) of an `nn.Linear(2 * d, d)`, `gate` (B, W, d) is sigmoid(W_g [h ; e] + b_g)
    and `fused` (B, W, d) is gate * h + (1 - gate) * e, feature by feature."""

    def case(B: int, W: int, d: int, seed: int) -> Callable[[], None]:
        def run() -> None:
            torch.manual_seed(seed)
            linear = nn.Linear(2 * d, d)
            g = torch.Generator().manual_seed(seed + 50)
            h, e = torch.randn(B, W, d, generator=g), torch.randn(B, W, d, generator=g)
            with torch.no_grad():
                W_g, b_g = linear.weight.clone(), linear.bias.clone()
                expected_gate = torch.sigmoid(linear(torch.cat([h, e], dim=-1)))  # (B, W, d)
                expected = expected_gate * h + (1 - expected_gate) * e
                out = fn(h.clone(), e.clone(), W_g, b_g)
            if not isinstance(out, tuple | list) or len(out) != 2:
                raise AssertionError(f"expected a pair (fused, gate), got {type(out).__name__}")
            fused, gate = out
            assert_close(gate, expected_gate, f"gate per word and feature (B, W, d) = {(B, W, d)}")
            assert_close(fused, expected, f"fused vectors (B, W, d) = {(B, W, d)}")

        return run

    return run_cases(
        "feature_gate",
        [
            ("one text of 4 words, d = 6", case(1, 4, 6, 0)),
            ("3 texts of 7 words, d = 8", case(3, 7, 8, 1)),
            ("d = 1: one gate per word, as eq. (eq-fusion-gate)", case(2, 5, 1, 2)),
        ],
    )


def contraction_pieces(word: str) -> list[str]:
    """GloVe's own pieces of a contraction, as its tokenizer cut them: "don't" -> ["do", "n't"],
    "can't" -> ["ca", "n't"], "it's" -> ["it", "'s"]; [] for a word without an apostrophe."""
    if word.endswith("n't") and len(word) > 3:
        return [word[:-3], "n't"]
    cut = word.rfind("'")
    return [word[:cut], word[cut:]] if cut > 0 else []


def _reference_oov_fallback(word: str, kv: KeyedVectors) -> np.ndarray:
    if word in kv.key_to_index:
        return kv[word]
    known = [p for p in contraction_pieces(word) if p in kv.key_to_index]
    if not known:
        return np.zeros(kv.vector_size, dtype=np.float32)
    return np.mean([kv[p] for p in known], axis=0)


def check_oov_fallback(fn: Callable) -> CheckReport:
    """`fn(word, kv)` -> (D,) a static vector for every word: `kv[word]` when the `KeyedVectors`
    `kv` knows it; otherwise the mean of the vectors of the word's pieces that `kv` knows (for a
    word ending in "n't", the rest and "n't": "ca" + "n't" for "can't"; for another word with an
    apostrophe, the parts before and from its last apostrophe: "it" + "'s"); a zero vector when
    none is known or the word has no apostrophe."""
    words = ["film", "o'clock", "do", "n't", "ca", "can", "don", "it", "'s", "s", "'re", "good"]

    def case(word: str, seed: int) -> Callable[[], None]:
        def run() -> None:
            rng = np.random.default_rng(seed)
            kv = KeyedVectors(vector_size=6, count=0, dtype=np.float32)
            kv.add_vectors(words, rng.standard_normal((len(words), 6)).astype(np.float32))
            expected = torch.from_numpy(_reference_oov_fallback(word, kv).astype(np.float32))
            got = fn(word, kv)
            if got is None:
                raise AssertionError(
                    f"{word!r}: got None; a word with no known piece gets a zero vector"
                )
            got = torch.from_numpy(np.array(got, dtype=np.float32))
            pieces = [p for p in contraction_pieces(word) if p in kv.key_to_index]
            how = (
                "its own vector"
                if word in kv.key_to_index
                else f"the mean of {pieces}"
                if pieces
                else "a zero vector"
            )
            assert_close(got, expected, f"{word!r} (expected {how})", 1e-6, 1e-5)

        return run

    return run_cases(
        "oov_fallback",
        [
            ("a word the vectors know", case("film", 0)),
            ("a known word with an apostrophe keeps its vector", case("o'clock", 1)),
            ("don't: do + n't", case("don't", 2)),
            ("can't: ca + n't", case("can't", 3)),
            ("it's: it + 's", case("it's", 4)),
            ("they're, 'they' unknown: 're alone", case("they're", 5)),
            ("no apostrophe, unknown: zeros", case("zzyzx", 6)),
            ("no piece known: zeros", case("y'all", 7)),
        ],
    )
