# ruff: noqa
# A correct first task, then a look at what only the host's root may read, and attempts to fill
# every place the sandbox might write to beyond its caps.
import os

import torch


{POSITIONS_SOLUTION}


# %%
from seqbook.checks import course

print(course.check("positions", sinusoidal_positions))

# %%
for path in ("/etc/shadow", "/etc/gshadow", "{SECRET}"):
    try:
        with open(path, "rb") as f:
            print("LEAK read", path, len(f.read()), "bytes")
    except OSError as e:
        print("refused", path, type(e).__name__)
status = open("/proc/self/status").read()
print("ids", [line for line in status.splitlines() if line.startswith(("Uid:", "CapEff:"))])

# %%
BLOCK = b"0" * 2**20
for folder, cap_mib in (("/dev/shm", 0), ("/dev", 0), ("/sandbox", {CAP_MIB}), ("/tmp", {CAP_MIB})):
    written = 0
    try:
        with open(os.path.join(folder, "filler"), "wb") as f:
            for _ in range({CAP_MIB} + 64):
                f.write(BLOCK)
                f.flush()
                written += 1
    except OSError as e:
        print("stopped", folder, "after", written, "MiB:", type(e).__name__)
    if written > cap_mib:
        print("LEAK wrote", written, "MiB to", folder)
    try:
        os.remove(os.path.join(folder, "filler"))
    except OSError:
        pass
