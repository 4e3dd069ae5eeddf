"""Hostile round three: what the plugin prints and reads back.

Nothing a batt or a data file says can take over an output (terminal, junit XML, the HTML
report, the CLI), and nothing handed back (a results file) can exhaust memory. The payload
retitles a terminal window and clears the screen when written raw; colour codes pytest and
pytest-batt emit themselves are fine, so the checks look for the payload's own sequences.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from sandboxes import needs_sandbox

PAYLOAD = "\x1b]0;PWNED\x07\x1b[2J"
RAW = ("\x1b]0;", "\x1b[2J", "\x07")  # the payload's sequences, and BEL: never in any output
EVIL = "evil" + PAYLOAD  # a solver id

BATT = r'''
PAYLOAD = "\x1b]0;PWNED\x07\x1b[2J"
import logging
import os
import warnings

print("imported " + PAYLOAD)


def batt(task_id, S, I, C, log_path):
    if not os.environ.get("HOSTILE_QUIET"):  # phase3 does not capture: what the batt writes there is its own
        print("called " + PAYLOAD)
        warnings.warn("warned " + PAYLOAD)
        logging.getLogger("hostile").warning("logged " + PAYLOAD)
    if task_id.startswith("raise"):
        raise ValueError("boom " + PAYLOAD + " <!-- <script> </script>")
    o = [(1, 0, "evil" + PAYLOAD, ((9,),)), (2, 0, "next" + PAYLOAD, ((8,),))]
    s = [] if C is None else [(1, "None", "d" + PAYLOAD, (1,)), (2, "evil" + PAYLOAD, "d" + PAYLOAD, (0,))]
    return o, s
'''

ESC_ID = "t\x1b[2Jx\x07"  # a Kaggle key with ESC and BEL in it
RAISE_ID = "raise\x1b]0;T\x07"
BIDI = "bidi\u202eé"
IDS = ["plain", ESC_ID, RAISE_ID, BIDI]
# As node ids show them: pytest's escaping, and brackets as \x5b / \x5d (a node id's one bracket is its sample's)
SHOWN = {"plain": "plain", ESC_ID: "t\\x1b\\x5b2Jx\\x07", RAISE_ID: "raise\\x1b\\x5d0;T\\x07", BIDI: "bidi\\u202e\\xe9"}


def no_payload(text: str, where: str) -> None:
    for seq in RAW:
        assert seq not in text, f"{where}: raw {seq!r} at ...{text[max(0, text.find(seq) - 80):text.find(seq) + 20]!r}"


@pytest.fixture
def project(batt_project):
    # demo[0] is solved (by the evil solver), demo[1] and test[0] are not: failures show the ids
    demo = [{"input": [[1]], "output": [[9]]}, {"input": [[2]], "output": [[5]]}]
    data = batt_project.kaggle({t: {"train": demo, "test": [{"input": [[3]]}]} for t in IDS}, {t: [[[7]]] for t in IDS})
    batt_project.makepyfile(hostile3=BATT)
    batt_project.args = ["--batt", "all", "--batt-data", data, "--batt-module", "hostile3.py"]
    return batt_project


def run(project, *args):
    return project.runbatt(*args, timeout=120)


@pytest.mark.parametrize("mode, color", [("0", "no"), ("0", "yes"), ("2", "no"), ("2", "yes"),
                                         pytest.param("2-sandboxed", "no", marks=needs_sandbox)])
def test_nothing_a_batt_or_the_data_says_reaches_an_output_raw(project, mode, color):
    workers = ["-n", "2", "--batt-sandbox"] if mode == "2-sandboxed" else ["-n", mode]
    result = run(project, *workers, f"--color={color}", "-v", "-rA", "--junitxml", "j.xml", "--batt-json", "r.json",
                 "--batt-html", "r.html", "--batt-submission", "s.json")
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED and "INTERNALERROR" not in out
    no_payload(out, "terminal")
    if color == "yes":
        assert "\x1b[" in out  # pytest's own colours are still there
    # every place outside text meets the terminal, shown escaped
    for shown in ("imported \\x1b]0;PWNED\\x07\\x1b[2J",  # the header: the batt's import output
                  "closest: evil\\x1b]0;PWNED\\x07\\x1b[2J",  # the closest: line and the picture's title
                  "next: next\\x1b]0;PWNED\\x07\\x1b[2J",  # -v: the next-closest candidate
                  "error: solve call raised ValueError: boom \\x1b]0;PWNED\\x07\\x1b[2J <!-- <script>",  # the error: line
                  "called \\x1b]0;PWNED\\x07\\x1b[2J",  # captured output
                  "logged \\x1b]0;PWNED\\x07\\x1b[2J",  # captured log
                  "UserWarning: warned \\x1b]0;PWNED\\x07\\x1b[2J",  # the warnings summary
                  "batt/t\\x1b\\x5b2Jx\\x07::demo[0]", "batt/raise\\x1b\\x5d0;T\\x07::test[0]",  # node ids (progress, FAILED)
                  "t\\x1b\\x5b2Jx\\x07::demo[0] _"):  # a failure's header
        assert shown in out, shown
    summary = out[out.index("batt summary"):]
    assert "evil\\x1b]0;PWNED\\x07\\x1b[2J (1)" in summary and "bidi\\u202e\\xe9" in summary  # best solvers, task column
    # junit: well-formed, class names from the escaped ids
    root = ET.parse(project.path / "j.xml").getroot()
    classes = {case.get("classname") for case in root.iter("testcase")}
    assert classes == {f"batt.{SHOWN[t]}" for t in IDS}
    no_payload((project.path / "j.xml").read_text(), "junit")
    # the results file keeps every string exactly
    data = project.results()
    assert sorted(data["tasks"]) == sorted(IDS)
    assert data["tasks"][ESC_ID]["o_score"][EVIL] == 1
    assert PAYLOAD in data["tasks"][RAISE_ID]["samples"][0]["error"]
    assert sorted(json.loads((project.path / "s.json").read_text())) == sorted(IDS)
    # the HTML report: no control character, the message cannot open a script element
    page = (project.path / "r.html").read_text()
    assert "\x1b" not in page and "\x07" not in page
    assert "<!-- <script>" not in page and page.count("<script") == 2
    details = project.report_data()
    assert set(details) == {SHOWN[t] for t in IDS}
    err = details[SHOWN[RAISE_ID]]["samples"][0]["err"]
    assert err.startswith("solve call raised ValueError: boom \\x1b]0;PWNED\\x07\\x1b[2J <!-- <script> </script>")


def test_escaped_ids_work_with_k_deselect_and_lf(project):
    shown = SHOWN[ESC_ID]
    result = run(project, "-n", "0", "-k", "t\\x1b and not raise", "--batt-json", "k.json")
    result.assert_outcomes(failed=2, passed=1)
    assert list(project.results("k.json")["tasks"]) == [ESC_ID]
    result = run(project, "-n", "0", "--deselect", f"batt/{shown}::test[0]", "--deselect", f"batt/{SHOWN[RAISE_ID]}",
                 "--deselect", "batt/plain", "--deselect", f"batt/{SHOWN[BIDI]}", "--batt-json", "d.json")
    result.assert_outcomes(passed=1, failed=1)
    assert project.results("d.json").statuses(ESC_ID) == ["solved", "unsolved"]
    run(project, "-n", "0")  # every task: demo[1] and test[0] fail, and raise's 3 samples (pytest's cache says which)
    result = run(project, "-n", "2", "--lf", "--batt-json", "lf.json")
    result.assert_outcomes(failed=3 * 2 + 3)  # and nothing else: the workers' --lf found the escaped ids
    lf = project.results("lf.json")
    assert lf.statuses(RAISE_ID) == ["error", "error", "error"]
    assert [(s["kind"], s["index"]) for s in lf.samples(ESC_ID)] == [("demo", 1), ("test", 0)]


def test_resume_baselines_and_gates_name_samples_by_the_escaped_ids(project):
    run(project, "-n", "0", "--batt-json", "base.json", "--deselect", f"batt/{SHOWN[ESC_ID]}::test[0]")
    base = project.results("base.json")
    # Make the baseline better than this batt, so that gates breach and name the hostile ids
    base["tasks"][ESC_ID]["samples"][1]["status"] = "solved"
    base["tasks"]["plain"]["o_score"][EVIL] = 5
    base["tasks"][BIDI]["solved"]["oracle"] = True
    base["tasks"][RAISE_ID]["samples"][1]["status"] = "odd" + PAYLOAD  # a results file is input too
    (project.path / "base.json").write_text(json.dumps(base))
    result = run(project, "-n", "2", "--batt-resume", "base.json", "--batt-json", "res.json", "--color=yes", "-v")
    out = result.stdout.str()
    no_payload(out, "resumed run")
    assert "1 odd\\x1b]0;PWNED\\x07\\x1b[2J" in out  # the summary's problems column
    # the task with a deselected sample was finished (no per-sample data kept): it runs again whole
    assert "9 sample(s) taken from the file, 3 to run now (1 partial task(s)" in out
    result.assert_outcomes(passed=1, failed=2)
    result = run(project, "-n", "0", "--batt-compare", "base.json", "--batt-compare-fail", "solved", "--batt-compare-fail", "score",
                 "--batt-compare-fail", "oracle", "--batt-html", "c.html", "--batt-json", "cur.json", "-rA")
    out = result.stdout.str()
    no_payload(out, "comparison")
    assert f"batt/{SHOWN[ESC_ID]}::demo[1]  solved -> unsolved" in out
    assert "o_score(s) dropped: plain evil\\x1b]0;PWNED\\x07\\x1b[2J 5 -> 1" in out
    assert f"oracle dropped 1 -> 0 (lost: {SHOWN[BIDI]})" in out
    assert f"batt/{SHOWN[BIDI]}  pass@2 no -> no, oracle yes -> no" in out
    assert "unsolved in baseline (odd\\x1b]0;PWNED\\x07\\x1b[2J)" in out  # the XFAIL reason
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    page = (project.path / "c.html").read_text()
    assert f'data-id="{SHOWN[ESC_ID]}" data-status="unsolved" data-solved="0" data-time' in page
    assert 'data-reg="1"' in page  # the regressed task is found by its node id
    cli = project.run(sys.executable, "-m", "pytest_batt", "compare", "base.json", "cur.json", "--fail", "score", "--fail", "oracle")
    no_payload(cli.stdout.str() + cli.stderr.str(), "compare command")
    assert cli.ret == 1 and "plain evil\\x1b]0;PWNED\\x07\\x1b[2J 5 -> 1" in cli.stdout.str()


def test_the_commands_show_ids_and_messages_as_data(project, monkeypatch):
    run(project, "-n", "0", "--batt-json", "r.json", "--batt-submission", "s.json")
    outs = []
    for args in (["html", "r.json", "-o", "r.html", "--batt-data", "h_challenges.json"],
                 ["submission", "r.json", "-o", "s2.json"],
                 ["score", "s.json", "h_solutions.json", "--per-task"]):
        res = project.run(sys.executable, "-m", "pytest_batt", *args)
        assert res.ret == 0, (args, res.stderr.str())
        outs.append(res.stdout.str() + res.stderr.str())
    monkeypatch.setenv("HOSTILE_QUIET", "1")
    res = project.run(sys.executable, "-m", "pytest_batt", "phase3", "--batt", "all", "--batt-data", "h_challenges.json",
                      "--batt-module", "hostile3.py", "--json", "p.json")
    outs.append(res.stdout.str() + res.stderr.str())
    res = project.run(sys.executable, "-m", "pytest_batt", "compare", "p.json", "r.json")
    assert res.ret == 0, res.stderr.str()
    outs.append(res.stdout.str() + res.stderr.str())
    text = "\n".join(outs)
    no_payload(text, "commands")
    assert "t\\x1b\\x5b2Jx\\x07  0  (0/1 test inputs)" in text  # score --per-task
    assert "raise\\x1b\\x5d0;T\\x07  samples solved 0/3" in text  # phase3's task line
    # errors naming a hostile id: one line, shown as data
    other = json.loads((project.path / "h_challenges.json").read_text())
    del other[ESC_ID]
    (project.path / "o_challenges.json").write_text(json.dumps(other))
    (project.path / "o_solutions.json").write_text((project.path / "h_solutions.json").read_text())
    res = project.run(sys.executable, "-m", "pytest_batt", "html", "r.json", "-o", "x.html", "--batt-data", "o_challenges.json")
    assert res.ret == 4
    err = res.stderr.str()
    no_payload(err, "html error")
    assert len(res.stderr.lines) == 1 and "has no task t\\x1b[2Jx\\x07" in err


def test_a_hostile_unknown_task_id_is_a_one_line_usage_error(project):
    result = project.runbatt_inprocess("-n", "0", "--batt", "zz" + PAYLOAD)  # a usage error: in this process
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    no_payload(result.stdout.str() + result.stderr.str(), "usage error")
    assert "zz\\x1b]0;PWNED\\x07\\x1b[2J" in result.stderr.str()


# --- decompression bombs: every reader of a results file ------------------------------------

def make_bomb(path, mib: int) -> None:
    """A gzip results file that expands to ``mib`` MiB: one member of 64 MiB of zeros compressed
    once and repeated (gzip readers read concatenated members), so the test writes a few MB."""
    unit = 64 if mib >= 64 else mib
    with open(path, "wb") as f:
        f.write(gzip.compress(b'{"schema":1,"pad":"', mtime=0))
        member = gzip.compress(b"0" * (unit << 20), compresslevel=9, mtime=0)
        for _ in range(mib // unit):
            f.write(member)
        f.write(gzip.compress(b'"}', mtime=0))


READERS = [
    ["pytest", "--batt-compare", "BOMB"],
    ["pytest", "--batt-resume", "BOMB"],
    ["pytest", "--batt-durations", "BOMB"],
    ["cli", "compare", "BOMB", "GOOD"],
    ["cli", "compare", "GOOD", "BOMB"],
    ["cli", "merge", "BOMB", "-o", "m.json"],
    ["cli", "submission", "BOMB", "-o", "s.json"],
    ["cli", "html", "BOMB", "-o", "h.html", "--batt-data", "h_challenges.json"],
]


def measured(cwd, argv, env):
    """Run ``argv`` under a small parent that reports its wall time, and the CPU seconds and peak
    RSS (MiB) of its whole process tree."""
    probe = ("import resource, subprocess, sys, time; t = time.monotonic(); "
             "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
             "print(repr((r.returncode, r.stdout, r.stderr, time.monotonic() - t, u.ru_maxrss / 1024, u.ru_utime + u.ru_stime)))")
    out = subprocess.run([sys.executable, "-c", probe, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    return eval(out.stdout)


def argv_of(reader, bomb, good):
    args = [bomb if a == "BOMB" else good if a == "GOOD" else a for a in reader[1:]]
    if reader[0] == "cli":
        return [sys.executable, "-m", "pytest_batt", *args]
    return [sys.executable, "-m", "pytest", "--batt", "plain", "--batt-data", "h_challenges.json", "--batt-module", "hostile3.py",
            "-n", "0", "-p", "no:cacheprovider", *args]


def write_good(project) -> None:
    """A small, valid results file (the other side of a comparison)."""
    from pytest_batt import results

    head = results.header(batt_module="m", batt_sha256="b", data_name="d", data_sha256="h", timeout_s=10.0, workers=1)
    results.write(str(project.path / "good.json"), {**head, "session": {"wall_s": 0.0, "item_s": 0.0, "complete": True}, "tasks": {}})


@pytest.mark.parametrize("reader", READERS, ids=lambda r: "-".join(a for a in r if a not in ("BOMB", "GOOD"))[:40])
def test_a_decompression_bomb_is_refused_by_every_reader(project, reader):
    """The ceiling lowered to 4 MiB (the variable docs/results-schema.md documents), a 64 MiB bomb: the same
    path as the default's, in a fraction of the time. The default itself: the test below."""
    write_good(project)
    make_bomb(project.path / "bomb.json.gz", 64)
    env = {**os.environ, "PYTEST_BATT_MAX_TASK_MB": "4"}
    code, out, err, seconds, peak_mib, cpu = measured(project.path, argv_of(reader, "bomb.json.gz", "good.json"), env)
    assert code == 4, (out, err)
    lines = [line for line in (out + err).splitlines() if "bomb.json.gz" in line]
    assert len(lines) == 1 and "expands past the 4 MiB a results file may hold" in lines[0], out + err
    assert "Traceback" not in out + err
    assert cpu < 10 and peak_mib < 1024, (seconds, cpu, peak_mib)  # CPU seconds: the wall clock says little on a shared machine


