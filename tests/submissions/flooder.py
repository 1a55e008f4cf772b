# ruff: noqa
# Correct answers between a flood of output, a file as large as it can write, a memory bomb and
# a crash that ends the process before the grader's last step.
import math
import os

import torch
import torch.nn.functional as F


{POSITIONS_SOLUTION}


# %%
from seqbook.checks import course

print(course.check("positions", sinusoidal_positions))

# %%
line = "flood " * 1000 + "\n"
for _ in range(60_000):  # about 360 MB
    os.write(1, line.encode())

# %%
with open("big.bin", "wb") as f:
    for _ in range(4096):
        f.write(b"\0" * 2**20)

# %%
bomb = bytearray(64 * 2**30)


# %%
{ENCODER_SOLUTION}


# %%
print(course.check("encoder_layer", encoder_layer))

# %%
os._exit(3)
