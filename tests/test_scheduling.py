"""The scheduler against simulated xdist workers (no processes).

``SimWorker`` keeps the rule of xdist's worker loop that the plan is built around: a worker
starts the first item of its queue only once it holds a second one, or a shutdown; what it
received it runs in order, and after a shutdown it takes nothing more. ``simulate`` runs a
collection to the end on a clock of given item durations and returns when each worker finished.
"""

import heapq
import random
from types import SimpleNamespace

import pytest

from pytest_batt.controller.scheduling import (HORIZON, BattScheduling, count_workers, plan_longest_first, sample_weights,
                                              send_units, task_of)


class SimWorker:
    def __init__(self, name, dead=False):
        self.name, self.dead = name, dead
        self.gateway = SimpleNamespace(id=name)
        self.queue = []  # received, not finished; the first is running once started
        self.sends = []
        self.shutdown_sent = False
        self.started_at = None  # when queue[0] started, None while waiting
        self.ran = []

    @property
    def shutting_down(self):
        return self.shutdown_sent

    def send_runtest_some(self, indices):
        if self.dead:
            raise OSError("cannot send (already closed?)")
        assert not self.shutdown_sent, f"{self.name} got items after its shutdown"
        self.sends.append(list(indices))
        self.queue.extend(indices)

    def shutdown(self):
        self.shutdown_sent = True

    def can_start(self):
        return self.started_at is None and (len(self.queue) >= 2 or (self.queue and self.shutdown_sent))

    def __repr__(self):
        return self.name


def ids(*tasks):
    """Node ids of tasks given as (name, demos, tests)."""
    return [f"batt/{t}::{kind}[{i}]" for t, d, n in tasks for kind, count in (("demo", d), ("test", n)) for i in range(count)]


def config_for(nodes):
    return SimpleNamespace(hook=SimpleNamespace(pytest_collectreport=lambda report: None))


def simulate(collection, durations, workers, crash=None, collects_at=None, seconds=None, split=False):
    """Run everything; ``crash`` = (worker name, nth item it starts) dies when starting that item
    and is replaced by a new worker; ``collects_at`` = {worker name: time} for workers that
    finish collecting later than time 0; ``split``: a program library. Returns (finish time per
    worker name, sched, ran-by map)."""
    collects_at = collects_at or {}
    sched = BattScheduling(config_for(workers), numnodes=len(workers), seconds=seconds, split=split)
    clock, events, done, finish, ran_by, crashed = 0.0, [], {}, {}, {}, []
    for w in workers:
        if collects_at.get(w.name, 0) == 0:
            sched.add_node(w)
            sched.add_node_collection(w, collection)
            sched.schedule()
        else:
            heapq.heappush(events, (collects_at[w.name], w.name, "collected", w))
    live = list(workers)

    def start_what_can_start():
        for w in list(live):
            if w.can_start():
                if crash and w.name == crash[0] and len(w.ran) == crash[1] and not crashed:
                    crashed.append(w)
                    live.remove(w)
                    lost = sched.remove_node(w)
                    assert lost == collection[w.queue[0]]
                    done[lost] = "crash"
                    new = SimWorker(w.name + "-re")
                    live.append(new)
                    sched.add_node(new)
                    sched.add_node_collection(new, collection)
                    sched.schedule()
                    return True
                w.started_at = clock
                heapq.heappush(events, (clock + durations[w.queue[0]], w.name, "done", w))
        return False

    while True:
        while start_what_can_start():
            pass
        if not events:
            break
        clock, _, what, w = heapq.heappop(events)
        if what == "collected":  # xdist's "workerready" and "collectionfinish", together
            sched.add_node(w)
            sched.add_node_collection(w, collection)
            sched.schedule()
            continue
        index = w.queue.pop(0)
        w.started_at = None
        w.ran.append(index)
        assert collection[index] not in done, f"{collection[index]} ran twice"
        done[collection[index]] = w.name
        ran_by[collection[index]] = w.name
        finish[w.name] = clock
        sched.mark_test_complete(w, index, durations[index])
        if w.shutdown_sent and not w.queue:  # the worker exits: xdist's "workerfinished"
            live.remove(w)
            assert sched.remove_node(w) is None
    assert sorted(done) == sorted(collection), "an item never ran"
    assert sched.tests_finished and not sched.has_pending
    assert all(not w.queue for w in live)
    return finish, sched, ran_by


