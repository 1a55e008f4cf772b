"""ALBERT from scratch (Lan et al. 2020): factorised embeddings and cross-layer sharing.

The encoder is the one of `transformers.AlbertModel`, written out on `seqbook.attention`:

    e_t = LayerNorm(E_word[x_t] + E_pos[t] + E_type[s_t])       (E wide, eq. eq-albert-embedding)
    h^0_t = W_proj e_t + b_proj                                 (E -> H, eq. eq-albert-factorised)
    a^l = LayerNorm(h^{l-1} + MultiHead(h^{l-1}))        (post-LN, eq. eq-albert-attention-block)
    h^l = LayerNorm(a^l + W_2 act(W_1 a^l + b_1) + b_2)   (eq. eq-albert-ffn-block)

One layer (attention block, then feed-forward block) is `AlbertLayer`, equal to transformers'
`AlbertLayer`. With `projection=False` (needs E == H) the E -> H mapping is the identity, which
makes a BERT encoder the special case E = H, `sharing="none"` (`AlbertEncoder.from_bert`).

Cross-layer sharing (eq. eq-albert-sharing, W_i = W_j) is a *schedule*: layer `l` uses attention
block `schedule[l][0]` and feed-forward block `schedule[l][1]`. `sharing="all"` gives every layer
the same blocks (ALBERT), `"attention"` or `"ffn"` share one kind only, `"none"` gives every layer
its own (BERT-style, still with the factorised embedding). `"all"` also honours the config's
`num_hidden_groups` / `inner_group_num`, so any `transformers.AlbertModel` can be copied exactly.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqbook.attention import scaled_dot_product_attention
from seqbook.validate import check_ids, check_mask, check_positive_ints, check_tensor

__all__ = [
    "ACTIVATIONS",
    "SHARING_MODES",
    "AlbertEncoder",
    "AlbertLayer",
    "ParameterCount",
    "albert_config_from_bert",
    "count_parameters",
    "count_parameters_meta",
    "embedding_parameters",
    "layer_distances",
    "sharing_schedule",
]

SHARING_MODES = ("all", "attention", "ffn", "none")
SEQBOOK_CONFIG_KEY = "seqbook_encoder"  # config.json entry of a folder in seqbook's format
SEQBOOK_WEIGHTS = "seqbook_encoder.safetensors"


def _gelu_new(x: Tensor) -> Tensor:
    """The tanh approximation of GELU that ALBERT uses (`gelu_new` in transformers), eq.
    (eq-albert-gelu)."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "gelu": F.gelu,  # the exact, erf-based GELU
    "gelu_new": _gelu_new,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
}


# ----------------------------------------------------------------------------- configuration


def _check_config(config: object, sharing: str) -> None:
    from transformers import AlbertConfig

    if not isinstance(config, AlbertConfig):
        raise TypeError(f"config must be a transformers.AlbertConfig, got {type(config).__name__}")
    if sharing not in SHARING_MODES:
        raise ValueError(f"sharing must be one of {SHARING_MODES}, got {sharing!r}")
    H, heads = config.hidden_size, config.num_attention_heads
    if H % heads:
        raise ValueError(
            f"hidden_size ({H}) must be divisible by num_attention_heads ({heads}), got "
            f"remainder {H % heads}"
        )
    if config.hidden_act not in ACTIVATIONS:
        raise ValueError(
            f"config.hidden_act must be one of {sorted(ACTIVATIONS)}, got {config.hidden_act!r}"
        )
    L, G, K = config.num_hidden_layers, config.num_hidden_groups, config.inner_group_num
    if not 1 <= G <= L or K < 1:
        raise ValueError(
            "config needs 1 <= num_hidden_groups <= num_hidden_layers and inner_group_num >= 1, "
            f"got num_hidden_groups={G}, num_hidden_layers={L}, inner_group_num={K}"
        )
    grouped = G != 1 or K != 1
    if sharing == "none" and (K != 1 or G not in (1, L)):
        raise ValueError(
            'sharing="none" needs inner_group_num=1 and num_hidden_groups 1 or num_hidden_layers, '
            f"got num_hidden_groups={G}, inner_group_num={K}"
        )
    if sharing in ("attention", "ffn") and grouped:
        raise ValueError(
            f"sharing={sharing!r} needs num_hidden_groups=1 and inner_group_num=1 (the groups are "
            f"transformers' form of sharing='all'), got {G} and {K}"
        )


