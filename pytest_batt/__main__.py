"""The command line: ``pytest-batt phase3 | compare | merge | submission | html | score ...``.

The ``pytest-batt`` console script and ``python -m pytest_batt`` run the same :func:`main`;
each passes the name it was called by, so usage and error lines show the command typed.

This module owns argument parsing, the printed lines and the exit codes of the commands:
0 done (compare: every gate holds), 1 a ``--fail`` gate breached, 2 interrupted (phase3
wrote what it finished), 4 usage errors, bad files, bad expressions and shards that do not
belong together, always as one ``error: ...`` line, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Dict, NoReturn, Optional, Sequence

import json

from . import compare as compare_mod
from . import merge as merge_mod
from . import battmodule, battrun, gates, options, outputs, phase3, report, results, visible
from . import submission as submission_mod
from .files import check_writable, write_atomic
from .nodeids import task_name
from .tasks import BattDataError, load_taskset, select

EXIT_OK, EXIT_GATE, EXIT_INTERRUPTED, EXIT_USAGE = 0, 1, 2, 4
PROG = "pytest-batt"  # the console script ([project.scripts] in pyproject.toml)
MODULE_PROG = "python -m pytest_batt"


class UsageError(Exception):
    """Anything the user can fix on the command line; main prints it as one line and exits 4."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting 2, so every usage error exits 4 with one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description="pytest-batt without pytest: the Phase 3 reference scorer, results comparison, "
                     "merging shards, their submission and HTML report, and ARC Prize scores.")
    sub = parser.add_subparsers(dest="command", metavar="{phase3,compare,merge,submission,html,score}", parser_class=_Parser)
    sub.required = True
    h = options.HELP
    p3 = sub.add_parser("phase3", help="score tasks with the plain sequential Phase 3 scorer and write a results file",
                        description="Score tasks with the plain, sequential Phase 3 reference scorer (one process, "
                        "the diff call repeated for every candidate, as Phase 3 does) and write a results file.")
    p3.add_argument("--batt", action="append", metavar="ID[,ID...]", required=True, help=h["batt"])
    p3.add_argument("--batt-data", metavar="NAME_OR_PATH", default=options.DEFAULT_DATA, help=h["batt_data"])
    p3.add_argument("--batt-module", metavar="MODULE_OR_PATH", default=options.DEFAULT_MODULE, help=h["batt_module"])
    p3.add_argument("--batt-timeout", metavar="SECONDS", type=options.positive_seconds, default=options.DEFAULT_TIMEOUT,
                    help=h["batt_timeout"])
    p3.add_argument("--json", metavar="PATH", required=True, help="write the results file (JSON, schema 1) to this path")
    cmp = sub.add_parser("compare", help="compare two results files; --fail gates decide the exit code",
                         description="Compare CURRENT against BASELINE. Exit 0 when every --fail gate holds, 1 when "
                         "one breached, 4 for usage errors. Gates: " + gates.GATE_FORMS + ".")
    cmp.add_argument("baseline", metavar="BASELINE", help="the results file to compare against")
    cmp.add_argument("current", metavar="CURRENT", help="the results file of the run to judge")
    cmp.add_argument("--fail", action="append", metavar="EXPR", default=[], help="fail (exit 1) when this gate breaches; repeatable")
    cmp.add_argument("--any-data", action="store_true", help="compare even when the two runs used different task data")
    mrg = sub.add_parser("merge", help="merge the results files of --batt-shard K/N runs into one",
                         description="Merge the results files of one run's shards (--batt-shard K/N) into the results "
                         "file a single run of all their tasks writes. Exit 0 when written, 4 when the files are not "
                         "the shards of one run (other batt, data, timeout or schema; a task in two shards; a missing shard).")
    mrg.add_argument("shards", metavar="SHARD.json", nargs="+", help="one results file per shard, in any order")
    mrg.add_argument("-o", "--output", metavar="PATH", required=True, help="write the merged results file here (.gz: gzipped)")
    mrg.add_argument("--partial", action="store_true", help="merge even when some shards are missing (the result is incomplete)")
    mrg.add_argument("--profile", metavar="DIR", action="append", default=[],
                     help="a shard's --batt-profile folder (repeatable): their files are combined into --profile-output")
    mrg.add_argument("--profile-output", metavar="DIR", help="with --profile: the folder for every sample's file and combined.pstats")
    sm = sub.add_parser("submission", help="the submission.json of a results file (e.g. merged shards)",
                        description="Write ARC Prize's submission.json from a results file's test samples' attempts, "
                        "as --batt-submission writes it: the one submission of a sharded run, after merge. Exit 0 "
                        "when written, 4 when the file is not usable or is incomplete (without --partial).")
    sm.add_argument("results", metavar="RESULTS", help="a results file (--batt-json, merge -o; .gz read too)")
    sm.add_argument("-o", "--output", metavar="PATH", required=True, help="write the submission here")
    sm.add_argument("--partial", action="store_true", help="write it even when test samples have no result ([[0]] for them)")
    ht = sub.add_parser("html", help="the HTML report of a results file (e.g. merged shards)",
                        description="Write the HTML report --batt-html writes, from a results file and the task data "
                        "it was run on (its grids come from there): one report for a sharded run, after merge. The "
                        "closest candidates of unsolved demo samples are not in results files, so not shown. Exit 0 "
                        "when written, 4 when a file is not usable or the data differs from the run's.")
    ht.add_argument("results", metavar="RESULTS", help="a results file (--batt-json, merge -o; .gz read too)")
    ht.add_argument("-o", "--output", metavar="PATH", required=True, help="write the page here")
    ht.add_argument("--batt-data", metavar="NAME_OR_PATH", default=None,
                    help="the task data of the run (default: the name the results file gives, from this directory)")
    sc = sub.add_parser("score", help="ARC Prize's score of a submission.json",
                        description="ARC Prize's score of a submission.json: a test input counts when either attempt equals "
                        "its output, a task scores the fraction of its test inputs counted, the score is the mean over tasks. "
                        "Exit 0, or 4 with one line when a file is malformed.")
    sc.add_argument("submission", metavar="SUBMISSION", help="a submission.json ({task_id: [{attempt_1, attempt_2}, ...]})")
    sc.add_argument("solutions", metavar="SOLUTIONS", help="a Kaggle *_solutions.json, or task data as --batt-data takes it "
                    "(arcagi1-evaluation, a directory of task files, ...)")
    sc.add_argument("--per-task", action="store_true", help="print every task's score")
    return parser