def test_weights_count_a_test_sample_as_all_of_its_demos():
    col = ids(("a", 5, 1), ("b", 3, 2), ("c", 0, 1))
    w = dict(zip(col, sample_weights(col)))
    assert w["batt/a::test[0]"] == 5 and w["batt/b::test[1]"] == 3 and w["batt/c::test[0]"] == 1
    assert w["batt/a::demo[4]"] == 1


def test_weights_from_an_earlier_run():
    col = ids(("a", 2, 1), ("b", 2, 1))
    seconds = {"batt/a::demo[0]": 1.0, "batt/a::demo[1]": 3.0, "batt/a::test[0]": 0.0}
    w = dict(zip(col, sample_weights(col, seconds)))
    assert w["batt/a::demo[1]"] == 3.0 and w["batt/a::test[0]"] == 1e-3  # known; zero kept above zero
    # Unknown ones: the call-count units, scaled by the known samples' seconds per unit (4 s / 4 units).
    assert w["batt/b::demo[0]"] == 1.0 and w["batt/b::test[0]"] == 2.0
    assert sample_weights(col, {}) == sample_weights(col) == [1.0, 1.0, 2.0, 1.0, 1.0, 2.0]


def test_an_earlier_run_corrects_a_wrong_guess():
    """A test sample far cheaper than its demos: the guess runs all demos on one worker (5 s);
    with the last run's seconds the demos are shared (3 s)."""
    col = ids(("t", 5, 1))
    durations = [1.0] * 5 + [0.1]
    guessed, _, _ = simulate(col, durations, [SimWorker("gw0"), SimWorker("gw1")])
    planned, _, _ = simulate(col, durations, [SimWorker("gw0"), SimWorker("gw1")], seconds=dict(zip(col, durations)))
    assert max(guessed.values()) == 5.0 and max(planned.values()) <= 3.1


def test_with_an_earlier_run_whole_tasks_go_longest_first():
    col = ids(("a", 1, 1), ("b", 1, 1), ("c", 1, 1), ("d", 1, 1))
    durations = [0.5, 0.5] * 3 + [5.0, 5.0]
    in_order, _, _ = simulate(col, durations, [SimWorker("gw0"), SimWorker("gw1")])
    longest_first, _, ran_by = simulate(col, durations, [SimWorker("gw0"), SimWorker("gw1")],
                                        seconds=dict(zip(col, durations)))
    assert max(in_order.values()) == 11.0  # d starts last, after a or b
    # d is heavier than its share: split, its samples on both workers, the light tasks behind them
    assert max(longest_first.values()) == 6.5 and ran_by["batt/d::test[0]"] != ran_by["batt/d::demo[0]"]


def test_behind_a_heavy_sample_a_worker_holds_the_lightest_unit():
    """tokpidjin's batt on three tasks, from its last run's seconds: 2c608aff's test sample is 7.3 s
    of 12 s. The worker that runs it holds the lightest unit behind it, not the next task (which
    took it to 9.5 s while the other worker finished at 2.3 s)."""
    col = ids(("007bbfb7", 5, 1), ("2c608aff", 4, 1), ("3bd67248", 3, 1))
    durations = [0.07] * 5 + [1.05] + [0.23, 0.15, 0.23, 0.25, 7.3] + [0.07, 0.18, 0.09, 1.88]
    finish, _, ran_by = simulate(col, durations, [SimWorker("gw0"), SimWorker("gw1")], seconds=dict(zip(col, durations)))
    heavy = ran_by["batt/2c608aff::test[0]"]
    assert max(finish.values()) < 7.3 + 0.3, finish
    assert sum(d for n, d in zip(col, durations) if ran_by[n] == heavy) < 7.3 + 0.3


def test_longest_first_plan():
    weights = [5, 1, 1, 1, 1, 1]
    plan = plan_longest_first(range(6), weights, {"A": 0.0, "B": 0.0})
    assert plan == {"A": [0], "B": [1, 2, 3, 4, 5]}
    plan = plan_longest_first(range(6), weights, {"A": 0.0, "B": 0.0}, prefer="B")
    assert plan == {"A": [1, 2, 3, 4, 5], "B": [0]}
    assert plan_longest_first([1, 2], weights, {"A": 3.0, "B": 0.0}) == {"A": [], "B": [1, 2]}


