# ruff: noqa
# A correct first task, a busy loop (stopped by the per-cell alarm), then a loop that swallows
# every interruption (stopped only by the wall-clock limit).
import os
import time

import torch


{POSITIONS_SOLUTION}


# %%
from seqbook.checks import course

print(course.check("positions", sinusoidal_positions))

# %%
while True:
    pass

# %%
print("after the busy loop")

# %%
import signal

signal.signal(signal.SIGALRM, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
while True:
    try:
        time.sleep(0.1)
    except BaseException:
        pass
