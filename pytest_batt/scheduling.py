"""xdist's load scheduling, made safe for workers that die, and sending whole tasks.

A batt caches what it learns from a task's demos (the reference batt fits its programs once
per task), so the samples of one task are sent to one worker together: chunks are extended
to the end of the task they stop in.

When one worker crashes, xdist's ``LoadScheduling.remove_node`` hands its pending items to
the other workers at once. If another worker died in the same instant (its "node down"
event not yet processed), sending to it raises ``OSError: cannot send (already closed?)``
and the whole session ends in an INTERNALERROR (pytest-xdist issue #204). Here a send to a
dead worker leaves the items pending instead; that worker's own "node down" event follows
and xdist then reschedules what it really had.
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadScheduling


def _task(nodeid: str) -> str:
    return nodeid.rpartition("::")[0]


class CrashTolerantLoadScheduling(LoadScheduling):
    def _send_tests(self, node: Any, num: int) -> None:
        if num <= 0 or not self.pending:
            return
        assert self.collection is not None
        last = _task(self.collection[self.pending[min(num, len(self.pending)) - 1]])
        while num < len(self.pending) and _task(self.collection[self.pending[num]]) == last:
            num += 1
        tests = self.pending[:num]
        try:
            node.send_runtest_some(tests)
        except OSError:
            return
        del self.pending[:num]
        self.node2pending[node].extend(tests)