def test_one_task_test_sample_runs_alone():
    """The issue's heavy case: test sample 34 s, demos 6 s each, 2 workers. The worker that runs
    the test sample must hold nothing behind it (otherwise 40 s instead of 34 s)."""
    col = ids(("007bbfb7", 5, 1))
    durations = [6.0] * 5 + [34.0]
    workers = [SimWorker("gw0"), SimWorker("gw1")]
    finish, _, ran_by = simulate(col, durations, workers)
    assert max(finish.values()) == 34.0
    test_worker = ran_by["batt/007bbfb7::test[0]"]
    assert [w for c, w in ran_by.items() if w == test_worker] == [test_worker]
    assert sorted(finish.values()) == [30.0, 34.0]


def test_one_task_on_three_workers_spreads_the_demos():
    col = ids(("t", 4, 1))
    finish, _, ran_by = simulate(col, [1.0] * 4 + [4.0], [SimWorker(f"gw{i}") for i in range(3)])
    assert max(finish.values()) == 4.0
    assert len(set(ran_by.values())) == 3


def test_a_cheap_test_sample_costs_at_most_the_demos_of_its_task():
    """The plan guesses the test sample is as long as all demos; when it is far shorter the demos
    still finish in the time they take one after another, never later."""
    col = ids(("t", 5, 1))
    finish, _, _ = simulate(col, [1.0] * 5 + [0.1], [SimWorker("gw0"), SimWorker("gw1")])
    assert max(finish.values()) <= 5.0


def test_enough_tasks_go_whole_to_one_worker_each():
    col = ids(*[(f"t{i}", 3, 1) for i in range(8)])
    finish, _, ran_by = simulate(col, [1.0] * len(col), [SimWorker("gw0"), SimWorker("gw1")])
    workers_of = {}
    for nodeid, w in ran_by.items():
        workers_of.setdefault(task_of(nodeid), set()).add(w)
    # Every task but the last ones (split at the tail, where fewer tasks than workers are left)
    # ran on one worker; both workers did about half of the work.
    assert sum(len(ws) == 1 for ws in workers_of.values()) >= 7
    assert max(finish.values()) <= len(col) / 2 + 2


def test_two_tasks_on_two_workers_stay_whole():
    col = ids(("a", 4, 1), ("b", 4, 1))
    workers = [SimWorker("gw0"), SimWorker("gw1")]
    _, _, ran_by = simulate(col, [1.0] * len(col), workers)
    assert {w for c, w in ran_by.items() if c.startswith("batt/a::")} == {"gw0"}
    assert {w for c, w in ran_by.items() if c.startswith("batt/b::")} == {"gw1"}
    assert workers[0].sends[0] == list(range(5))  # the whole task in one send


def test_the_tail_of_a_run_is_split():
    """Three heavy tasks on two workers: the third is split, its test sample alone."""
    col = ids(("a", 3, 1), ("b", 3, 1), ("c", 3, 1))
    durations = [1.0, 1.0, 1.0, 6.0] * 3
    finish, _, ran_by = simulate(col, durations, [SimWorker("gw0"), SimWorker("gw1")])
    assert len({w for c, w in ran_by.items() if c.startswith("batt/c::")}) == 2
    assert max(finish.values()) <= 16  # whole tasks only would end at 18


def test_a_crashed_worker_loses_only_the_item_it_was_running():
    col = ids(("a", 3, 1), ("b", 3, 1), ("c", 3, 1))
    finish, sched, ran_by = simulate(col, [1.0] * len(col), [SimWorker("gw0"), SimWorker("gw1")], crash=("gw0", 1))
    assert "gw0-re" in ran_by.values()  # the replacement took over what gw0 still held


def test_a_send_to_a_dead_worker_leaves_the_items_pending():
    col = ids(("a", 2, 1), ("b", 2, 1), ("c", 2, 1))
    dead, alive = SimWorker("gw0", dead=True), SimWorker("gw1")
    sched = BattScheduling(config_for([dead, alive]), numnodes=2)
    for w in (dead, alive):
        sched.add_node(w)
        sched.add_node_collection(w, col)
    sched.schedule()
    assert dead.sends == [] and sched.node2pending[dead] == []
    sent = [i for chunk in alive.sends for i in chunk]
    assert sorted(sent + sched.pending) == list(range(len(col)))  # nothing lost, nothing sent twice
    assert sched.remove_node(dead) is None  # then its "node down": the other worker takes all
    while sched.has_pending:
        sched.mark_test_complete(alive, sched.node2pending[alive][0])
    assert sorted(i for chunk in alive.sends for i in chunk) == list(range(len(col)))


