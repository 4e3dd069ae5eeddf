"""Which worker runs which sample: whole tasks while there are enough of them, and a planned
split of the rest when there are not.

A batt caches what it learns from a task's demos (the reference batt fits its programs once per
task), so while at least as many tasks wait as there are workers, a task's samples go to one
worker together. When fewer tasks are left than workers (a run of one task, the tail of a long
run), whole tasks would leave workers idle; the samples left are then planned longest first
onto the least loaded worker (LPT). A memoising batt repeats its per-task work on each worker
that gets part of a task; in exchange no worker waits while another runs a whole task alone.
Scores do not depend on where a sample ran: the controller folds records in sample order.

Two facts of xdist shape the plan:

* A worker starts an item only once it holds the next one, or has been told to shut down (it
  runs ``pytest_runtest_protocol(item, nextitem)``). So the item a worker holds behind its
  current one is committed to it. A worker gets one item at a time, and when the plan gives it
  nothing more it is told to shut down at once, so that its last item starts without anything
  waiting behind it. Without this, the worker that takes a task's test sample also holds a
  demo sample that an idle worker could have run.
* The test sample is usually most of a task: one solve call plus one diff call per distinct
  candidate, against two calls for a demo sample (measured: 1-10x the sum of a task's demo
  samples, for the reference batt and for real generated batts on 12 ARC-AGI-1 tasks). The plan
  counts each test sample as heavy as all of its task's demo samples together: on one task
  and two workers the test sample runs alone on one worker, the demos on the other.

Scheduling starts as soon as the first worker has collected (xdist's own schedulers wait for
all of them): on a short run the first worker is busy while the others still start, and the
plan counts every worker that is starting as one that will take its share. A later worker's
collection must equal the first one's; one that differs is reported as a failed collection, and
what was not sent yet is not run (xdist's schedulers abort the run then too).

With an earlier run's seconds per sample (``--batt-durations``), the plan uses them instead of
that guess (samples it lacks are guessed and scaled to seconds), and whole tasks go longest
first so that short ones fill the end of the run.

When a worker crashes, the items it held go back to the pending list, and xdist starts a
replacement that is planned like any other worker. A send to a worker that died in the same
instant (its "node down" event not processed yet) raises ``OSError: cannot send (already
closed?)``; xdist's own schedulers let that end the session in an INTERNALERROR (pytest-xdist
issue #204). Here the items stay pending and the worker counts as gone.

This implements xdist's scheduler protocol (``xdist.scheduler.protocol.Scheduling``, made by the
``pytest_xdist_make_scheduler`` hook) with only the public methods of xdist's workers:
``send_runtest_some``, ``shutdown`` and ``shutting_down``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set

import pytest

# A worker runs its first item only while holding a second one (or a shutdown).
RUNNING_AND_NEXT = 2


def task_of(nodeid: str) -> str:
    """The scheduling group of an item: ``batt/<task>`` for a sample, the module for a plain test."""
    return nodeid.rpartition("::")[0]


def is_test_sample(nodeid: str) -> bool:
    return nodeid.rpartition("::")[2].startswith("test[")


def sample_weights(collection: Sequence[str], seconds: Optional[Mapping[str, float]] = None) -> List[float]:
    """An expected cost per item: its seconds in an earlier run where ``seconds`` has them;
    otherwise 1 for a demo sample or plain test and its task's demo count for a test sample (at
    least 1: as long as all of its task's demos together), scaled to seconds by the items known."""
    demos: Dict[str, int] = {}
    for nodeid in collection:
        if not is_test_sample(nodeid):
            demos[task_of(nodeid)] = demos.get(task_of(nodeid), 0) + 1
    units = [float(max(1, demos.get(task_of(n), 0))) if is_test_sample(n) else 1.0 for n in collection]
    known = [i for i, n in enumerate(collection) if seconds and n in seconds]
    if not seconds or not known:
        return units
    unit_s = sum(seconds[collection[i]] for i in known) / sum(units[i] for i in known)
    floor = 1e-3  # a sample that took no time still takes its place in a plan
    return [max(seconds[n], floor) if n in seconds else max(u * unit_s, floor) for n, u in zip(collection, units)]


