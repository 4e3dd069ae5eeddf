"""The pytest11 entry point: options, configuration and thin hooks that call into plain modules.

Without ``--batt`` every hook here returns at once: a run that does not ask for the plugin
is not changed by it, and does not pay for it either: every test run of an environment that
has pytest-batt installed imports this module, so it imports only the light ``options`` at the
top. The modules that run a batt (tasks, runner, results, and numpy
behind them) are imported where they are used, which is only with ``--batt``
(``tests/test_plugin.py`` checks what an idle import loads).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from typing import Any, Generator, List

import pytest

from . import options

# When this pytest run began (time.monotonic()), set with --batt only.
RUN_STARTED = pytest.StashKey[float]()
# Set to 1 for xdist workers (unless the user set them): one worker per core already, so BLAS
# or OpenMP threads inside each would oversubscribe the cores. benchmarks/ sets the same.
BLAS_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("batt", "ARC batt runs (pytest-batt)")
    h = options.HELP
    group.addoption("--batt", action="append", metavar="ID[,ID...]", dest="batt", default=None, help=h["batt"])
    group.addoption("--batt-data", metavar="NAME_OR_PATH", dest="batt_data", default=None, help=h["batt_data"])
    group.addoption("--batt-module", metavar="MODULE_OR_PATH", dest="batt_module", default=None, help=h["batt_module"])
    group.addoption("--batt-timeout", metavar="SECONDS", dest="batt_timeout", default=None, type=options.positive_seconds,
                    help=h["batt_timeout"])
    group.addoption("--batt-grace", metavar="SECONDS", dest="batt_grace", default=None, type=options.nonnegative_seconds,
                    help=h["batt_grace"])
    group.addoption("--batt-json", metavar="PATH", dest="batt_json", default=None, help=h["batt_json"])
    group.addoption("--batt-max-memory", metavar="MB", dest="batt_max_memory", default=None, type=options.megabytes_or_off,
                    help=h["batt_max_memory"])
    group.addoption("--batt-save", metavar="PATH", dest="batt_save", default=None, help=h["batt_save"])
    group.addoption("--batt-compare", metavar="PATH", dest="batt_compare", default=None, help=h["batt_compare"])
    group.addoption("--batt-compare-fail", metavar="EXPR", dest="batt_compare_fail", action="append", default=None, type=_gate_type,
                    help=h["batt_compare_fail"].replace("%", "%%"))  # argparse formats help with %
    group.addoption("--batt-compare-any", dest="batt_compare_any", action="store_true", default=None, help=h["batt_compare_any"])
    group.addoption("--batt-resume", metavar="PATH", dest="batt_resume", default=None, help=h["batt_resume"])
    group.addoption("--batt-resume-retry", dest="batt_resume_retry", action="store_true", default=None, help=h["batt_resume_retry"])
    group.addoption("--batt-checkpoint", metavar="MINUTES", dest="batt_checkpoint", default=None, type=options.positive_minutes,
                    help=h["batt_checkpoint"])
    group.addoption("--batt-progress", metavar="MINUTES", dest="batt_progress", default=None, type=options.nonnegative_minutes,
                    help=h["batt_progress"])
    group.addoption("--batt-shard", metavar="K/N", dest="batt_shard", default=None, type=options.shard_spec, help=h["batt_shard"])
    group.addoption("--batt-durations", metavar="PATH", dest="batt_durations", default=None, help=h["batt_durations"])
    group.addoption("--batt-html", metavar="PATH", dest="batt_html", default=None, help=h["batt_html"])
    group.addoption("--batt-submission", metavar="PATH", dest="batt_submission", default=None, help=h["batt_submission"])
    group.addoption("--batt-programs", metavar="PATH", dest="batt_programs", default=None, help=h["batt_programs"])
    group.addoption("--batt-entry", metavar="NAMES", dest="batt_entry", default=None, type=options.entry_names, help=h["batt_entry"])
    group.addoption("--batt-programs-map", metavar="FILE", dest="batt_programs_map", default=None, help=h["batt_programs_map"])
    group.addoption("--batt-grid-form", metavar="FORM", dest="batt_grid_form", default=None, type=options.grid_form,
                    help=h["batt_grid_form"])
    group.addoption("--batt-program-timeout", metavar="SECONDS", dest="batt_program_timeout", default=None,
                    type=options.positive_seconds, help=h["batt_program_timeout"])
    group.addoption("--batt-profile", metavar="DIR", dest="batt_profile", default=None, help=h["batt_profile"])
    group.addoption("--batt-gpus", metavar="auto|none|LIST", dest="batt_gpus", default=None, type=options.gpus_choice,
                    help=h["batt_gpus"])
    group.addoption("--batt-keep-partial", dest="batt_keep_partial", action="store_true", default=None, help=h["batt_keep_partial"])
    group.addoption("--batt-sandbox", dest="batt_sandbox", action="store_true", default=None, help=h["batt_sandbox"])
    group.addoption("--batt-sandbox-allow", metavar="PATH", dest="batt_sandbox_allow", action="append", default=None,
                    help=h["batt_sandbox_allow"])
    for name in ("batt_data", "batt_module", "batt_timeout", "batt_grace", "batt_json", "batt_max_memory", "batt_save", "batt_compare",
                 "batt_resume", "batt_checkpoint", "batt_progress", "batt_shard", "batt_durations", "batt_html", "batt_submission",
                 "batt_programs", "batt_entry", "batt_programs_map", "batt_grid_form", "batt_program_timeout"):
        parser.addini(name, h[name])
    parser.addini("batt_compare_fail", h["batt_compare_fail"], type="linelist")
    parser.addini("batt_compare_any", h["batt_compare_any"], type="bool", default=False)
    parser.addini("batt_resume_retry", h["batt_resume_retry"], type="bool", default=False)
    parser.addini("batt_profile", h["batt_profile"])
    parser.addini("batt_keep_partial", h["batt_keep_partial"], type="bool", default=False)
    parser.addini("batt_sandbox", h["batt_sandbox"], type="bool", default=False)
    parser.addini("batt_sandbox_allow", h["batt_sandbox_allow"], type="linelist")
    parser.addini("batt_gpus", h["batt_gpus"])


def _gate_type(value: str) -> str:
    """argparse type: a bad gate expression is a usage error before anything runs."""
    from . import gates

    try:
        gates.parse_gate(value)
    except gates.GateError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: List[str]) -> None:
    """Undo pytest taking ``--batt-module PATH``'s value for a test path (see ``rootdir``)."""
    if getattr(early_config.known_args_namespace, "batt", None):
        from . import rootdir

        rootdir.reroot(early_config, parser, args)


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Generator[None, Any, Any]:
    """With --batt and no -n, distribute: a crash or hard stop then ends a worker, not the session.

    Unless the last run of the same command says workers would not pay for their start-up: then
    the run stays in this process (``mode``), and the header says why. --batt-sandbox always needs
    workers (its check refuses -n 0): a run with it keeps them here, as one with --batt-gpus does."""
    if not config.getoption("batt", None):
        return (yield)
    config.stash[RUN_STARTED] = time.monotonic()  # the run's own start, for a process that ran before it (a notebook)
    from .assembly import is_worker

    if (
        not is_worker(config)
        and config.pluginmanager.hasplugin("xdist")
        and config.getoption("numprocesses", None) is None
        and not config.getoption("collectonly", False)
        and not config.getoption("usepdb", False)
    ):
        if not config.getoption("tx", None):  # with --tx the user chose the workers (-n would replace them)
            from . import mode

            reason = mode.choose(config)
            if reason is not None:
                config.stash[mode.IN_PROCESS] = reason
                config.option.dist = "no"  # a --dist without -n or --tx starts no workers either
                return (yield)
            config.option.numprocesses = "auto"
        if config.getoption("dist", "no") == "no":
            config.option.dist = "load"
    return (yield)


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("batt", None):
        return
    config.addinivalue_line("markers", "batt: an ARC sample run by pytest-batt")
    if not config.pluginmanager.hasplugin("timeout"):
        raise pytest.UsageError("--batt needs pytest-timeout, which is disabled (-p no:timeout)")
    from .assembly import is_worker
    from .collection import Collection
    from .isolation import capabilities, processes
    from .state import STATE

    unsupported = capabilities.unsupported_system()
    if unsupported:
        raise pytest.UsageError(unsupported)

    state, batt = _assemble(config)
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = []  # --batt without paths: collect the batt items only
    config.stash[STATE] = state
    config.pluginmanager.register(Collection(), "batt-collection")
    if (is_worker(config) or config.getoption("dist", "no") == "no") and not config.getoption("collectonly", False):
        processes.make_subreaper()  # so that what a batt leaves running can be found and ended
        processes.track_forks()  # where the process list or the subreaper misses some (macOS, no /proc)
    if is_worker(config):
        _start_worker(config, state)
    elif not config.getoption("collectonly", False):
        _start_controller(config, state, batt)