def sharing_schedule(config: object, sharing: str = "all") -> list[tuple[int, int]]:
    """For each applied layer, the (attention block, feed-forward block) it uses, eq.
    (eq-albert-sharing).

    With `sharing="all"` this is transformers' grouping: layer `i` of `num_hidden_layers` runs
    group `int(i / (L / G))`, and each group runs its `inner_group_num` layers in turn.
    """
    _check_config(config, sharing)
    L, G, K = config.num_hidden_layers, config.num_hidden_groups, config.inner_group_num
    if sharing == "none":
        return [(i, i) for i in range(L)]
    if sharing == "attention":
        return [(0, i) for i in range(L)]
    if sharing == "ffn":
        return [(i, 0) for i in range(L)]
    schedule = []
    for i in range(L):
        group = int(i / (L / G))
        schedule += [(group * K + k, group * K + k) for k in range(K)]
    return schedule


def _check_projection(config, projection: bool) -> None:
    if not isinstance(projection, bool):
        raise TypeError(f"projection must be a bool, got {type(projection).__name__}")
    if not projection and config.embedding_size != config.hidden_size:
        raise ValueError(
            "projection=False (identity E -> H mapping) needs embedding_size == hidden_size, got "
            f"E={config.embedding_size} and H={config.hidden_size}"
        )


def albert_config_from_bert(bert_config) -> object:
    """The `transformers.AlbertConfig` of a BERT encoder: E = H, one group per layer (no
    sharing), BERT's activation (`hidden_act`, exact `gelu` for BERT), sizes and epsilon."""
    from transformers import AlbertConfig, BertConfig

    if not isinstance(bert_config, BertConfig):
        raise TypeError(
            f"bert_config must be a transformers.BertConfig, got {type(bert_config).__name__}"
        )
    kind = getattr(bert_config, "position_embedding_type", "absolute")
    if kind != "absolute":
        raise ValueError(f"only absolute position embeddings can be copied, got {kind!r}")
    c = bert_config
    return AlbertConfig(
        vocab_size=c.vocab_size,
        embedding_size=c.hidden_size,
        hidden_size=c.hidden_size,
        num_hidden_layers=c.num_hidden_layers,
        num_hidden_groups=c.num_hidden_layers,
        inner_group_num=1,
        num_attention_heads=c.num_attention_heads,
        intermediate_size=c.intermediate_size,
        hidden_act=c.hidden_act,
        hidden_dropout_prob=c.hidden_dropout_prob,
        attention_probs_dropout_prob=c.attention_probs_dropout_prob,
        max_position_embeddings=c.max_position_embeddings,
        type_vocab_size=c.type_vocab_size,
        initializer_range=c.initializer_range,
        layer_norm_eps=c.layer_norm_eps,
        pad_token_id=c.pad_token_id,
    )


# ----------------------------------------------------------------------------- modules


class AlbertEmbeddings(nn.Module):
    """Word + position + token-type embeddings, E wide, then LayerNorm and dropout,
    eq. (eq-albert-embedding)."""

    def __init__(self, config) -> None:
        super().__init__()
        E = config.embedding_size
        self.word_embeddings = nn.Embedding(config.vocab_size, E, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, E)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, E)
        self.LayerNorm = nn.LayerNorm(E, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor) -> Tensor:
        T = input_ids.shape[1]
        positions = torch.arange(T, device=input_ids.device)  # (T,)
        e = (
            self.word_embeddings(input_ids)  # (B, T, E)
            + self.position_embeddings(positions)[None]  # (1, T, E)
            + self.token_type_embeddings(token_type_ids)  # (B, T, E)
        )
        return self.dropout(self.LayerNorm(e))