def _out(line: str = "") -> None:
    """Every line the commands print: ids and names from data and results files shown as data."""
    print(visible.text(line), flush=True)


def _task_line(tid: str, entry: Dict[str, Any]) -> str:
    samples = entry["samples"]
    solved = sum(s["status"] == "solved" for s in samples)
    extra = "".join(f"  {n} {status}" for status, n in report.problems(samples).items())
    yn: Callable[[object], str] = lambda v: "yes" if v else "no"  # noqa: E731
    return (f"{task_name(tid)}  samples solved {solved}/{len(samples)}  pass@2 {yn(entry['solved']['at_2'])}  "
            f"oracle {yn(entry['solved']['oracle'])}  {entry['seconds']:.2f}s{extra}")


def cmd_phase3(args: argparse.Namespace) -> int:
    base_dir = os.getcwd()
    try:
        check_writable(args.json, "--json")
        taskset = load_taskset(args.batt_data, base_dir, wanted=args.batt)
        task_ids = select(taskset, args.batt)
        batt = battmodule.load_batt(args.batt_module, base_dir)
    except (ValueError, battmodule.BattLoadError) as e:  # BattDataError is a ValueError
        raise UsageError(str(e)) from None
    _out(f"phase3: {len(task_ids)} task(s) from {taskset.name}; module {batt.spec}; timeout {args.batt_timeout:g}s per call")
    for line in report.import_lines(batt.import_seconds, batt.import_output):
        _out(line.replace("batt: ", "phase3: ", 1))
    res = phase3.run(task_ids, taskset, batt, args.batt_timeout, os.devnull, on_task=lambda tid, e: _out(_task_line(tid, e)))
    n = len(res["tasks"])
    _out(f"{report.totals_line(res['tasks'])}   wall {res['session']['wall_s']:.2f}s")
    results.write(args.json, res)
    _out(f"results written to {args.json}")
    if not res["session"]["complete"]:
        _out(f"interrupted: {n} of {len(task_ids)} task(s) finished")
        return EXIT_INTERRUPTED
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    try:
        fails = [gates.parse_gate(e) for e in args.fail]
        baseline = results.load(args.baseline)
        current = results.load(args.current)
        comp = compare_mod.compare(baseline, current, allow_other_data=args.any_data)
    except (gates.GateError, compare_mod.CompareError, results.ResultsError) as e:
        raise UsageError(str(e)) from None
    except (KeyError, TypeError, AttributeError) as e:  # schema 1 header, but a malformed body
        raise UsageError(f"a results file is malformed ({type(e).__name__}: {e})") from None
    for line in compare_mod.render(comp):
        _out(line)
    breached = gates.breaches(fails, comp)
    for line in report.gate_lines([g.expr for g in fails], breached):
        _out(line)
    return EXIT_GATE if breached else EXIT_OK


def cmd_merge(args: argparse.Namespace) -> int:
    if args.profile and not args.profile_output:  # before the shards are read: they can be large
        raise UsageError("--profile needs --profile-output DIR: where the combined profile goes")
    try:
        check_writable(args.output, "--output")
        files = [(path, results.load(path)) for path in args.shards]
        merged = merge_mod.merge(files, partial=args.partial)
    except (ValueError, KeyError, TypeError) as e:  # ResultsError and MergeError are ValueErrors
        raise UsageError(str(e) if isinstance(e, ValueError) else f"a results file is malformed ({type(e).__name__}: {e})") from None
    results.write(args.output, merged)
    _out(merge_mod.summary(merged))
    _out(f"results written to {args.output}")
    if args.profile:
        from .profiling import merge_dirs

        _out("where the batt's time went:")
        for line in merge_dirs(args.profile, args.profile_output):
            _out(line)
    return EXIT_OK


