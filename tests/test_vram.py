"""VRAM per sample with a fake NVML (no GPU here): the meter, its two scopes, the record's fields, the
summary line, the HTML column, the comparison and the ``vram:PCT`` gate; and null fields without NVML."""

import os
import threading
import time
import types

import pytest

from fake_nvml import FAKE_PYNVML, MB, install
from pytest_batt import compare, gates, html_report, records, report, runner
from pytest_batt.isolation import peak_vram
from pytest_batt.tasks import TaskSet
from toys import TASKS, TOY_BATT

UUID0, UUID1 = "GPU-00000000-1111-2222-3333-444444444444", "GPU-11111111-1111-2222-3333-444444444444"


@pytest.fixture
def nvml(tmp_path, monkeypatch):
    """The fake pynvml as a module object over two devices; ``nvml.hold(device, mb, pid)`` makes a process hold VRAM."""
    install(tmp_path, [{"uuid": UUID0, "base": 500 * MB}, {"uuid": UUID1, "base": 700 * MB}])
    monkeypatch.setenv("FAKE_NVML", str(tmp_path / "state"))
    module = types.ModuleType("pynvml")
    exec(FAKE_PYNVML, module.__dict__)

    def hold(device, mb, pid=None):
        (tmp_path / "state" / "procs").mkdir(exist_ok=True)
        (tmp_path / "state" / "procs" / str(pid or os.getpid())).write_text(f"{device} {int(mb * MB)}")
    module.hold = hold
    return module


def missing():
    raise ImportError("No module named 'pynvml'")


def test_without_nvidia_ml_py_or_a_driver_there_is_no_meter_and_the_reason(tmp_path, monkeypatch):
    assert peak_vram.open_meter(missing) == (None, "nvidia-ml-py is not installed (pip install 'pytest-batt[gpu]')")
    install(tmp_path, [], broken=True)
    monkeypatch.setenv("FAKE_NVML", str(tmp_path / "state"))
    broken = types.ModuleType("pynvml")
    exec(FAKE_PYNVML, broken.__dict__)
    assert peak_vram.open_meter(lambda: broken) == (None, "NVML did not start (NVML Shared Library Not Found)")


def test_in_the_hosts_pid_namespace_it_reads_this_process_over_every_device(nvml):
    reader, why = peak_vram.open_reader(nvml, None, host_pids=True, pid=os.getpid())
    assert why == "" and reader.scope == peak_vram.PROCESS
    assert reader() == 0.0  # no CUDA context: NVML lists the process nowhere
    nvml.hold("1", 300)
    nvml.hold("0", 999, pid=os.getpid() + 1)  # another process: not ours
    assert reader() == 300.0


def test_in_a_container_it_reads_the_used_memory_of_the_workers_one_device(nvml):
    nvml.hold(UUID1, 300)
    for visible in ("1", UUID1):  # an index (NVML's order) or a UUID (the same device in every order)
        reader, why = peak_vram.open_reader(nvml, visible, host_pids=False, pid=os.getpid())
        assert reader.scope == peak_vram.DEVICE and reader() == 1000.0  # the device's 700 MB and our 300
    for visible in (None, "0,1", "-1"):
        reader, why = peak_vram.open_reader(nvml, visible, host_pids=False, pid=os.getpid())
        assert reader is None and "NVML lists the host's process ids" in why and "--batt-gpus gives each worker one" in why


def test_the_meter_samples_a_peak_while_a_sample_runs_and_reads_what_is_held_at_its_end(nvml):
    meter, why = peak_vram.open_meter(lambda: nvml, None, host_pids=True, interval=0.01)
    meter.start()
    nvml.hold("0", 300)
    time.sleep(0.3)
    nvml.hold("0", 100)
    assert meter.stop() == (100.0, 300.0, "process")
    meter.start()  # the next sample's peak starts from what is held now, not from the last peak
    time.sleep(0.1)
    assert meter.stop() == (100.0, 100.0, "process")


