"""xdist's load scheduling, made safe for workers that die, sending whole tasks while there are
enough of them and splitting tasks when there are not.

A batt caches what it learns from a task's demos (the reference batt fits its programs once
per task), so while at least as many tasks are waiting as there are workers, the samples of
one task go to one worker together: chunks are extended to the end of the task they stop in.
When fewer tasks are left than workers (a run of one task; the tail of a long run), whole
tasks would leave workers idle: then the samples are sent one chunk at a time to whichever
worker asks, test samples first (a test sample makes one diff call per distinct candidate, a
demo sample one: it is usually the longest, and the longest job should start first). A
memoising batt then repeats its per-task work on each worker that gets part of the task; in
exchange, no worker waits while another runs a whole task alone. Scores do not depend on
where a sample ran: the controller folds records in sample order.

When one worker crashes, xdist's ``LoadScheduling.remove_node`` hands its pending items to
the other workers at once. If another worker died in the same instant (its "node down"
event not yet processed), sending to it raises ``OSError: cannot send (already closed?)``
and the whole session ends in an INTERNALERROR (pytest-xdist issue #204). Here a send to a
dead worker leaves the items pending instead; that worker's own "node down" event follows
and xdist then reschedules what it really had.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Set, overload

from xdist.scheduler import LoadScheduling


def task_of(nodeid: str) -> str:
    """The scheduling group of an item: ``batt/<task>`` for a sample, the module for a plain test."""
    return nodeid.rpartition("::")[0]


def is_test_sample(nodeid: str) -> bool:
    return nodeid.rpartition("::")[2].startswith("test[")


def fewer_tasks_than(nodeids: Sequence[str], n: int) -> bool:
    """Whether ``nodeids`` hold fewer than ``n`` distinct tasks (stops counting at ``n``)."""
    seen: Set[str] = set()
    for nodeid in nodeids:
        seen.add(task_of(nodeid))
        if len(seen) >= n:
            return False
    return True


def order_test_samples_first(nodeids: Sequence[str]) -> List[int]:
    """A stable order of positions: tasks in their order, each task's test samples before its demos."""
    rank: Dict[str, int] = {}
    for nodeid in nodeids:
        rank.setdefault(task_of(nodeid), len(rank))
    return sorted(range(len(nodeids)), key=lambda i: (rank[task_of(nodeids[i])], not is_test_sample(nodeids[i])))


def chunk_end(nodeids: Sequence[str], num: int) -> int:
    """``num`` extended to the end of the task that the first ``num`` items stop in."""
    num = min(num, len(nodeids))
    last = task_of(nodeids[num - 1])
    while num < len(nodeids) and task_of(nodeids[num]) == last:
        num += 1
    return num


class _PendingIds(Sequence[str]):
    """The node ids of the pending items, looked up only as far as they are read."""

    def __init__(self, collection: Sequence[str], pending: Sequence[int]) -> None:
        self.collection, self.pending = collection, pending

    def __len__(self) -> int:
        return len(self.pending)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...
    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self.collection[j] for j in self.pending[i]]
        return self.collection[self.pending[i]]


class CrashTolerantLoadScheduling(LoadScheduling):
    def _send_tests(self, node: Any, num: int) -> None:
        if num <= 0 or not self.pending:
            return
        assert self.collection is not None
        ids = _PendingIds(self.collection, self.pending)
        if fewer_tasks_than(ids, len(self.node2pending)):
            order = order_test_samples_first(list(ids))
            self.pending[:] = [self.pending[i] for i in order]
            num = min(num, len(self.pending))
        else:
            num = chunk_end(ids, num)
        tests = self.pending[:num]
        try:
            node.send_runtest_some(tests)
        except OSError:
            return
        del self.pending[:num]
        self.node2pending[node].extend(tests)
