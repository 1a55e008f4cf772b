"""Checks for the ALBERT and pretraining exercises: generated inputs, compared with seqbook's
reference implementation (`seqbook.albert`, `seqbook.pretraining`)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from seqbook.checks import CheckReport, assert_close, run_cases

__all__ = [
    "check_embedding_parameters",
    "check_encoder_forward",
    "check_encoder_layer",
    "check_layer_distances",
    "check_mask_tokens",
    "check_parameter_count",
    "check_sharing_schedule",
    "check_sop_loss",
]


def _config(seed: int, **overrides):
    from transformers import AlbertConfig

    g = torch.Generator().manual_seed(seed)

    def pick(*options: int) -> int:
        return options[int(torch.randint(len(options), (1,), generator=g))]

    heads = pick(2, 4)
    values = {
        "vocab_size": pick(100, 3000, 30000),
        "embedding_size": pick(16, 64, 128),
        "hidden_size": heads * pick(8, 16, 32),
        "num_hidden_layers": pick(2, 3, 6, 12),
        "num_attention_heads": heads,
        "intermediate_size": pick(64, 128, 512),
        "max_position_embeddings": pick(64, 512),
    }
    return AlbertConfig(**(values | overrides))


def check_embedding_parameters(fn: Callable[[int, int, int], int]) -> CheckReport:
    """`fn(V, E, H)` must return the factorised embedding's weights V*E + E*H."""
    from seqbook.albert import embedding_parameters

    def case(V: int, E: int, H: int) -> Callable[[], None]:
        def run() -> None:
            got, want = fn(V, E, H), embedding_parameters(V, E, H)
            if got != want:
                raise AssertionError(f"V={V}, E={E}, H={H}: expected {want:,}, got {got!r}")

        return run

    sizes = [(30000, 128, 768), (30000, 128, 4096), (8000, 64, 128), (100, 768, 768)]
    return run_cases(
        "embedding_parameters", [(f"V={V}, E={E}, H={H}", case(V, E, H)) for V, E, H in sizes]
    )


def check_parameter_count(fn: Callable[[object, str], int]) -> CheckReport:
    """`fn(config, sharing)` must return the parameters of `AlbertEncoder(config, sharing)`
    (pooler included) for every sharing mode."""
    from seqbook.albert import SHARING_MODES, count_parameters

    def case(seed: int, sharing: str) -> Callable[[], None]:
        def run() -> None:
            config = _config(seed)
            want = count_parameters(config, sharing).total
            got = fn(config, sharing)
            if got != want:
                raise AssertionError(
                    f"sharing={sharing!r}, L={config.num_hidden_layers}, "
                    f"E={config.embedding_size}, H={config.hidden_size}: expected {want:,}, "
                    f"got {got!r}"
                )

        return run

    return run_cases(
        "parameter_count",
        [(f"sharing={s} (config {k})", case(k, s)) for k in range(2) for s in SHARING_MODES],
    )


def check_sop_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckReport:
    """`fn(logits (N, 2), labels (N,))` must return the mean sentence-order loss,
    eq. (eq-pretrain-sop-loss)."""

    def case(seed: int, N: int, scale: float) -> Callable[[], None]:
        def run() -> None:
            g = torch.Generator().manual_seed(seed)
            logits = torch.randn(N, 2, generator=g) * scale
            labels = torch.randint(2, (N,), generator=g)
            got = fn(logits, labels)
            assert_close(got, F.cross_entropy(logits, labels), f"L_SOP for N={N}", atol=1e-5)

        return run

    return run_cases(
        "sop_loss",
        [
            ("one pair", case(0, 1, 1.0)),
            ("a batch of 16", case(1, 16, 1.0)),
            ("large logits (numerical stability)", case(2, 8, 200.0)),
        ],
    )