class Readings:
    """A read function whose value a test sets, counting the reads."""

    def __init__(self, value=0.0):
        self.value, self.reads = value, 0

    def __call__(self):
        self.reads += 1
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


def test_the_polling_thread_is_started_once_with_the_meter_and_idles_between_samples():
    before = set(threading.enumerate())
    read = Readings(5.0)
    meter = peak_vram.VramMeter(read, "process", interval=0.01)
    started = set(threading.enumerate()) - before
    assert [t.name for t in started] == ["pytest-batt-vram"] and all(t.daemon for t in started)
    meter.start()
    time.sleep(0.2)
    meter.stop()
    assert read.reads >= 5  # it polls during a sample
    idle = read.reads
    time.sleep(0.2)
    assert read.reads <= idle + 1  # and not between samples (one reading may have been under way)


def test_a_reading_that_fails_costs_that_reading_not_the_sample():
    read = Readings(RuntimeError("NVMLError_Unknown"))
    meter = peak_vram.VramMeter(read, "device", interval=0.01)
    meter.start()
    time.sleep(0.05)
    assert meter.stop() == (None, None, None)
    read.value = 7.0
    meter.start()
    assert meter.stop() == (7.0, 7.0, "device")


def test_a_sample_record_has_the_device_and_the_vram_fields(nvml, monkeypatch):
    ns = {}
    exec(TOY_BATT, ns)
    task = TaskSet("toys", TASKS).task("flip0001")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")

    def batt(*args):
        nvml.hold("1", 250)
        return ns["batt"](*args)
    meter, _ = peak_vram.open_meter(lambda: nvml, "1", host_pids=True, interval=0.01)
    rec = runner.run_sample(batt, task, task.samples[0], vram=meter)
    assert (rec["gpu"], rec["vram_mb"], rec["vram_peak_mb"], rec["vram_scope"]) == ("1", 250.0, 250.0, "process")
    entry = records.sample_entry(rec)
    assert {k: entry[k] for k in ("gpu", "vram_mb", "vram_peak_mb", "vram_scope")} == {
        "gpu": "1", "vram_mb": 250.0, "vram_peak_mb": 250.0, "vram_scope": "process"}
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    plain = runner.run_sample(ns["batt"], task, task.samples[0])  # no NVML: null, and the sample runs as ever
    assert (plain["gpu"], plain["vram_mb"], plain["vram_peak_mb"], plain["vram_scope"]) == (None, None, None, None)
    assert plain["status"] == "ok" and plain["candidates"] == 3


# --- what is shown: the summary line, the HTML column, the comparison and the gate ----------------------------

def sample(kind, index, vram=None, gpu=None, scope="process"):
    return {"kind": kind, "index": index, "status": "solved", "seconds": 0.1, "memory_mb": 60.0,
            "vram_peak_mb": vram, "vram_mb": vram and vram / 2, "vram_scope": scope if vram else None, "gpu": gpu}


def task_entry(*samples):
    return {"samples": list(samples), "o_score": {}, "d_score": {}, "s_score": {}, "solved": {"oracle": True, "at_2": True},
            "seconds": 0.2, "sha256": "x"}


def run_results(tasks):
    return {"schema": 1, "batt": {"module": "b", "sha256": "s"}, "data": {"name": "d", "sha256": "h"},
            "config": {"timeout_s": 10.0, "workers": 2}, "machine": {"platform": "p", "cpus": 2},
            "session": {"wall_s": 1.0, "item_s": 1.0, "complete": True}, "tasks": tasks}


