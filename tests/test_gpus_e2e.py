"""--batt-gpus and VRAM through real pytest runs (no GPU here: CUDA_VISIBLE_DEVICES is what a batt
reads, and NVML is a fake module, or the real nvidia-ml-py finding no driver).

The batt reports the CUDA_VISIBLE_DEVICES it sees at import and at every call (fake_nvml.GPU_BATT):
each worker must see one device, the same at import and call, and a replaced worker its
predecessor's.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import fake_nvml
from pytest_batt.isolation import peak_vram

N_TASKS = 8


ARGS = ("--batt", "all", "--batt-data=tasks", "--batt-module=gpubatt.py", "-p", "no:cacheprovider", "--batt-json=r.json")


@pytest.fixture
def gpu_project(batt_project, monkeypatch):
    """Eight one-demo, one-test tasks the identity solves, the reporting batt, and $GPU_REPORT."""
    batt_project.tasks({f"task000{i}": {"train": [{"input": [[i]], "output": [[i]]}], "test": [{"input": [[i, i]], "output": [[i, i]]}]}
                        for i in range(N_TASKS)})
    batt_project.makepyfile(gpubatt=fake_nvml.gpu_batt())
    report = batt_project.mkdir("report")
    monkeypatch.setenv("GPU_REPORT", str(report))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("FAKE_NVML", raising=False)
    batt_project.report = report
    batt_project.args = list(ARGS)
    return batt_project


def samples(project):
    return project.results().samples()


def test_a_list_gives_each_of_four_workers_one_device_the_same_at_import_and_at_call(gpu_project):
    result = gpu_project.runbatt("-n", "4", "--batt-gpus", "0,1,2,3")
    result.assert_outcomes(passed=2 * N_TASKS)
    seen = fake_nvml.reports(gpu_project.report)
    assert len(seen) == 4 and sorted(w["import"] for w in seen.values()) == ["0", "1", "2", "3"]
    for worker in seen.values():
        assert worker["calls"] and set(worker["calls"]) == {worker["import"]}  # one device, at import as at call
        assert worker["limit"] == -1  # no default address-space cap: CUDA would not start under it
    assert {s["gpu"] for s in samples(gpu_project)} == {"0", "1", "2", "3"}  # each record names its device
    result.stdout.fnmatch_lines(["batt: GPUs: --batt-gpus 0,1,2,3; each worker sees one device*",
                                 "batt:   0: gw0", "batt:   1: gw1", "batt:   2: gw2", "batt:   3: gw3"])


def test_auto_takes_the_callers_list_and_uses_only_its_devices(gpu_project, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    result = gpu_project.runbatt("-n", "4", "--batt-gpus", "auto")
    result.assert_outcomes(passed=2 * N_TASKS)
    seen = fake_nvml.reports(gpu_project.report)
    assert sorted(w["import"] for w in seen.values()) == ["5", "5", "7", "7"]
    assert {c for w in seen.values() for c in w["calls"]} == {"5", "7"}
    assert {s["gpu"] for s in samples(gpu_project)} == {"5", "7"}
    result.stdout.fnmatch_lines(["batt: GPUs: --batt-gpus auto: the caller's CUDA_VISIBLE_DEVICES=5,7; each worker*",
                                 "batt:   5: gw0, gw2", "batt:   7: gw1, gw3"])


@pytest.mark.parametrize("args", [("-n", "0", "--batt-gpus", "auto"), ("-n", "2", "--batt-gpus", "none"), ("-n", "2",)])
def test_in_process_none_or_no_option_leave_the_variable_as_the_caller_set_it(gpu_project, monkeypatch, args):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    result = gpu_project.runbatt(*args)
    result.assert_outcomes(passed=2 * N_TASKS)
    seen = fake_nvml.reports(gpu_project.report)
    assert {c for w in seen.values() for c in [w["import"]] + w["calls"]} == {"5,7"}
    # -n 0 with auto hands out no device, but CUDA runs in this process: no default cap either
    assert {w["limit"] == -1 for w in seen.values()} == {args[1] == "0"}
    assert {s["gpu"] for s in samples(gpu_project)} == {"5,7"}
    if args[1] == "0":
        result.stdout.fnmatch_lines(["batt: GPUs: --batt-gpus auto: the caller's *; the samples run in this process (-n 0 or no xdist), "
                                     "which keeps CUDA_VISIBLE_DEVICES=5,7"])
    else:
        assert "batt: GPUs" not in result.stdout.str()


def test_a_replaced_worker_sees_the_device_of_the_worker_it_replaces(gpu_project, monkeypatch):
    """gw1 (device 1) ends itself at its first sample; its replacement is gw2, and must see device 1 (not 2 % 2 = 0)."""
    monkeypatch.setenv("GPU_CRASH_ON", "1")
    result = gpu_project.runbatt("-n", "2", "--batt-gpus", "0,1")
    result.assert_outcomes(passed=2 * N_TASKS - 1, failed=1)
    seen = fake_nvml.reports(gpu_project.report, callers_only=False)  # the replacement may find no sample left to run
    dead = int((gpu_project.report / "crashed").read_text())
    assert seen[dead]["import"] == "1"
    replacement = max(seen.values(), key=lambda w: w["at"])
    assert len(seen) == 4  # the controller (which imports the batt to check it), gw0, gw1 and gw1's replacement
    assert replacement is not seen[dead] and replacement["import"] == "1" and set(replacement["calls"]) <= {"1"}
    assert "replacing crashed worker gw1" in result.stdout.str()


def test_auto_without_a_gpu_is_off_without_an_error(gpu_project, monkeypatch, tmp_path):
    fake = fake_nvml.install(tmp_path, [])  # NVML that does not start (no FAKE_NVML), and no nvidia-smi on PATH
    monkeypatch.setenv("PYTHONPATH", str(fake))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = gpu_project.runbatt("-n", "2", "--batt-gpus", "auto")
    result.assert_outcomes(passed=2 * N_TASKS)
    result.stdout.fnmatch_lines(["batt: GPUs: --batt-gpus auto: no GPU found (NVML did not start (NVML Shared Library Not Found); "
                                 "no nvidia-smi); off",
                                 "batt: VRAM per sample: not measured (NVML did not start: NVML Shared Library Not Found)"])
    assert {w["import"] for w in fake_nvml.reports(gpu_project.report).values()} == {"<unset>"}


def test_auto_takes_the_devices_nvidia_smi_lists_by_uuid(gpu_project, monkeypatch, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 'GPU 0: NVIDIA L4 (UUID: GPU-aaaaaaaa-0000-0000-0000-000000000000)'\n"
                                        "echo 'GPU 1: NVIDIA L4 (UUID: GPU-bbbbbbbb-0000-0000-0000-000000000000)'\n")
    (bin_dir / "nvidia-smi").chmod(0o755)
    fake = fake_nvml.install(tmp_path, [])  # NVML that does not start (no FAKE_NVML)
    monkeypatch.setenv("PYTHONPATH", str(fake))
    monkeypatch.setenv("PATH", str(bin_dir))
    result = gpu_project.runbatt("-n", "2", "--batt-gpus", "auto")
    result.assert_outcomes(passed=2 * N_TASKS)
    assert sorted(w["import"] for w in fake_nvml.reports(gpu_project.report).values()) == [
        "GPU-aaaaaaaa-0000-0000-0000-000000000000", "GPU-bbbbbbbb-0000-0000-0000-000000000000"]
    result.stdout.fnmatch_lines(["batt: GPUs: --batt-gpus auto: 2 found by nvidia-smi -L; *",
                                 "batt:   GPU-aaaaaaaa-0000-0000-0000-000000000000 (GPU 0, NVIDIA L4): gw0"])


@pytest.mark.parametrize("workers", ["0", "2"])
def test_with_a_fake_nvml_each_sample_records_its_vram_and_the_reports_show_it(gpu_project, monkeypatch, tmp_path, workers):
    devices = [{"uuid": f"GPU-{i}0000000-0000-0000-0000-000000000000", "name": "Fake L4"} for i in range(2)]
    for name, value in fake_nvml.env(tmp_path).items():
        monkeypatch.setenv(name, value)
    fake_nvml.install(tmp_path, devices)
    gpus = ("--batt-gpus", "0,1") if workers != "0" else ()
    result = gpu_project.runbatt("-n", workers, *gpus, "--batt-html=r.html")
    result.assert_outcomes(passed=2 * N_TASKS)
    scope = "process" if peak_vram.host_pid_namespace() else "device"
    measured = [(s["vram_mb"], s["vram_peak_mb"], s["vram_scope"]) for s in samples(gpu_project)]
    assert measured == [(100.0, 300.0, scope)] * (2 * N_TASKS)  # held at the end, the peak while it ran
    out = result.stdout.str()
    assert "batt: VRAM per sample: NVML, " in out
    assert "vram: largest peaks task000" in out and "300 MB" in out and "(GPU memory sampled by NVML" in out
    page = (gpu_project.path / "r.html").read_text()
    assert "peak VRAM MB</th>" in page and '<td class="num">300</td>' in page
    asked = {pid for pid, names in fake_nvml.calls(tmp_path / "state").items() if "procs" in names or "memory" in names}
    assert len(asked) == max(1, int(workers))  # the processes that ran samples read it


def test_with_nvidia_ml_py_but_no_driver_the_fields_are_null_and_nothing_breaks(gpu_project):
    """The real binding where it is installed (the dev extra), else none: either way, nothing is measured."""
    try:
        import pynvml  # noqa: F401
        why = "NVML did not start: NVML Shared Library Not Found"
    except ImportError:
        why = "nvidia-ml-py is not installed: pip install 'pytest-batt[gpu]'"
    result = gpu_project.runbatt("-n", "2", "--batt-gpus", "0,1")
    result.assert_outcomes(passed=2 * N_TASKS)
    result.stdout.fnmatch_lines([f"batt: VRAM per sample: not measured ({why})"])
    assert {(s["gpu"] in ("0", "1"), s["vram_mb"], s["vram_peak_mb"], s["vram_scope"]) for s in samples(gpu_project)} == {
        (True, None, None, None)}
    assert "vram:" not in result.stdout.str()


@pytest.mark.parametrize("where, value, says", [
    ("cli", "0,,1", "argument --batt-gpus: '0,,1': give auto, none or a comma-separated list of device ids"),
    ("cli", "gpu0", "argument --batt-gpus: 'gpu0': 'gpu0' is not a device id"),
    ("ini", "0,x", "ini option batt_gpus: '0,x': 'x' is not a device id"),
])
def test_a_bad_device_list_is_a_one_line_usage_error(gpu_project, where, value, says):
    """In this process: a usage error stops pytest before any batt call."""
    if where == "ini":
        gpu_project.makeini(f"[pytest]\nbatt_gpus = {value}\n")
        result = gpu_project.runbatt_inprocess()
    else:
        result = gpu_project.runbatt_inprocess("--batt-gpus", value)
    assert result.ret == 4
    assert says in result.stderr.str()
    assert not list(gpu_project.report.iterdir())  # nothing ran


NOTEBOOK = textwrap.dedent('''
    """What a notebook cell does: pytest.main in a long-lived process whose stdout is no file, twice, with a
    run stopped by bad input between them (its error is the one line, as in a process of its own)."""
    import io, json, sys, time
    import pytest

    class OutStream(io.TextIOBase):  # like ipykernel's: text without a file descriptor
        def __init__(self):
            self.parts = []
        def write(self, s):
            self.parts.append(s)
            return len(s)
        def fileno(self):
            raise io.UnsupportedOperation("fileno")
        def isatty(self):
            return False

    real = sys.stdout
    sys.stdout = sys.stderr = OutStream()
    sys.argv = ["ipykernel_launcher.py", "-f", "kernel-1.json"]
    time.sleep(0.5)  # the kernel was started before the cell ran
    codes, took = [], []
    for i in range(2):
        start = time.monotonic()
        codes.append(int(pytest.main(["--batt", "all", "--batt-data=tasks", "--batt-module=gpubatt.py", "-n", "2",
                                      "-p", "no:cacheprovider", f"--batt-json=r{i}.json"])))
        took.append(time.monotonic() - start)
        if i == 0:
            codes.append(int(pytest.main(["--batt", "all", "--batt-data=tasks", "--batt-module=nobatt.py"])))
    out = "".join(sys.stdout.parts)
    sys.stdout = real
    print(json.dumps({"codes": codes, "took": took, "out": out}))
''')


@pytest.mark.e2e
def test_pytest_main_in_a_notebook_like_process_runs_xdist_workers_twice(gpu_project):
    gpu_project.makepyfile(cell=NOTEBOOK)
    done = subprocess.run([sys.executable, "cell.py"], cwd=gpu_project.path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.splitlines()[-1])
    assert got["codes"] == [0, 4, 0], got["out"][-3000:]
    assert "ERROR: --batt-module nobatt.py: no such file" in got["out"] and "INTERNALERROR" not in got["out"]
    assert got["out"].count("created: 2/2 workers") == 2 and got["out"].count(f"{2 * N_TASKS} passed") == 2
    for i in range(2):
        res = gpu_project.results(f"r{i}.json")
        assert res["session"]["complete"] and res["config"]["workers"] == 2
        assert sum(s["status"] == "solved" for t in res["tasks"].values() for s in t["samples"]) == 2 * N_TASKS
        # the run's own time, not the age of the process that ran it (a kernel started long before, an earlier run)
        assert 0 < res["session"]["process_s"] <= got["took"][i] + 0.01
    assert len(fake_nvml.reports(gpu_project.report)) == 4  # two workers per run


def run_in_a_pid_namespace(pytester, *args):
    """pytest as in a container: a PID namespace of its own, so NVML's process ids (the fake's: the host's) are not its."""
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a PID namespace here (unshare needs root, as in CI): {probe.stderr.decode().strip()}")
    return pytester.run("unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-m", "pytest", *args, timeout=300)


