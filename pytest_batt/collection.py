"""The plugin object both sides register with --batt: it adds the tasks to what is collected and
puts each sample's record on its report.

Workers and the controller both collect (xdist checks that they collected the same items), and a
report travels from a worker to the controller as ``report.__dict__``: the record goes on it as
one JSON string, and what the batt printed is cut to its tail and made visible text here, before
any reporter sees it.
"""

from __future__ import annotations

import re
from typing import Any, Generator, List

import pytest

from . import nodeids, visible, wire
from .spill import dumps
from .assembly import is_worker
from .items import BattSample, make_tasks
from .state import STATE

# pytest-timeout prints every other thread's stack on a timeout, between two "Timeout" banners;
# in a worker those are execnet's threads, noise beside the record's own message.
_TIMEOUT_DUMP = re.compile(r"^\++ Timeout \++$\n?|^~+ Stack of [^\n]* ~+\n(?:  [^\n]*\n?)*", re.MULTILINE)


class Collection:
    """Adds one collector per selected task to what the session collects (both sides)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Generator[None, Any, Any]:
        rep = yield
        if isinstance(collector, pytest.Session) and rep.passed:
            state = collector.config.stash[STATE]
            rep.result = list(rep.result) + make_tasks(collector, state.task_ids)
        return rep

    def pytest_collection_modifyitems(self, config: pytest.Config, items: List[pytest.Item]) -> None:
        """With --batt-resume: the samples the file already records do not run again."""
        skip = config.stash[STATE].skip
        if skip:
            taken = [item for item in items if item.nodeid in skip]
            if taken:
                config.hook.pytest_deselected(items=taken)
                items[:] = [item for item in items if item.nodeid not in skip]

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        rep = yield
        if isinstance(item, BattSample) and rep.when == "call" and item.record is not None:
            # xdist sends report.__dict__ through execnet, whose serializer walks every object of
            # the record in Python (~1.5 CPU s per worker on 44 tasks); one JSON string it copies.
            rep.batt_record = dumps(item.record) if is_worker(item.config) else item.record
            if item.record["status"] == "timeout":
                rep.sections = [(title, _TIMEOUT_DUMP.sub("", text)) for title, text in rep.sections]
                rep.sections = [(title, text) for title, text in rep.sections if text.strip()]
            item.record = None  # the report carries it on; items live as long as the session
        if isinstance(item, BattSample):
            rep.sections = [(title, visible.text(_tail(text))) for title, text in rep.sections]  # what the batt printed
        return rep


    @pytest.hookimpl(wrapper=True)
    def pytest_report_to_serializable(self, config: pytest.Config, report: Any) -> Generator[None, Any, Any]:
        """A worker's report of a batt item goes to the controller as one JSON string (``wire``)."""
        data = yield
        if isinstance(data, dict) and is_worker(config) and isinstance(report, pytest.TestReport) \
                and report.nodeid.startswith(nodeids.PREFIX):
            return wire.pack(data) or data
        return data

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_from_serializable(self, config: pytest.Config, data: Any) -> Any:
        """The controller's side: unpacked, then made a report by pytest's own hook as any other."""
        report = wire.unpack(data)
        return None if report is None else config.hook.pytest_report_from_serializable(config=config, data=report)


MAX_SECTION = 20_000


def _tail(text: str) -> str:
    """A batt that prints megabytes must not make every report (and the controller) that big."""
    if len(text) <= MAX_SECTION:
        return text
    return f"[{len(text) - MAX_SECTION} characters cut]\n" + text[-MAX_SECTION:]