def check_mask_tokens(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> CheckReport:
    """`fn(input_ids, mask_token_id=, vocab_size=, special_token_ids=)` must corrupt like BERT:
    15% of the non-special tokens chosen, 80/10/10 [MASK]/random/unchanged, labels -100 elsewhere.
    The rates are tested statistically on 100,000 tokens."""
    V, mask_id, specials = 500, 4, [0, 1, 2, 3, 4]
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, V, (200, 500), generator=g)
    ids[:, 0], ids[:, -1], ids[::3, -50:] = 2, 3, 0  # [CLS], [SEP], padding
    special = torch.isin(ids, torch.tensor(specials))

    def outputs() -> tuple[torch.Tensor, torch.Tensor]:
        corrupted, labels = fn(
            ids.clone(), mask_token_id=mask_id, vocab_size=V, special_token_ids=specials
        )
        if tuple(corrupted.shape) != tuple(ids.shape) or tuple(labels.shape) != tuple(ids.shape):
            raise AssertionError(f"expected two tensors of shape {tuple(ids.shape)}")
        return corrupted, labels

    def specials_untouched() -> None:
        corrupted, labels = outputs()
        if (labels[special] != -100).any() or (corrupted[special] != ids[special]).any():
            raise AssertionError("a special or padding token was selected or changed")

    def labels_right() -> None:
        corrupted, labels = outputs()
        chosen = labels != -100
        if (labels[chosen] != ids[chosen]).any():
            raise AssertionError("a selected position's label is not its original token id")
        if ((corrupted != ids) & ~chosen).any():
            raise AssertionError("a token that was not selected (label -100) was changed")

    def rates() -> None:
        corrupted, labels = outputs()
        chosen = labels != -100
        rate = chosen.sum().item() / (~special).sum().item()
        if abs(rate - 0.15) > 0.01:
            raise AssertionError(f"expected 15% of non-special tokens selected, got {rate:.1%}")
        n = chosen.sum().item()
        masked = (corrupted[chosen] == mask_id).sum().item() / n
        same = (corrupted[chosen] == ids[chosen]).sum().item() / n
        if abs(masked - 0.8) > 0.02 or abs(same - 0.1) > 0.02:
            raise AssertionError(
                f"expected 80% [MASK] and 10% unchanged among selected, got {masked:.1%} and "
                f"{same:.1%}"
            )
        if torch.isin(corrupted[chosen & (corrupted != mask_id)], torch.tensor(specials)).any():
            raise AssertionError("a random replacement was a special token")

    return run_cases(
        "mask_tokens",
        [
            ("specials and padding are never masked", specials_untouched),
            ("labels are the original ids, -100 elsewhere", labels_right),
            ("15% selected; 80/10/10 split", rates),
        ],
    )


