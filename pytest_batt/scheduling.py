"""xdist's load scheduling, made safe for workers that die: batts crash workers all the time.

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


class CrashTolerantLoadScheduling(LoadScheduling):
    def _send_tests(self, node: Any, num: int) -> None:
        tests = self.pending[:num]
        if not tests:
            return
        try:
            node.send_runtest_some(tests)
        except OSError:
            return
        del self.pending[:num]
        self.node2pending[node].extend(tests)