def test_the_summary_shows_the_largest_vram_peaks_beside_memory_and_nothing_without_them():
    tasks = {"a": task_entry(sample("demo", 0, 812.4, "GPU-5c89"), sample("test", 0, 90.0, "1")),
             "b": task_entry(sample("demo", 0, 300.0, "0", scope="device"))}
    assert report.vram_lines(tasks) == [
        "vram: largest peaks a::demo[0] 812 MB on GPU-5c89, b::demo[0] 300 MB on 0, a::test[0] 90 MB on 1 "
        "(GPU memory sampled by NVML, its device's used memory and the sample's process; 3 sample(s) measured)"]
    lines = report.summary_lines(run_results(tasks))
    assert lines.index(report.vram_lines(tasks)[0]) == lines.index(report.memory_lines(tasks)[0]) + 1
    plain = {"a": task_entry(sample("demo", 0))}
    assert report.vram_lines(plain) == [] and not any(line.startswith("vram") for line in report.summary_lines(run_results(plain)))


def test_the_html_report_has_a_vram_column_only_where_vram_was_measured():
    measured = html_report.render(run_results({"a": task_entry(sample("demo", 0, 812.4, "0"))}), {"a": {"samples": []}})
    assert "peak VRAM MB</th>" in measured and '<td class="num">812</td>' in measured and 'colspan="10"' in measured
    plain = html_report.render(run_results({"a": task_entry(sample("demo", 0))}), {"a": {"samples": []}})
    assert "VRAM" not in plain.split("<script")[0] and 'colspan="9"' in plain


def test_the_comparison_and_the_vram_gate_use_the_largest_vram_peak():
    before = run_results({"a": task_entry(sample("demo", 0, 400.0)), "b": task_entry(sample("demo", 0, 100.0))})
    after = run_results({"a": task_entry(sample("demo", 0, 410.0)), "b": task_entry(sample("demo", 0, 560.0))})
    comp = compare.compare(before, after)
    assert comp.peak_memory("vram") == ((400.0, "batt/a::demo[0]"), (560.0, "batt/b::demo[0]"))
    assert "peak VRAM: 400 MB (batt/a::demo[0]) -> 560 MB (batt/b::demo[0])" in compare.render(comp)
    assert compare.to_json(comp)["totals"]["vram_peak_mb"] == [400.0, 560.0]
    breach = gates.parse_gate("vram:25%").check(comp)
    assert breach == "peak VRAM 560 MB (batt/b::demo[0]) is 1.40x the baseline's 400 MB (batt/a::demo[0]), more than +25%"
    assert gates.parse_gate("vram:50").check(comp) is None
    unmeasured = run_results({"a": task_entry(sample("demo", 0)), "b": task_entry(sample("demo", 0))})
    assert gates.parse_gate("vram:1%").check(compare.compare(unmeasured, after)) is None  # nothing to compare with: holds
    with pytest.raises(gates.GateError, match="vram needs a percentage such as vram:25%"):
        gates.parse_gate("vram")


def test_the_header_says_how_vram_is_read_or_why_not(nvml, tmp_path, monkeypatch):
    def line(asked=True, one=True, host=True, module=nvml):
        return peak_vram.header_line(asked, one, import_nvml=lambda: module, host_pids=host)
    assert line() == "batt: VRAM per sample: NVML, the memory of each sample's process (sampled every 0.05 s)"
    assert line(host=False).startswith("batt: VRAM per sample: NVML, the used memory of each worker's one device")
    assert line(host=False, one=False).startswith("batt: VRAM per sample: not measured (in a container NVML lists the host's")
    assert line(asked=False, host=True) is not None  # measured without --batt-gpus: still said
    assert peak_vram.header_line(True, True, import_nvml=missing) == "batt: VRAM per sample: not measured (nvidia-ml-py is not installed)"
    assert peak_vram.header_line(False, True, import_nvml=missing) is None  # no GPU asked for, none measured: nothing said
    install(tmp_path / "broken", [], broken=True)
    monkeypatch.setenv("FAKE_NVML", str(tmp_path / "broken" / "state"))
    broken = types.ModuleType("pynvml")
    exec(FAKE_PYNVML, broken.__dict__)
    assert line(module=broken) == "batt: VRAM per sample: not measured (NVML did not start: NVML Shared Library Not Found)"
    assert line(asked=False, module=broken) is None