class AlbertSelfAttention(nn.Module):
    """Multi-head self-attention with a residual connection and post-LayerNorm, eq.
    (eq-albert-attention-block): a = LayerNorm(h + Dropout(MultiHead(h)))."""

    def __init__(self, config) -> None:
        super().__init__()
        H = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = H // self.num_heads
        self.query = nn.Linear(H, H)  # W^Q for all heads
        self.key = nn.Linear(H, H)  # W^K
        self.value = nn.Linear(H, H)  # W^V
        self.dense = nn.Linear(H, H)  # W^O
        self.LayerNorm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.attention_dropout = nn.Dropout(config.attention_probs_dropout_prob)
        self.output_dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, h: Tensor, mask: Tensor | None, weights_out: list | None = None) -> Tensor:
        """`weights_out`, if given, receives the attention probabilities (B, heads, T, T)."""
        B, T, H = h.shape

        def heads(x: Tensor) -> Tensor:  # (B, T, H) -> (B, heads, T, d)
            return x.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)

        Q, K, V = heads(self.query(h)), heads(self.key(h)), heads(self.value(h))
        # the layer or encoder that runs this block has checked its inputs
        out, weights = scaled_dot_product_attention(Q, K, V, mask, check=False)  # (B, heads, T, d)
        if weights_out is not None:
            weights_out.append(weights)
        if self.training and self.attention_dropout.p > 0:
            out = self.attention_dropout(weights) @ V  # dropout on the attention probabilities
        out = out.transpose(1, 2).reshape(B, T, H)  # concatenate the heads
        return self.LayerNorm(h + self.output_dropout(self.dense(out)))


class AlbertFeedForward(nn.Module):
    """Position-wise feed-forward network with a residual connection and post-LayerNorm, eq.
    (eq-albert-ffn-block): LayerNorm(a + Dropout(W_2 act(W_1 a + b_1) + b_2))."""

    def __init__(self, config) -> None:
        super().__init__()
        H, I = config.hidden_size, config.intermediate_size
        self.ffn = nn.Linear(H, I)  # W_1
        self.ffn_output = nn.Linear(I, H)  # W_2
        self.full_layer_layer_norm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.activation = ACTIVATIONS[config.hidden_act]
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, a: Tensor) -> Tensor:
        f = self.ffn_output(self.activation(self.ffn(a)))  # (B, T, H)
        return self.full_layer_layer_norm(a + self.dropout(f))


def _check_attention_mask(attention_mask: object, B: int, T: int) -> Tensor | None:
    """Hugging Face's `attention_mask` (B, T), 1/True = real token, as a bool tensor (or None)."""
    if attention_mask is None:
        return None
    return check_mask(attention_mask, "B, T", "attention_mask", B=B, T=T)


def _extended_mask(mask: Tensor | None) -> Tensor | None:
    """A checked bool `attention_mask` (B, T), True = real token, as the (B, 1, 1, T) mask of
    `seqbook.attention` (True = may attend), broadcast over heads and queries."""
    return None if mask is None else mask[:, None, None, :]