@pytest.mark.parametrize("seed", range(40))
def test_random_runs_finish_every_item_once(seed):
    rng = random.Random(seed)
    tasks = [(f"t{i}", rng.randint(0, 5), rng.randint(1, 3)) for i in range(rng.randint(1, 9))]
    col = ids(*tasks)
    durations = [rng.choice([0.1, 1.0, 3.0, 20.0]) for _ in col]
    workers = [SimWorker(f"gw{i}") for i in range(rng.randint(1, 4))]
    crash = (workers[0].name, rng.randint(0, 3)) if seed % 3 == 0 else None
    finish, _, _ = simulate(col, durations, workers, crash=crash)
    # Never worse than one worker running everything (plus the crashed item's time).
    assert max(finish.values()) <= sum(durations) + 1e-9


def test_the_first_worker_starts_while_the_other_still_starts():
    """One task; gw1 collects 2 s after gw0. gw0 starts the test sample at once, and the demos
    wait for gw1, which the plan counted on all along."""
    col = ids(("t", 5, 1))
    workers = [SimWorker("gw0"), SimWorker("gw1")]
    finish, _, ran_by = simulate(col, [1.0] * 5 + [6.0], workers, collects_at={"gw1": 2.0})
    assert finish == {"gw0": 6.0, "gw1": 7.0}
    assert [c for c, w in ran_by.items() if w == "gw0"] == ["batt/t::test[0]"]


def test_a_worker_that_dies_starting_is_replaced_and_not_counted_twice():
    col = ids(("t", 3, 1))
    gw0, gw1, again = SimWorker("gw0"), SimWorker("gw1"), SimWorker("gw1-re")
    sched = BattScheduling(config_for([gw0, gw1]), numnodes=2)
    sched.add_node(gw0)
    sched.add_node_collection(gw0, col)
    sched.schedule()
    assert gw0.sends == [[3]] and gw0.shutting_down  # the test sample alone; the demos wait for gw1
    with pytest.raises(KeyError):  # gw1 dies before it joined: xdist's session expects KeyError
        sched.remove_node(gw1)
    sched.add_node(again)  # xdist's replacement
    sched.add_node_collection(again, col)
    sched.schedule()
    # The only worker left that takes work gets the rest (one by one: the task was cut for two workers).
    assert [i for chunk in again.sends for i in chunk] == [0, 1]
    while sched.node2pending[again]:
        sched.mark_test_complete(again, sched.node2pending[again][0])
    assert [i for chunk in again.sends for i in chunk] == [0, 1, 2]
    assert sched.expected == 1 and sched.joined == 2  # no phantom worker is waited for


def test_a_worker_that_collected_something_else_aborts_the_rest():
    reports = []
    config = SimpleNamespace(hook=SimpleNamespace(pytest_collectreport=lambda report: reports.append(report)))
    a, b = SimWorker("gw0"), SimWorker("gw1")
    sched = BattScheduling(config, numnodes=2)
    sched.add_node(a)
    sched.add_node(b)
    sched.add_node_collection(a, ids(("a", 1, 1)))
    sched.schedule()
    sched.add_node_collection(b, ids(("b", 1, 1)))
    sched.schedule()
    assert len(reports) == 1 and reports[0].failed and reports[0].nodeid == "gw1"
    assert b.sends == [] and b.shutting_down
    assert a.sends == [[0]] and a.shutting_down  # sent before gw1 collected; the rest is not run
    assert sched.tests_finished


def test_it_is_xdist_scheduler_protocol():
    """Fails loudly when xdist changes what a scheduler must offer."""
    from xdist.scheduler.protocol import Scheduling

    wanted = {name for name in vars(Scheduling) if not name.startswith("_")}
    assert {"schedule", "add_node", "remove_node", "mark_test_complete", "tests_finished"} <= wanted
    assert all(hasattr(BattScheduling, name) for name in wanted), wanted - set(dir(BattScheduling))
    import xdist.workermanage

    # xdist's own count of workers, named parse_spec_config before 3.7: the plan counts the same.
    xdist_count = getattr(xdist.workermanage, "parse_tx_spec_config", None) or xdist.workermanage.parse_spec_config
    for tx in (["3*popen", "popen//python=python3"], ["popen"], ["2*ssh=host//chdir=x*y", "1*popen"]):  # -n 3 and one --tx, ...
        config = SimpleNamespace(getvalue=lambda name, tx=tx: {"tx": tx}[name])
        assert BattScheduling(config).expected == len(xdist_count(config)), tx
    assert count_workers(["3*popen", "popen//python=python3"]) == 4


