"""Device, seeding and the two profiles (fast / full) that every chapter reads."""

from __future__ import annotations

import dataclasses
import numbers
import os
import platform
import random
import time
from dataclasses import dataclass

import numpy as np
import torch

PROFILE_ENV = "SEQBOOK_PROFILE"
THREADS_ENV = "SEQBOOK_THREADS"
MAX_THREADS = 8  # past this, the book's small models gain nothing (see configure_threads)
_STARTED = time.perf_counter()  # when the first seqbook module was imported (a notebook's start)


def elapsed_seconds() -> float:
    """Seconds since seqbook was first imported in this process (a notebook's runtime)."""
    return time.perf_counter() - _STARTED


def get_device() -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (every CUDA device too)."""
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool | np.bool_) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)  # a NumPy integer (a seed drawn from an array) is one too
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the legacy global state is what readers use
    torch.manual_seed(seed)  # also seeds every CUDA device


def available_cpus() -> int:
    """CPU cores this process may run on (its affinity mask, where the OS reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _cpu_times() -> tuple[float, float] | None:
    """(idle, total) jiffies summed over every CPU since boot, from /proc/stat; None elsewhere."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [float(v) for v in fields[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)  # idle + iowait
    return idle, sum(values[:8])  # user..steal (guest time is already inside user)


def idle_cpus(sample_s: float = 0.2) -> float | None:
    """How many of this machine's CPUs were idle over the next `sample_s` seconds (Linux), capped
    at the cores this process may use; None where the OS does not say."""
    if not isinstance(sample_s, numbers.Real) or isinstance(sample_s, bool) or sample_s <= 0:
        raise ValueError(f"sample_s must be a positive number of seconds, got {sample_s!r}")
    before = _cpu_times()
    if before is None:
        return None
    time.sleep(sample_s)
    after = _cpu_times()
    if after is None or after[1] <= before[1]:
        return None
    share = (after[0] - before[0]) / (after[1] - before[1])
    return min(share * (os.cpu_count() or 1), float(available_cpus()))


def configure_threads(n: int | None = None, work: str = "batched") -> int:
    """Set torch's intra-op threads for the kind of `work` and return the number: `n`, else
    `$SEQBOOK_THREADS`, else the rule for `work`.

    - "batched" (large matrix products: fused LSTM kernels, Transformer layers, training on
      batches): one thread per idle core (`idle_cpus`, at least 1, at most `MAX_THREADS`).
      Measured on 2 cores, forward + backward of a fused BiLSTM (64 x 256 tokens, H = 128), s per
      step: quiet, 0.31 on 1 thread and 0.19 on 2; beside one CPU-bound process, 0.31 on 1 and
      2.46 on 2; beside three, 0.61 on 1 and 1.47 on 2. OpenMP's threads spin while they wait
      for each other, so a thread without a core of its own stalls the rest: on a busy machine
      more threads than idle cores is up to 8 times slower, not a little faster.
      (`OMP_WAIT_POLICY=passive` avoids the collapse, 0.34-0.56 s loaded, but costs 74 % on a
      quiet machine, 0.34 s against 0.19.)
    - "stepwise" (a Python loop over time steps of small tensors, as the teaching LSTM runs):
      1 thread, since splitting each tiny product costs more than it saves (the same
      measurement: 0.09 s on 1 thread, 0.13 s on 2, for 32 x 128 tokens, H = 64).

    No checked output depends on the number: results agree within the bands the chapters state.
    """
    if work not in ("batched", "stepwise"):
        raise ValueError(f"work must be 'batched' or 'stepwise', got {work!r}")
    if n is None and os.environ.get(THREADS_ENV):
        raw = os.environ[THREADS_ENV]
        if not raw.strip().isdigit() or int(raw) < 1:
            raise ValueError(f"${THREADS_ENV} must be a positive integer, got {raw!r}")
        n = int(raw)
    if n is None and work == "stepwise":
        n = 1
    if n is None:
        idle = idle_cpus()
        cores = available_cpus() if idle is None else max(1, round(idle))
        n = min(cores, MAX_THREADS)
    if not isinstance(n, numbers.Integral) or isinstance(n, bool | np.bool_) or n < 1:
        raise ValueError(f"n must be a positive int (threads), got {n!r}")
    n = int(n)
    torch.set_num_threads(n)
    return n


@dataclass(frozen=True)
class Profile:
    """Named sizes a chapter reads; `None` means "all of it"."""

    name: str
    train_subset: int | None  # training reviews for neural models
    eval_subset: int | None  # validation / test reviews for neural models
    max_len: int  # tokens kept per review (truncation is explicit, see seqbook.data)
    vocab_size: int  # word vocabulary cap
    batch_size: int
    epochs: int
    w2v_dim: int  # word2vec vector size
    w2v_epochs: int
    w2v_docs: int | None  # training reviews word2vec reads
    albert_embedding: int  # E
    albert_hidden: int  # H
    albert_layers: int  # L
    albert_heads: int
    albert_intermediate: int
    albert_vocab: int  # tokenizer vocabulary size for the book's own ALBERT
    albert_name: str  # encoder fine-tuned in the ALBERT + BiLSTM chapter


PROFILES: dict[str, Profile] = {
    "fast": Profile(
        name="fast",
        train_subset=2000,
        eval_subset=1000,
        max_len=128,
        vocab_size=20_000,
        batch_size=32,
        epochs=3,
        w2v_dim=100,
        w2v_epochs=3,
        w2v_docs=6000,
        albert_embedding=64,
        albert_hidden=128,
        albert_layers=4,
        albert_heads=4,
        albert_intermediate=256,
        albert_vocab=8000,
        albert_name="albert-minilm-distilled",  # chapter 8's system encoder, shipped in data/
    ),
    "full": Profile(
        name="full",
        train_subset=None,
        eval_subset=None,
        max_len=256,
        vocab_size=50_000,
        batch_size=32,
        epochs=4,
        w2v_dim=300,
        w2v_epochs=10,
        w2v_docs=None,
        albert_embedding=128,
        albert_hidden=256,
        albert_layers=6,
        albert_heads=4,
        albert_intermediate=1024,
        albert_vocab=16000,
        albert_name="albert-base-v2",
    ),
}


def profile(name: str | None = None) -> Profile:
    """The active profile: `name`, else the `SEQBOOK_PROFILE` variable, else "fast"."""
    name = name if name is not None else os.environ.get(PROFILE_ENV, "fast")
    if not isinstance(name, str):
        raise TypeError(f"profile name must be a str such as 'fast', got {type(name).__name__}")
    key = name.strip().lower()
    if key not in PROFILES:
        raise ValueError(
            f"profile must be one of {sorted(PROFILES)} (argument or ${PROFILE_ENV}), got {name!r}"
        )
    return PROFILES[key]


def profile_sizes(p: Profile | None = None) -> dict[str, object]:
    """The profile as a plain dict (for tables and figure captions)."""
    return dataclasses.asdict(p if p is not None else profile())


def environment_stamp() -> str:
    """One line naming the versions, device and profile a notebook ran with."""
    import transformers

    device = get_device()
    if device.type == "cuda":
        device_name = f"cuda ({torch.cuda.get_device_name(0)})"
    else:
        device_name = f"{device.type} ({torch.backends.cpu.get_cpu_capability()} kernels)"
    return (
        f"seqbook {_version()} | python {platform.python_version()} | torch {torch.__version__}"
        f" | transformers {transformers.__version__} | device {device_name}"
        f" | threads {torch.get_num_threads()} | profile {profile().name}"
    )


def _version() -> str:
    from seqbook import __version__

    return __version__