def plan_longest_first(items: Iterable[int], weights: Sequence[float], loads: Dict[Any, float],
                       prefer: Any = None) -> Dict[Any, List[int]]:
    """Longest processing time first: each item, heaviest first, to the worker with the least
    load (ties: ``prefer``, then the workers' order). Returns each worker's items in order."""
    load = dict(loads)
    order = list(load)
    plan: Dict[Any, List[int]] = {w: [] for w in order}
    for item in sorted(items, key=lambda i: (-weights[i], i)):
        worker = min(order, key=lambda w: (load[w], w is not prefer, order.index(w)))
        plan[worker].append(item)
        load[worker] += weights[item]
    return plan


def count_tasks(nodeids: Iterable[str], stop_at: int) -> int:
    """How many distinct tasks ``nodeids`` hold, counting no further than ``stop_at``."""
    seen: Set[str] = set()
    for nodeid in nodeids:
        seen.add(task_of(nodeid))
        if len(seen) >= stop_at:
            break
    return len(seen)


def count_workers(tx: Sequence[str]) -> int:
    """The workers xdist starts for ``--tx`` specs (``-n N`` arrives as ``N*popen``), as its own schedulers count them.

    Counted here, not through xdist's helper: that is private and was renamed in xdist 3.7.
    """
    count = 0
    for spec in tx:
        times, star, _ = spec.partition("*")
        count += int(times) if star and times.isdigit() else 1
    return count


