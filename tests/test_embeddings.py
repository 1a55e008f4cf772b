import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from gensim.models import KeyedVectors

from seqbook.data import Vocab
from seqbook.embeddings import (
    analogy_benchmark,
    build_embedding_matrix,
    embedding_coverage,
    glove_keyed_vectors,
    restrict_vectors,
    stable_hash,
    train_word2vec,
)


def toy_corpus(n: int = 300, seed: int = 0) -> list[list[str]]:
    """Sentences from a tiny grammar: enough structure for word2vec to learn something."""
    rng = np.random.default_rng(seed)
    subjects, verbs = ["film", "movie", "plot", "actor", "ending"], ["was", "seemed", "felt"]
    good, bad = ["great", "superb", "moving", "fun"], ["awful", "dull", "boring", "bad"]
    out = []
    for _ in range(n):
        adjectives = good if rng.random() < 0.5 else bad
        out.append(
            ["the", str(rng.choice(subjects)), str(rng.choice(verbs)), str(rng.choice(adjectives))]
            + [str(rng.choice(adjectives)), "."]
        )
    return out


def make_kv(words: list[str], vectors) -> KeyedVectors:
    kv = KeyedVectors(vector_size=len(vectors[0]), count=0, dtype=np.float32)
    kv.add_vectors(words, np.asarray(vectors, dtype=np.float32))
    return kv


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQBOOK_CACHE", str(tmp_path))
    return tmp_path


# --------------------------------------------------------------------------- word2vec
def test_word2vec_two_trainings_give_identical_vectors():
    corpus = toy_corpus()
    a = train_word2vec(corpus, vector_size=16, min_count=1, epochs=3, cache=False)
    b = train_word2vec(corpus, vector_size=16, min_count=1, epochs=3, cache=False)
    assert a.index_to_key == b.index_to_key
    np.testing.assert_array_equal(a.vectors, b.vectors)


def test_word2vec_seed_changes_the_vectors():
    corpus = toy_corpus()
    a = train_word2vec(corpus, vector_size=16, min_count=1, epochs=2, seed=0, cache=False)
    b = train_word2vec(corpus, vector_size=16, min_count=1, epochs=2, seed=1, cache=False)
    assert not np.array_equal(a.vectors, b.vectors)


def test_word2vec_learns_that_sentiment_words_cluster():
    kv = train_word2vec(toy_corpus(2000), vector_size=16, min_count=1, epochs=5, cache=False)
    assert kv.similarity("great", "superb") > kv.similarity("great", "awful")


@pytest.mark.slow
def test_word2vec_is_identical_across_python_hash_seeds(tmp_path):
    script = (
        "import sys, numpy as np\n"
        "from tests.test_embeddings import toy_corpus\n"
        "from seqbook.embeddings import train_word2vec\n"
        "kv = train_word2vec(toy_corpus(), vector_size=8, min_count=1, epochs=2, cache=False)\n"
        "np.save(sys.argv[1], kv.vectors); print(' '.join(kv.index_to_key))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": root}
        target = tmp_path / f"v{hash_seed}.npy"
        run = subprocess.run(
            [sys.executable, "-c", script, str(target)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=root,
        )
        outputs.append((run.stdout, np.load(target)))
    assert outputs[0][0] == outputs[1][0]
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])


def test_word2vec_cache_is_reused_and_keyed_by_arguments(tmp_cache):
    corpus = toy_corpus()
    a = train_word2vec(corpus, vector_size=8, min_count=1, epochs=1)
    files = sorted((tmp_cache / "word2vec").glob("*/vectors.kv"))
    assert len(files) == 1
    b = train_word2vec(corpus, vector_size=8, min_count=1, epochs=1)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    train_word2vec(corpus, vector_size=8, min_count=1, epochs=2)  # another argument
    train_word2vec(corpus[:-1], vector_size=8, min_count=1, epochs=1)  # another corpus
    assert len(list((tmp_cache / "word2vec").glob("*/vectors.kv"))) == 3