def check_layer_distances(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> CheckReport:
    """`fn(states, attention_mask)` must return the per-layer mean L2 distance and cosine
    similarity between consecutive layers' token vectors, over real tokens only."""
    from seqbook.albert import layer_distances

    def case(seed: int, padded: bool) -> Callable[[], None]:
        def run() -> None:
            g = torch.Generator().manual_seed(seed)
            states = [torch.randn(3, 6, 8, generator=g) for _ in range(4)]
            mask = torch.ones(3, 6, dtype=torch.long)
            if padded:
                mask[1, 4:], mask[2, 2:] = 0, 0
            want_l2, want_cos = layer_distances(states, mask)
            got = fn(states, mask)
            if not isinstance(got, tuple) or len(got) != 2:
                raise AssertionError("expected a pair (l2, cosine)")
            assert_close(got[0], want_l2, "L2 distances")
            assert_close(got[1], want_cos, "cosine similarities")

        return run

    return run_cases(
        "layer_distances",
        [("no padding", case(0, False)), ("padding is ignored", case(1, True))],
    )


def check_sharing_schedule(fn: Callable[[int, str], list]) -> CheckReport:
    """`fn(num_layers, sharing)` must return, for each of the L layers, the pair (attention block,
    feed-forward block) it applies, eq. (eq-albert-sharing): `seqbook.albert.sharing_schedule` for
    a config with one layer group."""
    from transformers import AlbertConfig

    from seqbook.albert import sharing_schedule

    def case(L: int, sharing: str) -> Callable[[], None]:
        def run() -> None:
            want = sharing_schedule(AlbertConfig(num_hidden_layers=L), sharing)
            got = fn(L, sharing)
            try:
                got = [tuple(int(i) for i in pair) for pair in got]
            except (TypeError, ValueError) as e:
                raise AssertionError(
                    f"expected a list of (attention block, feed-forward block) pairs, got {got!r}"
                ) from e
            if got != want:
                raise AssertionError(f"expected {want}, got {got}")

        return run

    return run_cases(
        "sharing_schedule",
        [
            (f"L={L}, sharing={s}", case(L, s))
            for L in (1, 4)
            for s in ("all", "attention", "ffn", "none")
        ],
    )


def check_encoder_forward(fn: Callable[..., torch.Tensor]) -> CheckReport:
    """`fn(encoder, input_ids, attention_mask)` must return the last hidden states (B, T, H) of a
    `seqbook.albert.AlbertEncoder`, computed from its parts (embeddings, the E -> H projection,
    then `encoder.schedule`'s blocks), eqs. (eq-albert-factorised) and (eq-albert-sharing);
    compared with `encoder(...)`, values and gradients of the shared weights."""
    from seqbook.albert import AlbertEncoder

    def case(seed: int, sharing: str, lengths: list[int], backward: bool) -> Callable[[], None]:
        def run() -> None:
            torch.manual_seed(seed)
            config = _config(seed, vocab_size=50, num_hidden_layers=3, max_position_embeddings=16)
            encoder = AlbertEncoder(config, sharing=sharing).double().eval()
            T = max(lengths)
            g = torch.Generator().manual_seed(seed)
            ids = torch.randint(1, 50, (len(lengths), T), generator=g)
            mask = (torch.arange(T) < torch.tensor(lengths)[:, None]).long()
            ids = ids * mask  # padding id 0
            with torch.set_grad_enabled(backward):
                want = encoder(ids, mask)
                got = fn(encoder, ids.clone(), mask.clone())
            where = f"sharing={sharing!r}, lengths {lengths}"
            assert_close(got, want, f"hidden states (B, T, H), {where}", atol=1e-9, rtol=1e-6)
            if not backward:
                return
            weight = encoder.attention_blocks[0].query.weight
            upstream = torch.randn(want.shape, generator=g, dtype=torch.float64)
            (grad_want,) = torch.autograd.grad((want * upstream).sum(), [weight])
            if not isinstance(got, torch.Tensor) or not got.requires_grad:
                raise AssertionError("the hidden states are not connected to the encoder's weights")
            (grad_got,) = torch.autograd.grad((got * upstream).sum(), [weight], allow_unused=True)
            if grad_got is None:
                raise AssertionError("the shared attention block's W^Q gets no gradient")
            assert_close(
                grad_got,
                grad_want,
                "d loss / d W^Q of the shared attention block (summed over the layers that use it)",
                atol=1e-9,
                rtol=1e-6,
            )

        return run

    return run_cases(
        "encoder_forward",
        [
            ("sharing='all', no padding", case(0, "all", [6, 6], False)),
            ("sharing='all', padded batch", case(1, "all", [7, 3, 5], False)),
            ("sharing='none'", case(2, "none", [5, 2], False)),
            ("sharing='attention'", case(3, "attention", [4, 4, 1], False)),
            ("gradient of the shared W^Q", case(4, "all", [5, 3], True)),
        ],
    )


def check_encoder_layer(fn: Callable[..., torch.Tensor]) -> CheckReport:
    """`fn(layer, hidden, attention_mask)` must return the output (B, T, H) of a
    `seqbook.albert.AlbertLayer`, eq. (eq-albert-layer), computed from its weights (the attention
    block, eq. (eq-albert-attention-block), then the feed-forward block, eq.
    (eq-albert-ffn-block)); `attention_mask` is (B, T), 1 = real token, or None. Compared with
    `layer(hidden, attention_mask)` in float64."""
    from seqbook.albert import AlbertLayer

    def case(seed: int, lengths: list[int] | None, act: str) -> Callable[[], None]:
        def run() -> None:
            torch.manual_seed(seed)
            config = _config(seed, hidden_act=act)
            layer = AlbertLayer(config).double().eval()
            B, T = (2, 5) if lengths is None else (len(lengths), max(lengths))
            g = torch.Generator().manual_seed(seed)
            hidden = torch.randn(B, T, config.hidden_size, generator=g, dtype=torch.float64)
            mask = None
            if lengths is not None:
                mask = (torch.arange(T) < torch.tensor(lengths)[:, None]).long()
            with torch.no_grad():
                want = layer(hidden, mask)
                got = fn(layer, hidden.clone(), None if mask is None else mask.clone())
            where = f"activation {act!r}, " + ("no mask" if mask is None else f"lengths {lengths}")
            assert_close(got, want, f"layer output (B, T, H), {where}", atol=1e-9, rtol=1e-6)

        return run

    return run_cases(
        "encoder_layer",
        [
            ("no mask, gelu_new", case(0, None, "gelu_new")),
            ("padded batch, gelu_new", case(1, [6, 2, 4], "gelu_new")),
            ("padded batch, exact gelu", case(2, [3, 5], "gelu")),
        ],
    )
