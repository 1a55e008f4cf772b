# ruff: noqa
# A correct first task, then processes that try to outlive the grading, to change a neighbour's
# submission and the grade file, and finally kill everything they can.
import math
import os
import subprocess
import sys
import time

import torch


{POSITIONS_SOLUTION}


# %%
from seqbook.checks import course

print(course.check("positions", sinusoidal_positions))

# %%
LATER = """
import time
for _ in range(600):
    for path in ("{NEIGHBOUR}", "{GRADE_FILE}"):
        try:
            open(path, "w").write("overwritten by {TOKEN}")
        except OSError:
            pass
    time.sleep(0.5)
"""
if os.fork() == 0:  # a double-forked daemon in its own session
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", LATER, "{TOKEN}"])
    os._exit(0)
subprocess.Popen([sys.executable, "-c", LATER, "{TOKEN}"], start_new_session=True)
subprocess.Popen(["sh", "-c", f"nohup {sys.executable} -c '{LATER}' {TOKEN} &"])
for path in ("{NEIGHBOUR}", "{GRADE_FILE}", "../neighbour.ipynb"):
    try:
        open(path, "w").write("overwritten by {TOKEN}")
        print("LEAK wrote", path)
    except OSError as e:
        print("refused", path, type(e).__name__)
time.sleep(1)

# %%
import signal

os.kill(-1, signal.SIGKILL)