def test_in_a_container_each_workers_vram_is_its_one_devices_used_memory(gpu_project, monkeypatch, tmp_path):
    devices = [{"uuid": f"GPU-{i}0000000-0000-0000-0000-000000000000", "base": 50 * fake_nvml.MB} for i in range(2)]
    for name, value in fake_nvml.env(tmp_path).items():
        monkeypatch.setenv(name, value)
    fake_nvml.install(tmp_path, devices)
    result = run_in_a_pid_namespace(gpu_project, *ARGS, "-n", "2", "--batt-gpus", "0,1")
    result.assert_outcomes(passed=2 * N_TASKS)
    result.stdout.fnmatch_lines(["batt: VRAM per sample: NVML, the used memory of each worker's one device*"])
    # the device's used memory: its 50 MB (the driver, other processes) and the worker's own
    assert {(s["vram_mb"], s["vram_peak_mb"], s["vram_scope"]) for s in samples(gpu_project)} == {(150.0, 350.0, "device")}
    shared = run_in_a_pid_namespace(gpu_project, *ARGS, "-n", "2")  # no --batt-gpus: each worker sees both devices
    shared.assert_outcomes(passed=2 * N_TASKS)
    shared.stdout.fnmatch_lines(["batt: VRAM per sample: not measured (in a container NVML lists the host's process ids, *"])
    assert {s["vram_peak_mb"] for s in samples(gpu_project)} == {None}