# --- a heavy task, program libraries, cheap samples (issue 32) ---------------------------------

def arc_dsl_shape(heavy_at=65, tasks=100):
    """arc-dsl over ARC-AGI-1 in small: many tasks of four ~4 ms samples, one task of four samples
    that are most of the run's time (a64e4611: ~1.5 s each)."""
    col = ids(*[(f"t{i:03d}", 3, 1) for i in range(tasks)])
    durations = [1.5 if c.startswith(f"batt/t{heavy_at:03d}::") else 0.004 for c in col]
    return col, durations


def test_a_heavy_task_is_split_even_while_many_tasks_remain():
    col = ids(*[(f"t{i}", 1, 1) for i in range(6)], ("heavy", 3, 1))
    durations = [0.5] * 12 + [2.5] * 4
    seconds = dict(zip(col, durations))
    finish, sched, ran_by = simulate(col, durations, [SimWorker("gw0"), SimWorker("gw1")], seconds=seconds)
    assert {ran_by[c] for c in col if c.startswith("batt/heavy::")} == {"gw0", "gw1"}
    assert max(finish.values()) == sum(durations) / 2  # 8 s each; whole, the heavy task alone would take 10
    assert [i for i in sched.unit_of if sched.unit_of.count(i) == 2]  # the light tasks went whole


def test_a_task_within_its_share_stays_whole():
    col = ids(*[(f"t{i}", 1, 1) for i in range(6)], ("big", 3, 1))
    durations = [1.0] * 12 + [1.0] * 4  # 4 s of 16: less than a worker's 8
    _, _, ran_by = simulate(col, durations, [SimWorker("gw0"), SimWorker("gw1")], seconds=dict(zip(col, durations)))
    assert len({ran_by[c] for c in col if c.startswith("batt/big::")}) == 1


def test_units_cut_and_order():
    col = ids(("a", 1, 1), ("b", 2, 1), ("c", 1, 1))
    even = [1.0] * len(col)
    assert send_units(col, even, 2) == [[0, 1], [2, 3, 4], [5, 6]]
    # A library, first run: the samples go round the tasks.
    assert send_units(col, even, 2, split_all=True) == [[0], [2], [5], [1], [3], [6], [4]]
    # Known seconds: longest first; a heavy task (b: 6 of 9 s, more than 9 / 2) cut, its samples longest first.
    secs = [0.5, 0.5, 1.0, 1.0, 4.0, 1.0, 0.5]
    assert send_units(col, secs, 2, known=True) == [[4], [5, 6], [0, 1], [2], [3]]
    assert send_units(col, secs, 1, known=True) == [[2, 3, 4], [5, 6], [0, 1]]  # one worker: nothing is heavy


def test_a_library_first_run_spreads_the_heavy_task():
    """The issue's case without any seconds: whole tasks put the heavy one on one worker (about 6 s
    against 0.8); sample by sample, round the tasks, both workers share it."""
    col, durations = arc_dsl_shape()
    whole, _, _ = simulate(col, durations, [SimWorker("gw0"), SimWorker("gw1")])
    split, _, ran_by = simulate(col, durations, [SimWorker("gw0"), SimWorker("gw1")], split=True)
    assert max(whole.values()) >= 6.0
    assert max(split.values()) <= sum(durations) / 2 + 1.5 + 0.1  # at most one heavy sample over the ideal
    assert {ran_by[c] for c in col if c.startswith("batt/t065::")} == {"gw0", "gw1"}


def test_a_library_rerun_is_balanced():
    col, durations = arc_dsl_shape()
    finish, _, _ = simulate(col, durations, [SimWorker("gw0"), SimWorker("gw1")], seconds=dict(zip(col, durations)), split=True)
    assert max(finish.values()) <= sum(durations) / 2 + 0.05