def cmd_submission(args: argparse.Namespace) -> int:
    try:
        check_writable(args.output, "--output")
        data = results.load(args.results)
        made = submission_mod.from_results(data, where=args.results)
    except (ValueError, KeyError, TypeError) as e:  # ResultsError and SubmissionError are ValueErrors
        raise UsageError(str(e) if isinstance(e, ValueError) else f"{args.results}: malformed ({type(e).__name__}: {e})") from None
    if made.not_run and not args.partial:
        raise UsageError(f"{args.results}: {len(made.not_run)} test input(s) have no result ({', '.join(made.not_run[:3])}"
                         f"{' ...' if len(made.not_run) > 3 else ''}): give --partial to write it with {submission_mod.FALLBACK} for them")
    if not data["session"].get("complete", True) and not args.partial:
        raise UsageError(f"{args.results}: an incomplete run (interrupted, or shards missing): its tasks may not all be "
                         "there; give --partial to write what it has")
    write_atomic(args.output, submission_mod.dumps(made.submission).encode())
    sub = made.submission
    _out(f"submission written to {args.output} ({len(sub)} tasks, {sum(len(v) for v in sub.values())} test inputs, "
         f"{made.no_candidate} with no candidate, {len(made.not_run)} without a result: fallback {submission_mod.FALLBACK})")
    return EXIT_OK


def cmd_html(args: argparse.Namespace) -> int:
    try:
        check_writable(args.output, "--output")
        data = results.load(args.results)
        spec = args.batt_data or data["data"]["name"]
        task_ids = list(data["tasks"])
        taskset = load_taskset(spec, os.getcwd(), allow_hidden=True, wanted=[",".join(task_ids)] if task_ids else None)
        for tid in task_ids:
            if tid not in taskset.raw:
                raise UsageError(f"--batt-data {spec}: has no task {tid} (give the data {args.results} was run on)")
            if data["tasks"][tid].get("sha256") not in (None, taskset.task_hash(tid)):
                raise UsageError(f"--batt-data {spec}: task {tid} has other content than when {args.results} was written")
        run = battrun.BattRun.from_results(data, taskset)
    except (ValueError, KeyError, TypeError) as e:  # ResultsError and BattDataError are ValueErrors
        raise UsageError(str(e) if isinstance(e, ValueError) else f"{args.results}: malformed ({type(e).__name__}: {e})") from None
    _out(outputs.write_html(args.output, run, data))
    return EXIT_OK


def _read_json(path: str, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such {what} file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot be read ({e})") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None


def _solutions(spec: str) -> Dict[str, Any]:
    """A Kaggle solutions file ({id: [output, ...]}), else any task data ``--batt-data`` accepts."""
    if spec.endswith(".json") and os.path.isfile(spec):
        data = _read_json(spec, "solutions")
        if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
            return submission_mod.check_solutions(data, spec)
    try:
        taskset = load_taskset(spec, os.getcwd())
        return submission_mod.solutions_of(taskset, taskset.ids())
    except BattDataError as e:
        raise UsageError(str(e).replace("--batt-data", "SOLUTIONS")) from None


def cmd_score(args: argparse.Namespace) -> int:
    try:
        sub = _read_json(args.submission, "submission")
        result = submission_mod.score(sub, _solutions(args.solutions), where=args.submission)
    except submission_mod.SubmissionError as e:
        raise UsageError(str(e)) from None
    if args.per_task:
        for tid, s in result.tasks.items():
            _out(f"{task_name(tid)}  {s:g}  ({round(s * result.inputs[tid])}/{result.inputs[tid]} test inputs)")
    n = len(result.tasks)
    partial = result.partial()
    _out(f"score: {result.total:.4f}  ({sum(result.tasks.values()):g} of {n} tasks; {result.full} fully solved)")
    if partial:
        _out(f"partial credit: {sum(partial.values()):g} from {len(partial)} tasks with several test inputs: "
             + ", ".join(f"{task_name(t)} {round(s * result.inputs[t])}/{result.inputs[t]}" for t, s in list(partial.items())[:10])
             + (" ..." if len(partial) > 10 else ""))
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None, prog: str = PROG) -> int:
    """Run one command; returns the exit code instead of raising for anything the user can fix.

    ``prog``: the command's name in usage and error lines (the console script's, by default).
    """
    try:
        args = build_parser(prog).parse_args(list(argv) if argv is not None else None)
        if args.command == "phase3":
            return cmd_phase3(args)
        if args.command == "merge":
            return cmd_merge(args)
        if args.command == "score":
            return cmd_score(args)
        if args.command == "submission":
            return cmd_submission(args)
        if args.command == "html":
            return cmd_html(args)
        return cmd_compare(args)
    except UsageError as e:
        print(f"error: {visible.line(e)}", file=sys.stderr, flush=True)  # one line, whatever a file holds
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except SystemExit as e:  # --help and --version exit 0 through argparse
        return int(e.code) if isinstance(e.code, int) else (EXIT_OK if e.code is None else EXIT_USAGE)


if __name__ == "__main__":
    sys.exit(main(prog=MODULE_PROG))
