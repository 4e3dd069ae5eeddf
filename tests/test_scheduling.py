"""The scheduler with fake workers (no processes): whole tasks while there are enough, split when not.

These drive xdist's own ``LoadScheduling`` machinery (``schedule``, ``mark_test_complete``) through
our subclass, so they also fail loudly when xdist changes the attributes it relies on.
"""

from types import SimpleNamespace

from pytest_batt.scheduling import CrashTolerantLoadScheduling, chunk_end, fewer_tasks_than, order_test_samples_first


class FakeNode:
    def __init__(self, name, dead=False):
        self.name, self.dead = name, dead
        self.gateway = SimpleNamespace(id=name)
        self.shutting_down = False
        self.sent = []  # each send, as a list of indices

    def send_runtest_some(self, indices):
        if self.dead:
            raise OSError("cannot send (already closed?)")
        self.sent.append(list(indices))

    def shutdown(self):
        self.shutting_down = True

    def __repr__(self):
        return self.name


def ids(*tasks):
    """Node ids of tasks given as (name, demos, tests)."""
    return [f"batt/{t}::{kind}[{i}]" for t, d, n in tasks for kind, count in (("demo", d), ("test", n)) for i in range(count)]


def scheduler(collection, nodes):
    config = SimpleNamespace(getvalue=lambda name: [f"{len(nodes)}*popen"], getoption=lambda name: None)
    sched = CrashTolerantLoadScheduling(config)
    for node in nodes:
        sched.add_node(node)
        sched.add_node_collection(node, collection)
    sched.schedule()
    return sched


def run_all(sched, nodes, collection):
    """Workers finish their items in order, in turns; returns which node ran each node id."""
    ran = {}
    while sched.has_pending:
        for node in nodes:
            if sched.node2pending.get(node):
                index = sched.node2pending[node][0]
                ran[collection[index]] = node.name
                sched.mark_test_complete(node, index)
    return ran


def test_helpers():
    col = ids(("a", 2, 1), ("b", 1, 1))
    assert chunk_end(col, 1) == 3 and chunk_end(col, 3) == 3 and chunk_end(col, 4) == 5
    assert fewer_tasks_than(col, 3) and not fewer_tasks_than(col, 2)
    assert [col[i] for i in order_test_samples_first(col)] == [
        "batt/a::test[0]", "batt/a::demo[0]", "batt/a::demo[1]", "batt/b::test[0]", "batt/b::demo[0]"]


def test_enough_tasks_go_whole_to_one_worker_each():
    col = ids(*[(f"t{i}", 3, 1) for i in range(8)])
    nodes = [FakeNode("gw0"), FakeNode("gw1")]
    sched = scheduler(col, nodes)
    ran = run_all(sched, nodes, col)
    assert sorted(ran) == sorted(col)
    # Every task but the last (split at the tail, where fewer tasks than workers are left) ran on one worker.
    whole = [t for t in {c.split("::")[0] for c in col} if len({w for c, w in ran.items() if c.startswith(t + "::")}) == 1]
    assert len(whole) >= 7
    assert set(ran.values()) == {"gw0", "gw1"}


def test_one_task_is_split_test_sample_first():
    col = ids(("007bbfb7", 5, 1))
    nodes = [FakeNode("gw0"), FakeNode("gw1")]
    sched = scheduler(col, nodes)
    first_sends = [n.sent[0] for n in nodes]
    assert [col[i] for i in first_sends[0]][0] == "batt/007bbfb7::test[0]"
    ran = run_all(sched, nodes, col)
    assert sorted(ran) == sorted(col)
    assert set(ran.values()) == {"gw0", "gw1"}  # both workers take part of the one task


def test_two_tasks_on_two_busy_workers_stay_on_one_worker_each():
    col = ids(("a", 4, 1), ("b", 4, 1))
    nodes = [FakeNode("gw0"), FakeNode("gw1")]
    sched = scheduler(col, nodes)
    assert [col[i] for i in nodes[0].sent[0]] == col[:5]  # whole: another task is left for gw1
    ran = run_all(sched, nodes, col)
    # b, the last task, is fed in small chunks, but gw0 is busy with a all along: b never moves.
    assert {w for c, w in ran.items() if c.startswith("batt/a::")} == {"gw0"}
    assert {w for c, w in ran.items() if c.startswith("batt/b::")} == {"gw1"}


def test_a_send_to_a_dead_worker_leaves_the_items_pending():
    col = ids(("a", 2, 1), ("b", 2, 1), ("c", 2, 1))
    nodes = [FakeNode("gw0", dead=True), FakeNode("gw1")]
    sched = scheduler(col, nodes)
    assert nodes[0].sent == [] and sched.node2pending[nodes[0]] == []
    sent = [i for chunk in nodes[1].sent for i in chunk]
    assert sorted(sent + sched.pending) == list(range(len(col)))  # nothing lost, nothing sent twice
