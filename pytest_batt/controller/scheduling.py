"""Which worker runs which sample: whole tasks while there are enough of them, single samples for
a heavy task and for program libraries, and a planned split of the rest when tasks run short.

A batt caches what it learns from a task's demos (the reference batt fits its programs once per
task), so while at least as many tasks wait as there are workers, a task's samples go to one
worker together, in one send. Three things cut a task into its samples:

* **a heavy task**: one heavier than its share of the run (the total divided by the workers)
  would hold one worker past the others however the rest is placed; its samples go one by one,
  longest first, even while many tasks remain;
* **a program library** (``--batt-programs``): it has no per-task memo, so every sample goes on
  its own from the first run, and an idle worker takes the next sample of a heavy task;
* **the tail**: when fewer tasks are left than workers (a run of one task, the end of a long
  run), the samples left are planned longest first onto the least loaded worker (LPT).

A memoising batt repeats its per-task work on each worker that gets part of a task; in exchange
no worker waits while another runs a whole task alone. Scores do not depend on where a sample
ran: the controller folds records in sample order.

What a sample weighs: its seconds in the last run (pytest's cache, or ``--batt-durations``) when
known; otherwise a guess. For a batt the guess counts a test sample as heavy as all of its
task's demos together: one solve call plus one diff call per distinct candidate, against two
calls for a demo sample (measured: 1-10x the sum of a task's demo samples, for the reference
batt and for real generated batts on 12 ARC-AGI-1 tasks); on one task and two workers the test
sample then runs alone on one worker, the demos on the other. A library's samples weigh the
same (one call of each program, no differs). With seconds known, what is sent goes longest
first, so that short work fills the end of the run; without them, a library's samples go
round the tasks (every task's first sample, then every task's second...), so that the samples
of a heavy task are far apart in the order and land on different workers.

Two facts of xdist shape the sending:

* A worker starts an item only once it holds the next one, or has been told to shut down (it
  runs ``pytest_runtest_protocol(item, nextitem)``). So the item a worker holds behind its
  current one is committed to it, and a worker that holds nothing behind its current item waits
  for the controller before it starts it. A worker is sent more while it holds fewer than two
  items, or while what waits behind its running item is expected to take less than
  ``HORIZON`` (cheap samples: a few milliseconds each, where the round trip to the controller
  would otherwise idle the worker after every sample) and less than its share of what is not
  sent yet (the workers still starting keep theirs); such a batch stops where the tail begins.
  A worker holding cheap samples is topped up only once what waits behind its running item has
  dropped under half of that (``REFILL``), so one send serves many samples.
  Expected seconds come from the plan's weights, scaled by the seconds the finished items took. In the tail a worker gets one item at a
  time, and when the plan gives it nothing more it is told to shut down at once, so that its
  last item starts without anything waiting behind it.
* Scheduling starts as soon as the first worker has collected (xdist's own schedulers wait for
  all of them): on a short run the first worker is busy while the others still start, and the
  plan counts every worker that is starting as one that will take its share. A later worker's
  collection must equal the first one's; one that differs is reported as a failed collection,
  and what was not sent yet is not run (xdist's schedulers abort the run then too).

When a worker crashes, the items it held go back to the pending list, and xdist starts a
replacement that is planned like any other worker; an item handed back with
``mark_test_pending`` is sent again first. A send to a worker that died in the same instant (its
"node down" event not processed yet) raises ``OSError: cannot send (already closed?)``; xdist's
own schedulers let that end the session in an INTERNALERROR (pytest-xdist issue #204). Here the
items stay pending and the worker counts as gone.

This implements xdist's scheduler protocol (``xdist.scheduler.protocol.Scheduling``, made by the
``pytest_xdist_make_scheduler`` hook) with only the public methods of xdist's workers:
``send_runtest_some``, ``shutdown`` and ``shutting_down``.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from typing import Any, Callable, Deque, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import pytest

# A worker runs its first item only while holding a second one (or a shutdown).
RUNNING_AND_NEXT = 2
# A worker is sent more while what waits behind its running item is expected to take less than
# this many seconds (and it holds fewer than MAX_QUEUE items): enough to cover the round trip to
# the controller, little enough that what it commits to cannot unbalance the end of the run.
HORIZON = 0.05
MAX_QUEUE = 64
# A worker holding cheap samples is topped up once what waits behind its running item drops under
# this share of HORIZON (and of MAX_QUEUE), then filled up to it: one send for many finished items,
# where topping it up at every one cost a message each way per sample (execnet's, ~0.1 ms a side).
REFILL = 0.5


def task_of(nodeid: str) -> str:
    """The scheduling group of an item: ``batt/<task>`` for a sample, the module for a plain test."""
    return nodeid.rpartition("::")[0]


def is_test_sample(nodeid: str) -> bool:
    return nodeid.rpartition("::")[2].startswith("test[")


def sample_weights(collection: Sequence[str], seconds: Optional[Mapping[str, float]] = None, even: bool = False) -> List[float]:
    """An expected cost per item: its seconds in an earlier run where ``seconds`` has them;
    otherwise a guess, scaled to seconds by the items known: 1 for a demo sample or plain test and
    its task's demo count for a test sample (at least 1: as long as all of its task's demos
    together), or 1 for every sample when ``even`` (a program library: no differs)."""
    demos: Dict[str, int] = {}
    for nodeid in collection:
        if not is_test_sample(nodeid):
            demos[task_of(nodeid)] = demos.get(task_of(nodeid), 0) + 1
    units = [float(max(1, demos.get(task_of(n), 0))) if is_test_sample(n) and not even else 1.0 for n in collection]
    known = [i for i, n in enumerate(collection) if seconds and n in seconds]
    if not seconds or not known:
        return units
    unit_s = sum(seconds[collection[i]] for i in known) / sum(units[i] for i in known)
    floor = 1e-3  # a sample that took no time still takes its place in a plan
    return [max(seconds[n], floor) if n in seconds else max(u * unit_s, floor) for n, u in zip(collection, units)]


def send_units(collection: Sequence[str], weights: Sequence[float], workers: int, split_all: bool = False,
               known: bool = False) -> List[List[int]]:
    """The collection cut into what is sent at once, in the order it is sent.

    A task is one unit, unless ``split_all`` (a program library) or it is heavier than its share
    of the run (the total over ``workers``): then each of its samples is one. With ``known``
    seconds the units go longest first (a task's samples in their own order); without, a
    library's samples go round the tasks (first samples, then second samples...).
    """
    tasks: Dict[str, List[int]] = {}
    for i, nodeid in enumerate(collection):
        tasks.setdefault(task_of(nodeid), []).append(i)
    share = sum(weights) / max(1, workers)
    units: List[List[int]] = []
    for items in tasks.values():
        heavy = workers > 1 and sum(weights[i] for i in items) > share
        if split_all or heavy:
            units.extend([i] for i in sorted(items, key=lambda i: -weights[i]))  # stable: a library's guesses keep their order
        else:
            units.append(items)
    if known:
        units.sort(key=lambda u: -sum(weights[i] for i in u))  # stable: ties keep the collection's order
    elif split_all:
        rank = {i: (r, t) for t, items in enumerate(tasks.values()) for r, i in enumerate(items)}
        units.sort(key=lambda u: rank[u[0]])
    return units


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
                 seconds: Optional[Mapping[str, float]] = None, split: bool = False) -> None:
        """``seconds``: each sample's seconds in an earlier run (the cache or ``--batt-durations``), by
        node id; ``split``: every sample is sent on its own (a program library)."""
        if numnodes is None:
            numnodes = count_workers(config.getvalue("tx"))
        self.expected = numnodes  # workers that will join: -n / --tx, less those that died starting
        self.joined = 0
        self.config = config
        self.seconds = seconds or None
        self.split = split
        self.log: Callable[..., None] = log.battsched if log is not None else (lambda *args: None)
        self.node2collection: Dict[Any, List[str]] = {}
        self.node2pending: Dict[Any, List[int]] = {}
        self.queue: Deque[List[int]] = deque()  # units not sent yet, in the order they go
        self.unit_of: List[int] = []  # each item's unit, to put a crashed worker's items back as they were cut
        self.collection: Optional[List[str]] = None
        self.weights: List[float] = []
        self.known = False  # the weights are seconds (an earlier run's), not guesses
        self.queued_weight = 0.0  # of what is not sent yet
        self.done_weight = 0.0  # the finished items' weights and seconds: what a unit of weight takes now
        self.done_seconds = 0.0
        self.gone: Set[Any] = set()  # workers a send failed to: dead, their "node down" not seen yet
        self.refused: Set[Any] = set()  # workers whose collection differs from the first one's

    # -- the protocol's state --------------------------------------------------------------

    @property
    def nodes(self) -> List[Any]:
        return list(self.node2pending)

    @property
    def pending(self) -> List[int]:
        """The items not sent to any worker yet, in the order they go."""
        return [i for unit in self.queue for i in unit]

    @property
    def collection_is_completed(self) -> bool:
        """True from the first worker's collection on: it can start while the others still start."""
        return bool(self.node2collection)

    @property
    def tests_finished(self) -> bool:
        if not self.collection_is_completed or self.queue:
            return False
        return all(len(queue) < RUNNING_AND_NEXT for queue in self.node2pending.values())

    @property
    def has_pending(self) -> bool:
        return bool(self.queue) or any(self.node2pending.values())

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
            self.queue.clear()
            self.queued_weight = 0.0
            return
        self.node2collection[node] = list(collection)
        if self.collection is None:
            self.collection = self.node2collection[node]
            self.known = bool(self.seconds) and any(n in self.seconds for n in self.collection)  # type: ignore[operator]
            self.weights = sample_weights(self.collection, self.seconds, even=self.split)
            units = send_units(self.collection, self.weights, self.expected, self.split, self.known)
            self.unit_of = [0] * len(self.collection)
            for u, unit in enumerate(units):
                for i in unit:
                    self.unit_of[i] = u
            self.queue = deque(units)
            self.queued_weight = sum(self.weights)

    def schedule(self) -> None:
        assert self.collection_is_completed
        self._distribute()

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        self.node2pending[node].remove(item_index)
        if duration > 0:
            self.done_weight += self.weights[item_index]
            self.done_seconds += duration
        self._distribute()

    def mark_test_pending(self, item: str) -> None:
        """Run ``item`` again (a crash hook hands it back): it goes first."""
        assert self.collection is not None
        index = self.collection.index(item)
        self.queue.appendleft([index])
        self.queued_weight += self.weights[index]
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
        back: List[List[int]] = []  # what it held, first, cut into the units it was sent in
        for i in rest:
            if back and self.unit_of[back[-1][-1]] == self.unit_of[i]:
                back[-1].append(i)
            else:
                back.append([i])
        self.queue.extendleft(reversed(back))
        self.queued_weight += sum(self.weights[i] for i in rest)
        self._distribute()
        return self.collection[crashed]

    # -- the plan --------------------------------------------------------------------------

    def _up(self) -> List[Any]:
        """The workers that take a share: running, or still starting (those not joined yet as names)."""
        joined = [n for n in self.node2pending if not n.shutting_down and n not in self.gone and n not in self.refused]
        return joined + [f"starting-{i}" for i in range(self.expected - self.joined)]

    def _scale(self) -> Optional[float]:
        """Seconds per unit of weight, from the items finished so far (1 for weights that are seconds)."""
        if self.done_weight > 0 and self.done_seconds > 0:
            return self.done_seconds / self.done_weight
        return 1.0 if self.known else None

    def _ahead(self, node: Any) -> Tuple[int, float]:
        """How many items a worker holds, and the weight of those behind its running one."""
        queue = self.node2pending[node]
        return len(queue), sum(self.weights[i] for i in queue[1:])

    def _wants(self, held: int, ahead: float, many_tasks: bool, share: float = 0.0, refill: float = 1.0) -> bool:
        """Whether a worker is sent more: it holds fewer than two items, or, while many tasks are left,
        what waits behind its running item is expected to take less than HORIZON, and less than
        ``share`` (its part of what is not sent yet: the others, started or starting, keep theirs).
        ``refill`` (REFILL): whether a send to it is started at all, a lower mark than the fill's."""
        if held < RUNNING_AND_NEXT:
            return True
        scale = self._scale()
        return (many_tasks and held < MAX_QUEUE * refill and scale is not None and ahead * scale < HORIZON * refill
                and ahead < share)

    def _distribute(self) -> None:
        """Give every worker that would otherwise wait what it needs to go on, or a shutdown."""
        if self.collection is None:
            return
        collection = self.collection
        while True:
            up = self._up()
            many = bool(self.queue) and count_tasks((collection[i] for unit in self.queue for i in unit), len(up)) >= len(up)
            share = self.queued_weight / len(up) if up else 0.0
            hungry = [n for n in up if n in self.node2collection and self._wants(*self._ahead(n), many, share, REFILL)]
            if not hungry:
                return
            node = min(hungry, key=lambda n: len(self.node2pending[n]))
            if not self.queue:
                node.shutdown()  # runs what it holds, with nothing behind its last item
                continue
            if many:  # the next units (a whole task, or one sample: split, heavy or crashed), in one send
                held, ahead = self._ahead(node)
                batch: List[int] = []
                units = 0
                last = self._behind_heavy(node, held) if len(up) > 1 else None
                if last is not None:  # a heavy item and, behind it, the lightest unit
                    units = 1 if held == 0 else 0
                    batch = (self.queue[0] if held == 0 else []) + self.queue[last]
                while last is None and units < len(self.queue) and (
                        not batch or (self._wants(held, ahead, many, share) and self._many_from(units, len(up)))):
                    unit = self.queue[units]
                    ahead += sum(self.weights[i] for i in (unit[1:] if held == 0 else unit))
                    held += len(unit)
                    batch += unit
                    units += 1
                if self._send(node, batch):
                    if last is not None:
                        del self.queue[last]
                    for _ in range(units):
                        self.queue.popleft()
                    self.queued_weight -= sum(self.weights[i] for i in batch)
                continue
            loads = {n: sum(self.weights[i] for i in self.node2pending.get(n, ())) for n in up}
            batch = plan_longest_first(self.pending, self.weights, loads, prefer=node)[node][:1]
            if not batch:
                node.shutdown()  # the others take what is left: start the last item now
                continue
            if self._send(node, batch):
                self._take(batch[0])
                self.queued_weight -= self.weights[batch[0]]

    def _behind_heavy(self, node: Any, held: int) -> Optional[int]:
        """Where the worker runs (or is about to run) one heavy item alone, the queue's unit to hold
        behind it: the lightest, so that it commits the least and the heavy units after it go to
        the other workers. None otherwise (the next units go, as usual)."""
        queue = self.queue
        if held == 1 and self._heavy(self.node2pending[node][0]) and queue:
            return self._lightest(0)
        if held == 0 and len(queue) > 1 and len(queue[0]) == 1 and self._heavy(queue[0][0]):
            return self._lightest(1)
        return None

    def _heavy(self, index: int) -> bool:
        """Whether an item is expected to take longer than HORIZON: what a worker commits to behind it
        waits that long, and the other workers may run out meanwhile."""
        scale = self._scale()
        return scale is not None and self.weights[index] * scale >= HORIZON

    def _lightest(self, first: int) -> int:
        """The queue's lightest unit from ``first`` on (ties: the first): the one to hold behind a
        heavy item, which commits the least to that worker."""
        weights = self.weights
        units = enumerate(islice(self.queue, first, None), first)  # a deque read in order, not by index
        return min(units, key=lambda pair: sum(weights[i] for i in pair[1]))[0]  # min keeps the first of ties

    def _many_from(self, first: int, workers: int) -> bool:
        """Whether the units not sent yet, from the ``first`` on, still hold a task for each worker (else the tail's plan decides)."""
        assert self.collection is not None
        collection = self.collection
        return count_tasks((collection[i] for unit in islice(self.queue, first, None) for i in unit), workers) >= workers

    def _take(self, index: int) -> None:
        """Take one item out of the unit that holds it (the tail's plan picks items, not units)."""
        for unit in self.queue:
            if index in unit:
                unit.remove(index)
                if not unit:
                    self.queue.remove(unit)
                return

    def _send(self, node: Any, batch: List[int]) -> bool:
        try:
            node.send_runtest_some(list(batch))
        except OSError:  # died in the same instant; its "node down" event follows (xdist #204)
            self.gone.add(node)
            return False
        self.node2pending[node].extend(batch)
        return True

    def _collection_diff(self, node: Any, collection: Sequence[str]) -> str:
        from xdist.report import report_collection_diff

        first, col = next(iter(self.node2collection.items()))
        return report_collection_diff(col, list(collection), first.gateway.id, node.gateway.id) or "collections differ"