class AlbertLayer(nn.Module):
    """One Transformer encoder layer as BERT and ALBERT place it (post-LN), eq.
    (eq-albert-layer): the attention block, eq. (eq-albert-attention-block), then the
    feed-forward block, eq. (eq-albert-ffn-block). Equal to transformers' `AlbertLayer`.

    `forward(hidden, attention_mask=None)`: hidden `(B, T, H)`; `attention_mask` `(B, T)` with
    1/True = real token (Hugging Face's convention). Returns `(B, T, H)`.
    """

    def __init__(self, config) -> None:
        super().__init__()
        _check_config(config, "all")
        self.attention = AlbertSelfAttention(config)
        self.feed_forward = AlbertFeedForward(config)

    def forward(self, hidden: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        H = self.attention.query.in_features
        check_tensor(hidden, "hidden", "B, T, H", dtype="float", H=H)
        mask = _check_attention_mask(attention_mask, *hidden.shape[:2])
        return self.feed_forward(self.attention(hidden, _extended_mask(mask)))

    @classmethod
    def from_hf(cls, layer) -> AlbertLayer:
        """A copy of a `transformers.models.albert.modeling_albert.AlbertLayer`."""
        from transformers.models.albert.modeling_albert import AlbertLayer as HFAlbertLayer

        if not isinstance(layer, HFAlbertLayer):
            raise TypeError(f"layer must be transformers' AlbertLayer, got {type(layer).__name__}")
        new = cls(layer.config)
        state = {}
        for k, v in layer.state_dict().items():
            if k.startswith("attention."):
                state[k] = v
            else:
                state[f"feed_forward.{k}"] = v
        new.load_state_dict(state, strict=True)
        weight = layer.ffn.weight
        return new.to(device=weight.device, dtype=weight.dtype)


class AlbertEncoder(nn.Module):
    """ALBERT's encoder, eqs. (eq-albert-factorised) and (eq-albert-sharing).

    `forward(input_ids, attention_mask=None, token_type_ids=None)` returns the last hidden states
    `(B, T, H)`; `attention_mask` is Hugging Face's: 1/True = real token, 0/False = padding.
    `pool(hidden)` is the `[CLS]` pooler, tanh(W h_0 + b), when `pooler=True`.
    `projection=False` (only with E == H) replaces the E -> H mapping by the identity: BERT's
    embeddings, which have no such mapping.
    """

    def __init__(
        self, config, sharing: str = "all", pooler: bool = True, projection: bool = True
    ) -> None:
        super().__init__()
        self.schedule = sharing_schedule(config, sharing)
        _check_projection(config, projection)
        self.config = copy.deepcopy(config)
        self.sharing = sharing
        n_attention = 1 + max(a for a, _ in self.schedule)
        n_ffn = 1 + max(f for _, f in self.schedule)
        self.embeddings = AlbertEmbeddings(config)
        self.embedding_hidden_mapping_in = (
            nn.Linear(config.embedding_size, config.hidden_size) if projection else nn.Identity()
        )
        self.attention_blocks = nn.ModuleList(
            AlbertSelfAttention(config) for _ in range(n_attention)
        )
        self.ffn_blocks = nn.ModuleList(AlbertFeedForward(config) for _ in range(n_ffn))
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size) if pooler else None
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        """Normal(0, initializer_range) weights, zero biases, unit LayerNorms (as transformers)."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, std)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, 0.0, std)
            if module.padding_idx is not None and module.weight.device.type != "meta":
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    # ------------------------------------------------------------------ forward

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
    ) -> Tensor:
        """Last hidden states `(B, T, H)`."""
        mask = self._check_inputs(input_ids, attention_mask, token_type_ids)
        return self._hidden_states(input_ids, mask, token_type_ids)[-1]

    def hidden_states(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
    ) -> list[Tensor]:
        """Every layer's output: `[h^0 (after the E -> H projection), h^1, ..., h^L]`."""
        mask = self._check_inputs(input_ids, attention_mask, token_type_ids)
        return self._hidden_states(input_ids, mask, token_type_ids)

    def states_and_attentions(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
    ) -> tuple[list[Tensor], list[Tensor]]:
        """`hidden_states` and every layer's attention probabilities `(B, heads, T, T)`."""
        mask = self._check_inputs(input_ids, attention_mask, token_type_ids)
        weights: list[Tensor] = []
        return self._hidden_states(input_ids, mask, token_type_ids, weights), weights

    def _hidden_states(
        self,
        input_ids: Tensor,
        mask: Tensor | None,
        token_type_ids: Tensor | None,
        weights_out: list | None = None,
    ) -> list[Tensor]:
        """`hidden_states` on checked inputs (`mask` the bool attention mask or None)."""
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        mask = _extended_mask(mask)  # (B, 1, 1, T) or None
        e = self.embeddings(input_ids, token_type_ids)  # (B, T, E)
        h = self.embedding_hidden_mapping_in(e)  # (B, T, H)
        states = [h]
        for a, f in self.schedule:  # one AlbertLayer, eq. (eq-albert-layer), per entry
            h = self.ffn_blocks[f](self.attention_blocks[a](h, mask, weights_out))
            states.append(h)
        return states

    def pool(self, hidden: Tensor) -> Tensor:
        """The pooled `[CLS]` vector `tanh(W h_0 + b)`, `(B, H)`."""
        if self.pooler is None:
            raise ValueError("this encoder was built with pooler=False; it has no pooler")
        return torch.tanh(self.pooler(hidden[:, 0]))

    def _check_inputs(
        self, input_ids: Tensor, attention_mask: Tensor | None, token_type_ids: Tensor | None
    ) -> Tensor | None:
        """Check a batch; return the attention mask as a bool tensor (or None)."""
        c = self.config
        check_ids(input_ids, "input_ids", c.vocab_size, of=" (vocab_size)")
        B, T = input_ids.shape
        if T > c.max_position_embeddings:
            raise ValueError(
                f"input_ids has length T={T}, longer than "
                f"max_position_embeddings={c.max_position_embeddings}"
            )
        if token_type_ids is not None:
            check_ids(
                token_type_ids,
                "token_type_ids",
                c.type_vocab_size,
                of=" (type_vocab_size)",
                B=B,
                T=T,
            )
        return _check_attention_mask(attention_mask, B, T)

    # ------------------------------------------------------------------ transformers <-> seqbook

    @classmethod
    def from_hf(cls, model) -> AlbertEncoder:
        """A copy of a `transformers.AlbertModel` (same weights, same hidden states)."""
        from transformers import AlbertModel

        if not isinstance(model, AlbertModel):
            raise TypeError(f"model must be a transformers.AlbertModel, got {type(model).__name__}")
        config = model.config
        L, G, K = config.num_hidden_layers, config.num_hidden_groups, config.inner_group_num
        sharing = "none" if (L > 1 and G == L and K == 1) else "all"
        new = cls(config, sharing=sharing, pooler=model.pooler is not None)
        new.load_state_dict(_hf_to_seqbook(model.state_dict(), new), strict=True)
        weight = model.embeddings.word_embeddings.weight
        return new.to(device=weight.device, dtype=weight.dtype)

    @classmethod
    def from_bert(cls, model) -> AlbertEncoder:
        """A copy of a `transformers.BertModel`: BERT is this encoder with E = H,
        `sharing="none"` and no E -> H projection (`projection=False`); same hidden states."""
        from transformers import BertModel

        if not isinstance(model, BertModel):
            raise TypeError(f"model must be a transformers.BertModel, got {type(model).__name__}")
        config = albert_config_from_bert(model.config)
        new = cls(config, sharing="none", pooler=model.pooler is not None, projection=False)
        new.load_state_dict(_bert_to_seqbook(model.state_dict()), strict=True)
        weight = model.embeddings.word_embeddings.weight
        return new.to(device=weight.device, dtype=weight.dtype)

    # ------------------------------------------------------------------ saving and loading

    def save_pretrained(self, directory) -> None:
        """Write this encoder to `directory` in seqbook's format (any sharing mode): `config.json`
        (the `AlbertConfig` plus a "seqbook_encoder" entry with the sharing mode, projection and
        pooler) and `seqbook_encoder.safetensors`. `AlbertEncoder.from_pretrained` reads it;
        `transformers` refuses it (no `model.safetensors`) instead of loading wrong weights.
        Use `to_hf().save_pretrained(...)` for a folder `AlbertModel.from_pretrained` loads."""
        import json
        from pathlib import Path

        from safetensors.torch import save_file

        from seqbook.cache import atomic_path, write_text

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = self.config.to_dict()
        config[SEQBOOK_CONFIG_KEY] = {
            "sharing": self.sharing,
            "projection": not isinstance(self.embedding_hidden_mapping_in, nn.Identity),
            "pooler": self.pooler is not None,
        }
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        with atomic_path(directory / SEQBOOK_WEIGHTS) as tmp:
            save_file(state, str(tmp))
        write_text(directory / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_pretrained(cls, directory) -> AlbertEncoder:
        """Load an encoder written by `save_pretrained`."""
        from pathlib import Path

        from safetensors.torch import load_file
        from transformers import AlbertConfig

        from seqbook.cache import read_json

        directory = Path(directory)
        raw = read_json(directory / "config.json") if (directory / "config.json").is_file() else {}
        if SEQBOOK_CONFIG_KEY not in raw or not (directory / SEQBOOK_WEIGHTS).is_file():
            raise ValueError(
                f"directory must hold config.json with a {SEQBOOK_CONFIG_KEY!r} entry and "
                f"{SEQBOOK_WEIGHTS} (written by AlbertEncoder.save_pretrained), got "
                f"{str(directory)!r}"
            )
        options = raw.pop(SEQBOOK_CONFIG_KEY)
        config = AlbertConfig.from_dict(raw)
        new = cls(config, **options)
        new.load_state_dict(load_file(str(directory / SEQBOOK_WEIGHTS)), strict=True)
        return new

    @staticmethod
    def is_saved(directory) -> bool:
        """True when `directory` holds an encoder written by `save_pretrained`."""
        from pathlib import Path

        return (Path(directory) / SEQBOOK_WEIGHTS).is_file()

    def hf_config(self):
        """The `transformers.AlbertConfig` that expresses this encoder's sharing."""
        config = copy.deepcopy(self.config)
        if self.sharing == "none":
            config.num_hidden_groups, config.inner_group_num = config.num_hidden_layers, 1
        elif self.sharing != "all":
            raise ValueError(
                f"transformers.AlbertModel cannot express sharing={self.sharing!r} (it shares "
                'whole layers in groups): only sharing="all" and "none" can be exported'
            )
        return config

    def to_hf(self):
        """This encoder as a `transformers.AlbertModel` (sharing "all" or "none")."""
        from transformers import AlbertModel

        model = AlbertModel(self.hf_config(), add_pooling_layer=self.pooler is not None)
        state = _seqbook_to_hf(self.state_dict(), self)
        if isinstance(self.embedding_hidden_mapping_in, nn.Identity):  # BERT: no projection
            mapping = model.encoder.embedding_hidden_mapping_in
            state["encoder.embedding_hidden_mapping_in.weight"] = torch.eye(mapping.in_features)
            state["encoder.embedding_hidden_mapping_in.bias"] = torch.zeros(mapping.out_features)
        model.load_state_dict(state, strict=True)
        weight = self.embeddings.word_embeddings.weight
        return model.to(device=weight.device, dtype=weight.dtype).eval()


# ----------------------------------------------------------------------------- weight names

_ATTENTION_KEYS = ("query", "key", "value", "dense", "LayerNorm")
_FFN_KEYS = ("ffn", "ffn_output", "full_layer_layer_norm")


def _hf_layers(encoder: AlbertEncoder) -> list[tuple[str, int, int]]:
    """(transformers prefix, attention block, feed-forward block) of every distinct HF layer."""
    c = encoder.config
    if encoder.sharing == "all":
        G, K = c.num_hidden_groups, c.inner_group_num
        return [
            (f"encoder.albert_layer_groups.{g}.albert_layers.{k}.", g * K + k, g * K + k)
            for g in range(G)
            for k in range(K)
        ]
    if encoder.sharing == "none":
        L = c.num_hidden_layers
        return [(f"encoder.albert_layer_groups.{i}.albert_layers.0.", i, i) for i in range(L)]
    raise ValueError(f"transformers.AlbertModel cannot express sharing={encoder.sharing!r}")


def _hf_to_seqbook(hf: dict[str, Tensor], encoder: AlbertEncoder) -> dict[str, Tensor]:
    out = {k: v for k, v in hf.items() if k.startswith("embeddings.") and "_ids" not in k}
    out |= {
        k.replace("encoder.", "", 1): v
        for k, v in hf.items()
        if k.startswith("encoder.embedding_hidden_mapping_in.")
    }
    out |= {k: v for k, v in hf.items() if k.startswith("pooler.")}
    for prefix, a, f in _hf_layers(encoder):
        for k, v in hf.items():
            if not k.startswith(prefix):
                continue
            rest = k[len(prefix) :]
            if rest.startswith("attention."):
                out[f"attention_blocks.{a}.{rest[len('attention.') :]}"] = v
            else:
                out[f"ffn_blocks.{f}.{rest}"] = v
    return out


def _seqbook_to_hf(ours: dict[str, Tensor], encoder: AlbertEncoder) -> dict[str, Tensor]:
    out = {k: v for k, v in ours.items() if k.startswith(("embeddings.", "pooler."))}
    out |= {
        f"encoder.{k}": v for k, v in ours.items() if k.startswith("embedding_hidden_mapping_in.")
    }
    for prefix, a, f in _hf_layers(encoder):
        for k, v in ours.items():
            if k.startswith(f"attention_blocks.{a}."):
                out[prefix + "attention." + k.split(".", 2)[2]] = v
            elif k.startswith(f"ffn_blocks.{f}."):
                out[prefix + k.split(".", 2)[2]] = v
    return out


_BERT_NAMES = {  # BertLayer's names -> ours, within layer i
    "attention.self.query.": "attention_blocks.{i}.query.",
    "attention.self.key.": "attention_blocks.{i}.key.",
    "attention.self.value.": "attention_blocks.{i}.value.",
    "attention.output.dense.": "attention_blocks.{i}.dense.",
    "attention.output.LayerNorm.": "attention_blocks.{i}.LayerNorm.",
    "intermediate.dense.": "ffn_blocks.{i}.ffn.",
    "output.dense.": "ffn_blocks.{i}.ffn_output.",
    "output.LayerNorm.": "ffn_blocks.{i}.full_layer_layer_norm.",
}


def _bert_to_seqbook(bert: dict[str, Tensor]) -> dict[str, Tensor]:
    out = {k: v for k, v in bert.items() if k.startswith("embeddings.") and "_ids" not in k}
    out |= {k.replace("pooler.dense.", "pooler."): v for k, v in bert.items() if "pooler." in k}
    for k, v in bert.items():
        if not k.startswith("encoder.layer."):
            continue
        i, rest = k[len("encoder.layer.") :].split(".", 1)
        prefix = next(p for p in _BERT_NAMES if rest.startswith(p))
        out[_BERT_NAMES[prefix].format(i=i) + rest[len(prefix) :]] = v
    return out


# ----------------------------------------------------------------------------- parameter counts


@dataclass(frozen=True)
class ParameterCount:
    """Parameters of an ALBERT encoder, by part."""

    embeddings: int  # V*E + P*E + types*E + LayerNorm(E)
    projection: int  # E*H + H, the E -> H mapping
    attention: int  # every distinct attention block
    ffn: int  # every distinct feed-forward block
    pooler: int  # H*H + H, or 0

    @property
    def total(self) -> int:
        return self.embeddings + self.projection + self.attention + self.ffn + self.pooler


def embedding_parameters(V: int, E: int, H: int) -> int:
    """Token-embedding cost of the factorisation, eq. (eq-albert-factorised): V*E + E*H.

    (Weights only; with E == H ALBERT would still add the E*H projection, BERT has V*H.)
    """
    check_positive_ints(V=V, E=E, H=H)
    return V * E + E * H


def count_parameters(
    config, sharing: str = "all", pooler: bool = True, projection: bool = True
) -> ParameterCount:
    """Closed-form parameter count for any configuration, without building a single weight.

    `projection=False` (E == H only) counts no E -> H mapping, as in BERT."""
    schedule = sharing_schedule(config, sharing)
    _check_projection(config, projection)
    V, E, H, I = (
        config.vocab_size,
        config.embedding_size,
        config.hidden_size,
        config.intermediate_size,
    )
    n_attention = 1 + max(a for a, _ in schedule)
    n_ffn = 1 + max(f for _, f in schedule)
    embeddings = (V + config.max_position_embeddings + config.type_vocab_size) * E + 2 * E
    attention_block = 4 * (H * H + H) + 2 * H  # W^Q, W^K, W^V, W^O with biases; LayerNorm
    ffn_block = (H * I + I) + (I * H + H) + 2 * H  # W_1, W_2 with biases; LayerNorm
    return ParameterCount(
        embeddings=embeddings,
        projection=(E * H + H) if projection else 0,
        attention=n_attention * attention_block,
        ffn=n_ffn * ffn_block,
        pooler=(H * H + H) if pooler else 0,
    )


def count_parameters_meta(
    config, sharing: str = "all", pooler: bool = True, projection: bool = True
) -> int:
    """Parameter count by building the encoder on the meta device (shapes only, no memory)."""
    with torch.device("meta"):
        encoder = AlbertEncoder(config, sharing=sharing, pooler=pooler, projection=projection)
    return sum(p.numel() for p in encoder.parameters())


# ----------------------------------------------------------------------------- layer smoothness


def layer_distances(
    states: list[Tensor], attention_mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """How much each layer changes the tokens (Lan et al. 2020, figure 2): for l = 1..L, the mean
    over real tokens of the L2 distance ||h^l_t - h^(l-1)_t|| and of the cosine similarity
    cos(h^l_t, h^(l-1)_t). `states` as from `AlbertEncoder.hidden_states`; returns two `(L,)`
    tensors."""
    if len(states) < 2:
        raise ValueError(f"states must hold at least 2 layers' outputs, got {len(states)}")
    shape = tuple(states[0].shape)
    if len(shape) != 3 or any(tuple(h.shape) != shape for h in states):
        raise ValueError(
            f"states must be tensors of one shape (B, T, H), got {[tuple(h.shape) for h in states]}"
        )
    if attention_mask is None:
        weight = torch.ones(shape[:2], device=states[0].device)
    else:
        weight = _check_attention_mask(attention_mask, *shape[:2]).to(states[0].dtype)
    l2, cosine = [], []
    for before, after in zip(states[:-1], states[1:], strict=True):
        d = (after - before).norm(dim=-1)  # (B, T)
        c = F.cosine_similarity(after, before, dim=-1)  # (B, T)
        l2.append((d * weight).sum() / weight.sum())
        cosine.append((c * weight).sum() / weight.sum())
    return torch.stack(l2), torch.stack(cosine)
