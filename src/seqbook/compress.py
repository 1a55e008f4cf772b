"""ALBERT's two ideas applied to a trained BERT (Lan et al. 2020): factorise its embeddings,
share its layers.

Both start from `AlbertEncoder.from_bert(bert)`, which is BERT written as ALBERT's E = H,
unshared corner, and return an `AlbertEncoder` of the smaller shape:

- `factorise_embeddings(encoder, E)`, eq. (eq-compress-factorised): BERT normalises the sum of
  its H-wide word, position and type embeddings; ALBERT normalises an E-wide sum and then maps
  it to H. Centred on their mean over H and projected on an orthonormal basis of E - 1
  directions, which is placed inside the E-wide vectors that have mean zero, the E-wide sum has
  the same length as the H-wide one, so LayerNorm over E followed by the projection gives back
  BERT's normalised embedding up to what the dropped directions held: exactly when E = H.
- `share_layers(encoder, sharing, groups)`, eq. (eq-compress-share): layers that ALBERT runs with
  one set of weights get the mean of the trained layers they replace (or one chosen layer's).
- `albert_from_bert(bert, E, sharing, groups)`: both, in that order.

Neither step retrains anything; what they cost, and what distillation
(`seqbook.distill`) buys back, is measured in the chapter "ALBERT from a pretrained BERT".
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from seqbook.albert import AlbertEncoder, sharing_schedule
from seqbook.validate import check_positive_ints

__all__ = [
    "albert_from_bert",
    "embedding_basis",
    "factorise_embeddings",
    "parse_transform",
    "share_layers",
    "text_sample",
    "transform_encoder",
]


def _check_encoder(encoder: object, name: str = "encoder") -> AlbertEncoder:
    if not isinstance(encoder, AlbertEncoder):
        raise TypeError(
            f"{name} must be a seqbook.albert.AlbertEncoder (e.g. AlbertEncoder.from_bert(bert)), "
            f"got {type(encoder).__name__}"
        )
    return encoder


def _centred(x: Tensor) -> Tensor:
    """Rows minus their mean over the last axis (what LayerNorm removes first)."""
    return x - x.mean(-1, keepdim=True)


@torch.no_grad()
def embedding_basis(
    encoder: AlbertEncoder,
    rank: int,
    input_ids: Tensor | None = None,
    attention_mask: Tensor | None = None,
) -> Tensor:
    """An orthonormal basis `(rank, H)` of the directions the factorised embedding keeps.

    Without `input_ids`: the top right singular vectors of the centred word-embedding matrix
    (every vocabulary entry counts once). With `input_ids` (B, T) from real text: the top
    directions of the embedding sums `word + position + type` of the real tokens, each scaled
    to unit length (LayerNorm keeps only a token's direction), so frequent tokens and the
    positions they occur at count as often as they occur.
    """
    emb = encoder.embeddings
    if input_ids is None:
        rows = _centred(emb.word_embeddings.weight.float())  # (V, H)
    else:
        mask = torch.ones_like(input_ids, dtype=torch.bool)
        if attention_mask is not None:
            mask = attention_mask.bool()
        T = input_ids.shape[1]
        sums = (
            emb.word_embeddings.weight[input_ids]
            + emb.position_embeddings.weight[:T][None]
            + emb.token_type_embeddings.weight[0]
        )  # (B, T, H)
        rows = _centred(sums[mask].float())  # (N, H): the real tokens
        rows = rows / rows.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    _, _, Vh = torch.linalg.svd(rows, full_matrices=False)  # rows of Vh: right singular vectors
    return Vh[:rank]


def _zero_mean_frame(E: int) -> Tensor:
    """An orthonormal basis `(E - 1, E)` of the E-wide vectors whose entries sum to zero."""
    centring = torch.eye(E, dtype=torch.float64) - 1.0 / E
    values, vectors = torch.linalg.eigh(centring)  # eigenvalues 0 (once) and 1 (E - 1 times)
    return vectors[:, values > 0.5].T.float()


@torch.no_grad()
def factorise_embeddings(
    encoder: AlbertEncoder,
    E: int,
    input_ids: Tensor | None = None,
    attention_mask: Tensor | None = None,
) -> AlbertEncoder:
    """ALBERT's factorised embedding made from BERT's, eq. (eq-compress-factorised).

    `encoder` is BERT as `AlbertEncoder.from_bert` gives it (E = H, no projection). With R the
    `(H, E)` map onto E - 1 kept directions (`embedding_basis`, from `input_ids` if given) placed
    inside the zero-mean E-wide vectors, the new tables are the old ones centred and mapped by R,
    LayerNorm over E starts as the plain normalisation (weight 1, bias 0), and the projection is
    `sqrt(H / E) diag(gamma) R^T`-shaped with BERT's LayerNorm bias as its bias. The rest of the
    encoder is copied unchanged.
    """
    _check_encoder(encoder)
    c = encoder.config
    H = c.hidden_size
    check_positive_ints(E=E)
    if not isinstance(encoder.embedding_hidden_mapping_in, nn.Identity):
        raise ValueError(
            "encoder must be BERT-shaped (E = H with no E -> H projection, as "
            "AlbertEncoder.from_bert gives it), got one with embedding_size="
            f"{c.embedding_size} and a projection"
        )
    if not 2 <= E <= H:
        raise ValueError(f"E must lie in [2, hidden_size={H}], got {E}")
    basis = embedding_basis(encoder, E - 1, input_ids, attention_mask)  # (E - 1, H)
    R = basis.T @ _zero_mean_frame(E)  # (H, E): centred H-vector -> zero-mean E-vector

    config = copy.deepcopy(c)
    config.embedding_size = E
    new = AlbertEncoder(
        config, sharing=encoder.sharing, pooler=encoder.pooler is not None, projection=True
    )
    old, emb = encoder.embeddings, new.embeddings
    for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        table = _centred(getattr(old, name).weight.float()) @ R  # (rows, E)
        getattr(emb, name).weight.copy_(table)
    emb.LayerNorm.weight.fill_(1.0)
    emb.LayerNorm.bias.zero_()
    gamma, beta = old.LayerNorm.weight.float(), old.LayerNorm.bias.float()
    projection = new.embedding_hidden_mapping_in
    projection.weight.copy_((H / E) ** 0.5 * gamma[:, None] * R)  # (H, E)
    projection.bias.copy_(beta)
    rest = {
        k: v for k, v in encoder.state_dict().items() if not k.startswith("embeddings.")
    }  # layers and pooler, unchanged
    missing, unexpected = new.load_state_dict(rest, strict=False)
    assert not unexpected and all(
        k.startswith(("embeddings.", "embedding_hidden")) for k in missing
    )
    return new.to(encoder.embeddings.word_embeddings.weight.device)


@torch.no_grad()
def share_layers(
    encoder: AlbertEncoder, sharing: str = "all", groups: int = 1, init: str | int = "mean"
) -> AlbertEncoder:
    """Cross-layer sharing imposed on a trained, unshared encoder, eq. (eq-compress-share).

    The new encoder runs `sharing`'s schedule (`"all"` in `groups` consecutive groups of layers,
    as `transformers.AlbertModel` does with `num_hidden_groups`; `"attention"` or `"ffn"`; or
    `"none"`). Each shared block starts as the element-wise mean of the trained blocks it
    replaces (`init="mean"`), or as the block of the k-th layer it replaces (`init=k`, 0-based;
    the last one where fewer share it).
    """
    _check_encoder(encoder)
    if encoder.sharing != "none":
        raise ValueError(f"encoder must be unshared (sharing='none'), got {encoder.sharing!r}")
    L = encoder.config.num_hidden_layers
    check_positive_ints(groups=groups)
    if groups > L or (groups != 1 and sharing != "all"):
        raise ValueError(
            f"groups must lie in [1, num_hidden_layers={L}] and be 1 unless sharing='all', got "
            f"groups={groups} with sharing={sharing!r}"
        )
    if not (init == "mean" or (isinstance(init, int) and not isinstance(init, bool))):
        raise ValueError(f"init must be 'mean' or a layer index, got {init!r}")
    if isinstance(init, int) and not 0 <= init < L:
        raise ValueError(f"init must be a layer index in [0, {L}), got {init}")
    config = copy.deepcopy(encoder.config)
    if sharing == "all":
        config.num_hidden_groups, config.inner_group_num = groups, 1
    else:
        config.num_hidden_groups, config.inner_group_num = 1, 1
    schedule = sharing_schedule(config, sharing)  # checks `sharing`
    new = AlbertEncoder(
        config,
        sharing=sharing,
        pooler=encoder.pooler is not None,
        projection=not isinstance(encoder.embedding_hidden_mapping_in, nn.Identity),
    )
    kept = {
        k: v
        for k, v in encoder.state_dict().items()
        if not k.startswith(("attention_blocks.", "ffn_blocks."))
    }
    new.load_state_dict(kept, strict=False)
    for kind, slot in (("attention_blocks", 0), ("ffn_blocks", 1)):
        sources: dict[int, list[int]] = {}
        for layer, entry in enumerate(schedule):  # source layer `layer` ran block `layer`
            sources.setdefault(entry[slot], []).append(layer)
        for target, layers in sources.items():
            chosen = layers if init == "mean" else [layers[min(init, len(layers) - 1)]]
            blocks = [getattr(encoder, kind)[i].state_dict() for i in chosen]
            mean = {k: torch.stack([b[k] for b in blocks]).mean(0) for k in blocks[0]}
            getattr(new, kind)[target].load_state_dict(mean)
    return new


def albert_from_bert(
    bert: nn.Module,
    E: int | None = None,
    sharing: str = "none",
    groups: int = 1,
    init: str | int = "mean",
    input_ids: Tensor | None = None,
    attention_mask: Tensor | None = None,
) -> AlbertEncoder:
    """A `transformers.BertModel` (or its `AlbertEncoder.from_bert` copy) turned into an ALBERT:
    embeddings factorised to `E` (None keeps E = H and BERT's embedding block), then `sharing`."""
    encoder = bert if isinstance(bert, AlbertEncoder) else AlbertEncoder.from_bert(bert)
    if E is not None:
        encoder = factorise_embeddings(encoder, E, input_ids, attention_mask)
    if sharing != "none":
        encoder = share_layers(encoder, sharing, groups, init)
    return encoder


# ----------------------------------------------------------------------------- named transforms

_KEYS = {"E": int, "sharing": str, "groups": int, "init": str}


def parse_transform(spec: str) -> dict[str, object]:
    """`"albert"` or `"albert:E=128,sharing=all,groups=2,init=mean"` as keyword arguments of
    `albert_from_bert` (`init` a layer index or "mean")."""
    if not isinstance(spec, str) or not (spec == "albert" or spec.startswith("albert:")):
        raise ValueError(f"transform must be 'albert' or 'albert:key=value,...', got {spec!r}")
    out: dict[str, object] = {}
    body = spec[len("albert:") :] if ":" in spec else ""
    for part in filter(None, body.split(",")):
        key, sep, value = part.partition("=")
        if not sep or key not in _KEYS:
            raise ValueError(
                f"transform {spec!r}: each part must be key=value with key in {sorted(_KEYS)}, "
                f"got {part!r}"
            )
        try:
            out[key] = int(value) if key == "init" and value != "mean" else _KEYS[key](value)
        except ValueError as e:
            raise ValueError(f"transform {spec!r}: {key} must be a number, got {value!r}") from e
    return out


def text_sample(
    tokenizer, n: int = 512, max_len: int = 128, seed: int = 0, split: str = "train"
) -> tuple[Tensor, Tensor]:
    """(input_ids, attention_mask) of `n` reviews of `split` (a seeded, balanced subset), cut to
    their first `max_len` pieces: the token statistics `embedding_basis` reads (training
    reviews), or held-out text to measure on."""
    from seqbook.data import load_split

    texts = load_split(split, limit=n, seed=seed)["text"].tolist()
    encoded = tokenizer(
        texts, truncation=True, max_length=max_len, padding=True, return_tensors="pt"
    )
    return encoded["input_ids"], encoded["attention_mask"]


def transform_encoder(encoder: nn.Module, spec: str, tokenizer=None) -> AlbertEncoder:
    """Apply a named transform (`parse_transform`) to a `BertModel` or `AlbertModel`:
    "albert" is the exact copy (`AlbertEncoder.from_bert` / `from_hf`); with `E=` the basis
    comes from the token statistics of training reviews (`text_sample`, needs `tokenizer`)."""
    from transformers import AlbertModel

    kwargs = parse_transform(spec)
    if isinstance(encoder, AlbertModel):
        if kwargs:
            raise ValueError(f"transform {spec!r} needs a BERT encoder, got an AlbertModel")
        return AlbertEncoder.from_hf(encoder)
    ids = mask = None
    if "E" in kwargs:
        if tokenizer is None:
            raise ValueError(f"transform {spec!r} factorises the embeddings: pass the tokenizer")
        ids, mask = text_sample(tokenizer)
    return albert_from_bert(encoder, input_ids=ids, attention_mask=mask, **kwargs)
