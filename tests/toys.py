"""Toy tasks and a toy batt shared by the tests (the ``toy_project`` fixture of tests/conftest.py writes them),
and a guard that limits a call as pytest-timeout's soft stage does."""

import signal

from pytest_batt.isolation.guard import BattTimeout, Guard

TOY_BATT = """
def flip(I):
    return tuple(row[::-1] for row in I)

def batt(task_id, S, I, C, log_path):
    o = [(1, 0, "identity", I), (2, 0, "flip", flip(I)), (3, 0, "flip_list", [list(r[::-1]) for r in I])]
    s = []
    if C is not None:
        s = [(5, "None", "same", (int(C == I), "x")),
             (6, "flip", "same", (int(flip(I) != C), "y")),
             (7, "identity", "same", (int(I != C), "z"))]
    return o, s
"""


def task(pairs, tests):
    """A task from (input, output) pairs: its demos, then its tests."""
    return {"train": [{"input": i, "output": o} for i, o in pairs], "test": [{"input": i, "output": o} for i, o in tests]}


FLIP = task([([[1, 2]], [[2, 1]]), ([[3, 4, 5]], [[5, 4, 3]])], [([[6, 7]], [[7, 6]])])
SAME = task([([[1, 1]], [[1, 1]])], [([[2, 3]], [[2, 3]])])
NONE = task([([[1, 2]], [[9, 9]])], [([[1, 2]], [[8]]), ([[1]], [[1]])])
TASKS = {"flip0001": FLIP, "same0002": SAME, "none0003": NONE}


class TimerGuard(Guard):
    """Each call limited by a SIGALRM timer that raises into it, as pytest-timeout's soft stage does."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def start(self, label):
        signal.signal(signal.SIGALRM, self._fire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def _fire(self, signum, frame):
        raise BattTimeout("{label} timed out")

    def stop(self):
        signal.setitimer(signal.ITIMER_REAL, 0)