@pytest.mark.parametrize("reader", [READERS[0]], ids=["--batt-compare"])
def test_a_bomb_past_the_default_ceiling_costs_seconds_and_little_memory(project, reader, capsys):
    """640 MiB of JSON from 640 kB of gzip, against the real ceiling (64 MiB a task)."""
    write_good(project)
    make_bomb(project.path / "bomb.json.gz", 640)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_BATT_MAX_TASK_MB"}
    code, out, err, seconds, peak_mib, cpu = measured(project.path, argv_of(reader, "bomb.json.gz", "good.json"), env)
    assert code == 4 and "expands past the 64 MiB a results file may hold" in out + err, (out, err)
    # CPU seconds, not wall time: on a machine shared with other jobs the wall clock says little
    # (measured alone: 1-2 s wall, see docs/faults.md's fault table)
    assert cpu < 10 and peak_mib < 1024, (cpu, seconds, peak_mib)
    with capsys.disabled():  # the numbers the issue asks for, in the test log
        print(f"\n[bomb 640 MiB, {os.path.getsize(project.path / 'bomb.json.gz') / 1e6:.1f} MB gzip, {reader[0]} {reader[1]}] "
              f"exit {code} in {seconds:.1f} s wall, {cpu:.1f} s CPU, peak RSS {peak_mib:.0f} MiB")
