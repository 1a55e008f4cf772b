"""The full profile's code path, exercised on the CPU.

The full profile fine-tunes `albert-base-v2` on a GPU; nobody can run that here. What can be run is
the same code on an encoder of the same shape (12 layers sharing one set of weights, E = 128,
H = 768, 12 heads, FFN 3072) saved locally with random weights and the book's own tokenizer, on a
handful of reviews, with both explicit precisions. Sizes change, the code path does not.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seqbook.runtime import PROFILES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def base_shaped_encoder(tmp_path_factory):
    """An albert-base-v2-shaped AlbertModel with random weights and the shipped tokenizer."""
    import torch
    from transformers import AlbertConfig, AlbertModel

    from seqbook.hf import load_tokenizer, shipped_albert_path

    tokenizer = load_tokenizer(shipped_albert_path())
    config = AlbertConfig(
        vocab_size=len(tokenizer),
        embedding_size=128,
        hidden_size=768,
        num_hidden_layers=12,
        num_hidden_groups=1,  # one set of weights shared by all 12 layers, as albert-base-v2
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("albert-base-v2-shaped")
    AlbertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bf16", "no"])
def test_full_profile_fine_tuning_runs_end_to_end_on_a_base_shaped_encoder(
    base_shaped_encoder, tmp_path, precision
):
    out = tmp_path / "run"
    env = {**os.environ, "SEQBOOK_PROFILE": "full", "PYTHONPATH": str(ROOT / "src")}
    command = [
        sys.executable, "-m", "seqbook.finetune",
        "--encoder", str(base_shaped_encoder),
        "--output", str(out),
        "--train-subset", "8", "--eval-subset", "4", "--test-subset", "4",
        "--max-len", "32", "--batch-size", "4", "--epochs", "1",
        "--mixed-precision", precision, "--no-progress",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "test accuracy" in done.stdout
    config = json.loads((out / "encoder" / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_hidden_groups"]) == (
        768,
        12,
        1,
    )
    from seqbook.albert_bilstm import AlbertBiLSTMClassifier

    reloaded = AlbertBiLSTMClassifier.from_pretrained(out)
    assert reloaded.encoder.config.hidden_size == 768


def test_the_full_profile_names_a_hub_model_that_is_never_downloaded_or_pretrained(monkeypatch):
    import huggingface_hub

    from seqbook.hf import SHIPPED_ALBERT, resolve_encoder

    name = PROFILES["full"].albert_name
    assert name == "albert-base-v2"
    # the book's own model has its own name, never a hub model's
    assert SHIPPED_ALBERT != name and not SHIPPED_ALBERT.startswith("albert-")
    # a machine whose Hugging Face cache lacks the model: a clear error, no download, no run
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: None)
    with pytest.raises(ValueError, match="downloads nothing"):
        resolve_encoder(name)
