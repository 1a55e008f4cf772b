import pytest
import torch


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def one_cpu_thread():
    """The tests' models multiply matrices of a few dozen entries: a second CPU thread only adds
    synchronisation (and, on a busy machine, turns a 0.5 s test into 15 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# a handful of reviews for the tiny encoders of the fine-tuning tests
TINY_REVIEWS = [
    "the film was wonderful and the acting superb",
    "a dull plot, wooden dialogue and far too long",
    "i loved every minute of it",
    "the worst movie i have seen this year",
    "great music, great cast, a great evening",
    "boring boring boring",
] * 5


@pytest.fixture(scope="session")
def saved_encoder(tmp_path_factory):
    """(folder, tokenizer): a tiny ALBERT saved with its own tokenizer trained on TINY_REVIEWS,
    as the pretraining chapter saves its model."""
    from seqbook.checks.albert_bilstm import tiny_albert
    from seqbook.pretraining import train_tokenizer

    directory = tmp_path_factory.mktemp("tiny-albert")
    tokenizer = train_tokenizer(TINY_REVIEWS, vocab_size=60)
    tiny_albert(0, vocab_size=len(tokenizer)).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory, tokenizer


def tiny_bert(seed: int = 0, **overrides):
    """A small random `transformers.BertModel` (eval mode), for the BERT -> ALBERT tests."""
    from transformers import BertConfig, BertModel

    values = dict(
        vocab_size=97,
        hidden_size=16,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=40,
        max_position_embeddings=32,
    )
    torch.manual_seed(seed)
    return BertModel(BertConfig(**(values | overrides))).eval()


def assert_files_match_card(folder, card: dict) -> None:
    """Every file a shipped folder's card lists has the digest the card records."""
    from seqbook.cache import file_digest

    assert card["files"], "the card lists no files"
    for name, digest in card["files"].items():
        assert file_digest(folder / name) == digest, f"{name} differs from its card"