class BattScheduling:
    """xdist's scheduler protocol, for ``--batt`` runs: see the module docstring."""

    def __init__(self, config: pytest.Config, log: Any = None, numnodes: Optional[int] = None,
                 seconds: Optional[Mapping[str, float]] = None) -> None:
        """``seconds``: each sample's seconds in an earlier run (``--batt-durations``), by node id."""
        if numnodes is None:
            numnodes = count_workers(config.getvalue("tx"))
        self.expected = numnodes  # workers that will join: -n / --tx, less those that died starting
        self.joined = 0
        self.config = config
        self.seconds = seconds or None
        self.log: Callable[..., None] = log.battsched if log is not None else (lambda *args: None)
        self.node2collection: Dict[Any, List[str]] = {}
        self.node2pending: Dict[Any, List[int]] = {}
        self.pending: List[int] = []  # not sent to any worker yet, in collection order
        self.collection: Optional[List[str]] = None
        self.weights: List[float] = []
        self.gone: Set[Any] = set()  # workers a send failed to: dead, their "node down" not seen yet
        self.refused: Set[Any] = set()  # workers whose collection differs from the first one's

    # -- the protocol's state --------------------------------------------------------------

    @property
    def nodes(self) -> List[Any]:
        return list(self.node2pending)

    @property
    def collection_is_completed(self) -> bool:
        """True from the first worker's collection on: it can start while the others still start."""
        return bool(self.node2collection)

    @property
    def tests_finished(self) -> bool:
        if not self.collection_is_completed or self.pending:
            return False
        return all(len(queue) < RUNNING_AND_NEXT for queue in self.node2pending.values())

    @property
    def has_pending(self) -> bool:
        return bool(self.pending) or any(self.node2pending.values())

    # -- the protocol's events -------------------------------------------------------------

    def add_node(self, node: Any) -> None:
        assert node not in self.node2pending
        self.node2pending[node] = []
        self.joined += 1

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        assert node in self.node2pending
        if self.collection is not None and list(collection) != self.collection:
            text = self._collection_diff(node, collection)
            self.log(text)
            self.config.hook.pytest_collectreport(report=pytest.CollectReport(
                nodeid=node.gateway.id, outcome="failed", longrepr=text, result=[]))
            self.refused.add(node)
            node.shutdown()
            # The plan may count on this worker, and the others may have been told to stop:
            # as xdist does, what was not sent yet is not run (the failed collection says why).
            self.log("**Different tests collected, aborting run**")
            self.pending.clear()
            return
        self.node2collection[node] = list(collection)
        if self.collection is None:
            self.collection = self.node2collection[node]
            self.weights = sample_weights(self.collection, self.seconds)
            self.pending = list(range(len(self.collection)))
            if self.seconds:  # whole tasks longest first, so that short ones fill the end of the run
                tasks = [task_of(nodeid) for nodeid in collection]
                totals: Dict[str, float] = {}
                for task, weight in zip(tasks, self.weights):
                    totals[task] = totals.get(task, 0.0) + weight
                # Stable: a task's samples stay together and in order, ties keep the collection's order.
                self.pending.sort(key=lambda i: -totals[tasks[i]])

    def schedule(self) -> None:
        assert self.collection_is_completed
        self._distribute()

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        self.node2pending[node].remove(item_index)
        self._distribute()

    def mark_test_pending(self, item: str) -> None:
        assert self.collection is not None
        self.pending.insert(0, self.collection.index(item))
        self._distribute()

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        raise NotImplementedError("this scheduler never asks a worker to give items back")

    def remove_node(self, node: Any) -> Optional[str]:
        """A worker is gone: finished, or crashed holding items (the first is the one it was running)."""
        if node not in self.node2pending:  # died starting, before it joined: the plan must not wait for it
            self.expected -= 1
            self._distribute()
            raise KeyError(node)  # what xdist's session expects for a worker it never scheduled
        queue = self.node2pending.pop(node)  # its collection stays: "completed" counts workers that ever collected
        self.gone.discard(node)
        self.refused.discard(node)
        if not queue:
            self._distribute()
            return None
        assert self.collection is not None
        crashed, rest = queue[0], queue[1:]
        self.pending[:0] = rest
        self._distribute()
        return self.collection[crashed]

    # -- the plan --------------------------------------------------------------------------

    def _up(self) -> List[Any]:
        """The workers that take a share: running, or still starting (those not joined yet as names)."""
        joined = [n for n in self.node2pending if not n.shutting_down and n not in self.gone and n not in self.refused]
        return joined + [f"starting-{i}" for i in range(self.expected - self.joined)]

    def _distribute(self) -> None:
        """Give every worker that would otherwise wait what it needs to go on, or a shutdown."""
        if self.collection is None:
            return
        while True:
            up = self._up()
            hungry = [n for n in up if n in self.node2collection and len(self.node2pending[n]) < RUNNING_AND_NEXT]
            if not hungry:
                return
            node = min(hungry, key=lambda n: len(self.node2pending[n]))
            if not self.pending:
                node.shutdown()  # runs what it holds, with nothing behind its last item
                continue
            ids = (self.collection[i] for i in self.pending)
            if count_tasks(ids, len(up)) >= len(up):
                batch = self._whole_task()
            else:
                loads = {n: sum(self.weights[i] for i in self.node2pending.get(n, ())) for n in up}
                batch = plan_longest_first(self.pending, self.weights, loads, prefer=node)[node][:1]
                if not batch:
                    node.shutdown()  # the others take what is left: start the last item now
                    continue
            self._send(node, batch)

    def _whole_task(self) -> List[int]:
        """The first pending task's items (what a crashed worker held comes first)."""
        assert self.collection is not None
        collection = self.collection
        task = task_of(collection[self.pending[0]])
        return [i for i in self.pending if task_of(collection[i]) == task]

    def _send(self, node: Any, batch: List[int]) -> None:
        try:
            node.send_runtest_some(batch)
        except OSError:  # died in the same instant; its "node down" event follows (xdist #204)
            self.gone.add(node)
            return
        taken = set(batch)
        self.pending = [i for i in self.pending if i not in taken]
        self.node2pending[node].extend(batch)

    def _collection_diff(self, node: Any, collection: Sequence[str]) -> str:
        from xdist.report import report_collection_diff

        first, col = next(iter(self.node2collection.items()))
        return report_collection_diff(col, list(collection), first.gateway.id, node.gateway.id) or "collections differ"