def test_stable_hash_ignores_python_hash_salt():
    assert stable_hash("film") == 2185543202  # CRC-32, the same in every process


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"sentences": "the film was great"}, TypeError),
        ({"sentences": [[1, 2, 3]]}, TypeError),
        ({"sentences": []}, ValueError),
        ({"sentences": [["a", "b"]], "sg": 2}, ValueError),
        ({"sentences": [["a", "b"]], "vector_size": 0}, ValueError),
        ({"sentences": [["a", "b"]], "min_count": 5}, ValueError),
    ],
)
def test_word2vec_rejects_bad_input_with_clear_errors(kwargs, error):
    with pytest.raises(error, match=r"sentences|sg|vector_size|min_count"):
        train_word2vec(**kwargs, cache=False)


# --------------------------------------------------------------------------- GloVe
@pytest.fixture(scope="module")
def glove():
    return glove_keyed_vectors()


def test_glove_has_400k_words_of_50_dimensions(glove):
    assert glove.vectors.shape == (400_000, 50)
    assert glove.index_to_key[:3] == ["the", ",", "."]


def test_glove_puts_king_nearer_queen_than_banana(glove):
    assert glove.similarity("king", "queen") > glove.similarity("king", "banana") + 0.3
    assert "queen" in [w for w, _ in glove.most_similar("king", topn=5)]


def test_glove_cache_gives_the_same_vectors(glove, tmp_cache):
    fresh = glove_keyed_vectors(cache=False)
    np.testing.assert_array_equal(fresh["film"], glove["film"])


def test_restrict_vectors_keeps_known_words_in_the_given_order(glove):
    small = restrict_vectors(glove, ["queen", "notaword123", "king"])
    assert small.index_to_key == ["queen", "king"]
    np.testing.assert_array_equal(small["king"], glove["king"])
    with pytest.raises(ValueError, match="in common"):
        restrict_vectors(glove, ["notaword123"])


# --------------------------------------------------------------------------- analogies
def test_analogy_benchmark_counts_correct_and_unanswerable_questions(tmp_path):
    words = ["man", "woman", "king", "queen", "apple", "pear"]
    vectors = [[1, 0, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 1, 0], [0, 0, 0, 1], [0, 1, 0, 1]]
    questions = tmp_path / "q.txt"
    questions.write_text(
        ": family\nman woman king queen\nking queen man woman\n"
        ": gram-plural\napple pear man woman\nman woman dog cat\n"
    )
    result = analogy_benchmark(make_kv(words, vectors), questions=questions)
    assert (result.correct, result.answered, result.total) == (3, 3, 4)
    assert result.accuracy == 1.0 and result.accuracy_all == 0.75
    assert result.group_accuracy(syntactic=True) == 1.0
    assert result.sections == {"family": (2, 2), "gram-plural": (1, 1)}


def test_analogy_benchmark_rejects_a_missing_file():
    with pytest.raises(ValueError, match="questions"):
        analogy_benchmark(make_kv(["a"], [[1.0]]), questions="/no/such/file.txt")


# --------------------------------------------------------------------------- embedding matrix
@pytest.fixture
def vocab_and_kv():
    tokens = ["good"] * 5 + ["bad"] * 3 + ["meh"] * 2 + ["zzz"] * 2
    vocab = Vocab.build([tokens], min_freq=1)  # <pad>, <unk>, good, bad, meh, zzz
    kv = make_kv(["bad", "good", "other", "<unk>"], [[1, 2, 3], [4, 5, 6], [7, 8, 9], [9, 9, 9]])
    return vocab, kv


def test_embedding_matrix_copies_known_words_and_zeroes_pad(vocab_and_kv):
    vocab, kv = vocab_and_kv
    emb = build_embedding_matrix(vocab, kv, oov="random", seed=0)
    assert emb.weights.shape == (6, 3) and emb.weights.dtype == torch.float32
    assert torch.equal(emb.weights[vocab.stoi["good"]], torch.tensor([4.0, 5.0, 6.0]))
    assert torch.equal(emb.weights[vocab.stoi["bad"]], torch.tensor([1.0, 2.0, 3.0]))
    assert torch.equal(emb.weights[vocab.pad_id], torch.zeros(3))
    assert emb.found.tolist() == [False, False, True, True, False, False]


def test_embedding_matrix_oov_rows_are_seeded_random_or_zero(vocab_and_kv):
    vocab, kv = vocab_and_kv
    oov_rows = [vocab.unk_id, vocab.stoi["meh"], vocab.stoi["zzz"]]  # <unk> never copied
    a = build_embedding_matrix(vocab, kv, oov="random", seed=0).weights
    b = build_embedding_matrix(vocab, kv, oov="random", seed=0).weights
    c = build_embedding_matrix(vocab, kv, oov="random", seed=1).weights
    assert torch.equal(a, b) and not torch.equal(a[oov_rows], c[oov_rows])
    assert (a[oov_rows] != 0).all()
    zeros = build_embedding_matrix(vocab, kv, oov="zeros").weights
    assert torch.equal(zeros[oov_rows], torch.zeros(3, 3))