def _assemble(config: pytest.Config) -> Any:
    """This process's State (and, on the controller, the batt it imported): bad input is one line."""
    from . import assembly, battmodule, visible

    try:
        return assembly.prepare(config)
    except (ValueError, battmodule.BattLoadError) as e:  # BattDataError, ResultsError, GateError, CompareError, ResumeError too
        # A worker's error reaches the controller as a remote traceback; the mark lets it say one line.
        where = f"{assembly.WORKER_FAILED}in {config.invocation_params.dir}: " if assembly.is_worker(config) else ""
        raise pytest.UsageError(visible.text(where + str(e))) from None


def _start_worker(config: pytest.Config, state: Any) -> None:
    from . import assembly, battmodule, visible

    if state.settings.sandbox:  # never run the batt outside the sandbox asked for
        from .isolation import sandbox

        problem = sandbox.check_inside(state.settings.sandbox_token)
        if problem:
            raise pytest.UsageError(visible.text(f"{assembly.WORKER_FAILED}{problem}"))
    try:  # now, not at the first sample: the import is the batt's own, not a sample's
        state.batt()
    except battmodule.BattLoadError as e:
        # The controller imported it: this worker's side (another directory or host) differs.
        raise pytest.UsageError(visible.text(f"{assembly.WORKER_FAILED}in {config.invocation_params.dir}: {e}")) from None
    # What a worker holds now (pytest, xdist, the batt module and what it imported) lives until
    # the worker exits: leave it out of every later collection, pytest's own at exit included
    # (measured: ~0.15 CPU s less per worker on a one-task run).
    gc.freeze()


def _start_controller(config: pytest.Config, state: Any, batt: Any) -> None:
    from . import assembly
    from .controller import devices
    from .controller.session import Controller

    assembly.check_tx(config)
    gpu_lines = devices.give_gpus(config, state)  # before xdist reads the worker specs (its sessionstart)
    if config.getoption("dist", "no") != "no":
        # One worker per core already: BLAS threads inside each would oversubscribe the cores.
        for var in BLAS_THREAD_VARIABLES:
            os.environ.setdefault(var, "1")
    controller = Controller(config, state, batt)
    if state.settings.sandbox:  # after the environment above: the workers' is set in their specs
        from .controller import sandboxing

        sandboxing.start(config, state, batt, controller.selection_file())
    controller.header_notes += gpu_lines
    if tuple(config.invocation_params.args) != tuple(sys.argv[1:]):
        # pytest.main(args) in a process with its own program (a notebook's kernel, a script): its age is not the run's
        controller.run_started = config.stash.get(RUN_STARTED, None)
    config.pluginmanager.register(controller, "batt-controller")
    if config.pluginmanager.hasplugin("xdist"):
        from .controller.xdist_hooks import XdistHooks

        config.pluginmanager.register(XdistHooks(controller), "batt-xdist")