def test_cheap_samples_are_sent_several_at_a_time_and_heavy_ones_alone():
    """A worker that holds nothing behind its running item waits a round trip to the controller
    before it can start it: cheap samples go several per send, up to HORIZON seconds ahead."""
    col, durations = arc_dsl_shape()
    workers = [SimWorker("gw0"), SimWorker("gw1")]
    simulate(col, durations, workers, seconds=dict(zip(col, durations)), split=True)
    sends = [chunk for w in workers for chunk in w.sends]
    heavy = {i for i, c in enumerate(col) if c.startswith("batt/t065::")}
    assert all(len(chunk) <= 2 for chunk in sends if heavy & set(chunk))  # at most the running item and the next
    assert max(len(chunk) for chunk in sends) > 2
    # What a send adds behind a worker's running item never adds up to much more than HORIZON.
    assert max(sum(durations[i] for i in chunk) for chunk in sends if not heavy & set(chunk)) <= HORIZON + 0.01


def test_without_seconds_a_batt_gets_cheap_samples_batched_once_it_has_seen_some():
    col = ids(*[(f"t{i}", 3, 1) for i in range(40)])
    durations = [0.002] * len(col)
    workers = [SimWorker("gw0"), SimWorker("gw1")]
    simulate(col, durations, workers, split=True)
    first = [w.sends[0] for w in workers]
    assert all(len(chunk) <= 2 for chunk in first)  # nothing known yet: a running item and the next
    assert max(len(chunk) for w in workers for chunk in w.sends) > 2  # then, seen cheap, several per send


def test_an_item_handed_back_goes_first():
    """xdist's crash hook may hand the crashed item back (mark_test_pending) to run it again."""
    col = ids(("a", 1, 1), ("b", 1, 1), ("c", 1, 1))
    w = SimWorker("gw0")
    sched = BattScheduling(config_for([w]), numnodes=1)
    sched.add_node(w)
    sched.add_node_collection(w, col)
    sched.schedule()
    assert w.sends == [[0, 1]]
    sched.mark_test_complete(w, 0, 1.0)
    assert w.sends[-1] == [2, 3]
    sched.mark_test_pending(col[0])
    sent = len(w.sends)
    while len(w.sends) == sent:
        sched.mark_test_complete(w, sched.node2pending[w][0], 1.0)
    assert w.sends[-1][0] == 0


def test_a_crashed_worker_s_items_go_back_as_they_were_sent():
    col = ids(("a", 2, 1), ("b", 2, 1))
    a, b = SimWorker("gw0"), SimWorker("gw1")
    sched = BattScheduling(config_for([a, b]), numnodes=2)
    for w in (a, b):
        sched.add_node(w)
        sched.add_node_collection(w, col)
    sched.schedule()
    assert a.sends == [[0, 1, 2]]
    assert sched.remove_node(a) == col[0]  # crashed in its first item
    assert list(sched.queue)[0] == [1, 2]  # the rest of its task, still one unit


def test_cheap_samples_leave_their_share_to_workers_still_starting():
    """Topping a worker up with cheap samples never takes more than its part of what is left: a
    worker that collects later (here after 20 ms, when half the work could be done) still gets its share."""
    col = ids(*[(f"t{i}", 1, 1) for i in range(8)])
    durations = [0.001] * len(col)
    workers = [SimWorker(f"gw{i}") for i in range(4)]
    _, _, ran_by = simulate(col, durations, workers, collects_at={"gw3": 0.004}, split=True)
    assert set(ran_by.values()) == {"gw0", "gw1", "gw2", "gw3"}


def test_a_batch_stops_where_the_tail_begins():
    """Two one-sample tasks, two workers, the second still starting: the first worker gets one task
    and a shutdown; the other task waits for the second worker (the tail's plan counts on it)."""
    col = ids(("a", 1, 0), ("b", 1, 0))
    first, second = SimWorker("gw0"), SimWorker("gw1")
    sched = BattScheduling(config_for([first, second]), numnodes=2)
    sched.add_node(first)
    sched.add_node(second)  # joined (xdist's "workerready"), not collected yet
    sched.add_node_collection(first, col)
    sched.schedule()
    assert first.sends == [[0]] and first.shutting_down
    sched.add_node_collection(second, col)
    sched.schedule()
    assert second.sends == [[1]]


def test_cheap_samples_take_one_send_for_many_finished_ones():
    """A worker holding cheap samples is topped up once half of HORIZON is left behind its running
    item, not at every finished sample: each send is a message each way through execnet."""
    col, durations = arc_dsl_shape()
    workers = [SimWorker("gw0"), SimWorker("gw1")]
    simulate(col, durations, workers, seconds=dict(zip(col, durations)), split=True)
    sends = [chunk for w in workers for chunk in w.sends]
    assert len(sends) < len(col) / 4  # 400 samples of ~4 ms: about one send per 6 (HORIZON / 2 of them)