def test_embedding_coverage_counts_types_and_running_tokens(vocab_and_kv):
    vocab, kv = vocab_and_kv
    cov = embedding_coverage(vocab, kv)
    assert (cov.types, cov.found_types) == (4, 2)
    assert (cov.tokens, cov.found_tokens) == (12, 8)
    assert cov.type_coverage == 0.5 and cov.token_coverage == pytest.approx(8 / 12)
    assert cov.oov_examples == ["meh", "zzz"]  # most frequent first


def test_embedding_matrix_rejects_bad_arguments(vocab_and_kv):
    vocab, kv = vocab_and_kv
    with pytest.raises(ValueError, match="oov must be one of"):
        build_embedding_matrix(vocab, kv, oov="mean")
    with pytest.raises(TypeError, match="kv must be a gensim KeyedVectors"):
        build_embedding_matrix(vocab, {"good": [1, 2, 3]})
    with pytest.raises(TypeError, match="vocab must be a seqbook.data.Vocab"):
        build_embedding_matrix(["good"], kv)


def test_analogy_benchmark_agrees_with_gensim_on_the_real_questions(tmp_path):
    lines = emb_questions_sample(400)
    questions = tmp_path / "sample.txt"
    questions.write_text("\n".join(lines) + "\n")
    words = sorted({w.lower() for line in lines if not line.startswith(":") for w in line.split()})
    rng = np.random.default_rng(0)
    kv = make_kv(words[:-5], rng.standard_normal((len(words) - 5, 12)))  # some unanswerable
    ours = analogy_benchmark(kv, questions=questions)
    _, sections = kv.evaluate_word_analogies(str(questions))
    total = sections[-1]
    assert ours.correct == len(total["correct"]) > 0
    assert ours.answered == len(total["correct"]) + len(total["incorrect"]) < ours.total


def emb_questions_sample(n: int) -> list[str]:
    """The first n questions of two sections of gensim's analogy file."""
    from seqbook.embeddings import analogy_questions_path

    out, section = [], None
    for line in analogy_questions_path().read_text().splitlines():
        if line.startswith(":"):
            section = line
            out.append(line)
        elif section in (": capital-common-countries", ": gram3-comparative"):
            out.append(line)
    heads = [i for i, line in enumerate(out) if line.startswith(":")]
    return out[: n // 2 + 1] + out[heads[1] : heads[1] + n // 2 + 1]


# --------------------------------------------------------------------------- bad input, refused
def test_word2vec_refuses_texts_instead_of_token_lists():
    # texts used to be read as lists of characters: vectors of letters
    with pytest.raises(TypeError, match=r"sentences\[1\] must be a list of str tokens, got a str"):
        train_word2vec([["a", "film"], "a dull film"], cache=False)


def test_restrict_vectors_refuses_one_word_instead_of_a_list():
    kv = make_kv(["king", "k", "i"], [[1, 0], [0, 1], [1, 1]])
    with pytest.raises(TypeError, match="words must be a list of str, got a single str 'king'"):
        restrict_vectors(kv, "king")


def test_analogy_benchmark_with_no_answerable_question_is_an_error_not_zero(tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text(": family\nman woman king queen\n")
    kv = make_kv(["man", "woman", "apple"], [[1, 0], [0, 1], [1, 1]])
    with pytest.raises(ValueError, match="none of the 1 questions .* nothing to score"):
        analogy_benchmark(kv, questions=questions)


@pytest.mark.parametrize("option", [{"restrict_vocab": 0}, {"chunk": 0}])
def test_analogy_benchmark_refuses_an_empty_search_or_chunk(tmp_path, option):
    questions = tmp_path / "q.txt"
    questions.write_text(": family\nman woman king queen\n")
    kv = make_kv(["man", "woman", "king", "queen"], np.eye(4))
    with pytest.raises(ValueError, match=f"{next(iter(option))} must be a positive int, got 0"):
        analogy_benchmark(kv, questions=questions, **option)
