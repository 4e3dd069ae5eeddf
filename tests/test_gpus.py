"""--batt-gpus as plain functions: device lists, the caller's CUDA_VISIBLE_DEVICES, finding devices, the
round-robin plan, the header, and the worker specs that carry each worker's device."""

import argparse
import subprocess
import types

import pytest

from fake_nvml import FAKE_PYNVML, install
from pytest_batt import gpus, options, settings, workerspecs

UUID = "GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f"
MIG = "MIG-c6d4f1ef-42e4-5de3-91c7-45d71c87eb3f"
OLD_MIG = "MIG-GPU-5c89852c-d268-c3f3-1b07-005d5ae1dc3f/7/0"


# --- the option's value ----------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("auto", "auto"), (" AUTO ", "auto"), ("none", "none"), ("0", "0"), ("0,1,2,3", "0,1,2,3"), (" 0 , 1 ", "0,1"),
    (UUID, UUID), (f"{UUID},{MIG}", f"{UUID},{MIG}"), (OLD_MIG, OLD_MIG), ("GPU-5c89", "GPU-5c89"),  # a UUID prefix, as CUDA takes
    ("0,0,1", "0,0,1"),  # repeats: more workers on device 0
])
def test_a_choice_is_auto_none_or_a_list_of_device_ids(value, expected):
    assert gpus.parse_choice(value) == expected


@pytest.mark.parametrize("value, says", [
    ("", "give auto, none or a comma-separated list"), ("0,,1", "give auto, none"), ("0,", "give auto, none"),
    ("-1", "'-1' is not a device id"), ("gpu0", "'gpu0' is not a device id"), ("0;1", "'0;1' is not a device id"),
    ("GPU-xyz", "'GPU-xyz' is not a device id"),  # not hex
    ("MIG-a//b", "is not a device id"),  # '//' would split the worker's xdist spec
    ("0 1", "'0 1' is not a device id"), ("all", "'all' is not a device id"),
])
def test_a_bad_choice_is_one_line_naming_the_entry(value, says):
    with pytest.raises(ValueError, match="^.*$") as e:
        gpus.parse_choice(value)
    assert says in str(e.value) and "\n" not in str(e.value)


def test_the_option_type_and_the_ini_value_refuse_a_bad_list_as_a_usage_error():
    assert options.gpus_choice("1,2") == "1,2"
    with pytest.raises(argparse.ArgumentTypeError, match="'x' is not a device id"):
        options.gpus_choice("x")
    ini = {"batt_gpus": "0,x"}
    with pytest.raises(ValueError, match="^ini option batt_gpus: '0,x': 'x' is not a device id"):
        settings.read(lambda name: None, lambda name: ini.get(name, ""), "/tmp")
    ini = {"batt_gpus": "auto"}
    assert settings.read(lambda name: None, lambda name: ini.get(name, ""), "/tmp").gpus == "auto"
    assert settings.read(lambda name: None, lambda name: "", "/tmp").gpus == "none"  # the default


# --- the caller's CUDA_VISIBLE_DEVICES, read as CUDA reads it --------------------------------------------

@pytest.mark.parametrize("value, devices", [
    (None, None), ("5,7", ["5", "7"]), (" 5, 7 ", ["5", "7"]), ("", []), ("-1", []), ("NoDevFiles", []),
    ("0,2,-1,1", ["0", "2"]),  # CUDA stops at the first invalid entry
    ("1,1,0", ["1", "0"]), (f"{UUID},{MIG}", [UUID, MIG]),
])
def test_the_callers_list_is_what_cuda_would_see(value, devices):
    assert gpus.visible(value) == devices


# --- finding devices ---------------------------------------------------------------------------------

SMI = f"""GPU 0: NVIDIA L4 (UUID: {UUID})
GPU 1: NVIDIA L4 (UUID: GPU-11111111-2222-3333-4444-555555555555)
GPU 2: NVIDIA A100-SXM4-40GB (UUID: GPU-aaaaaaaa-2222-3333-4444-555555555555)
  MIG 1g.5gb      Device  0: (UUID: MIG-bbbbbbbb-2222-3333-4444-555555555555)
  MIG 1g.5gb      Device  1: (UUID: {MIG})
"""


def test_nvidia_smi_lists_gpus_by_uuid_and_a_mig_gpu_by_its_instances():
    found = gpus.parse_smi(SMI)
    assert [d.id for d in found] == [UUID, "GPU-11111111-2222-3333-4444-555555555555",
                                     "MIG-bbbbbbbb-2222-3333-4444-555555555555", MIG]
    assert found[0].label == "GPU 0, NVIDIA L4" and found[3].label == "GPU 2 MIG 1, 1g.5gb"
    assert gpus.parse_smi("No devices were found\n") == []


def run_returning(stdout="", code=0, exc=None):
    def run(cmd, **kwargs):
        assert cmd == ["nvidia-smi", "-L"] and kwargs["timeout"] > 0
        if exc is not None:
            raise exc
        return subprocess.CompletedProcess(cmd, code, stdout, "")
    return run


def test_nvidia_smi_missing_failing_or_hanging_finds_nothing_and_says_why():
    assert gpus.find_with_smi(run_returning(SMI)).devices[0].id == UUID
    assert gpus.find_with_smi(run_returning(exc=FileNotFoundError())).why == "no nvidia-smi"
    hung = gpus.find_with_smi(run_returning(exc=subprocess.TimeoutExpired(["nvidia-smi"], 10)), timeout=10)
    assert hung.devices == [] and hung.why == "nvidia-smi -L did not answer within 10 s"
    assert gpus.find_with_smi(run_returning("NVIDIA-SMI has failed", code=9)).why == "nvidia-smi -L failed (exit 9)"


def test_a_hanging_nvidia_smi_is_stopped_by_the_timeout(tmp_path, monkeypatch):
    (tmp_path / "nvidia-smi").write_text("#!/bin/sh\nexec /bin/sleep 30\n")
    (tmp_path / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    found = gpus.find_with_smi(timeout=0.3)
    assert found.devices == [] and "did not answer within 0.3 s" in found.why


@pytest.fixture
def fake_nvml(tmp_path, monkeypatch):
    """The fake pynvml as a module object, over four devices (the third in MIG mode)."""
    def make(devices=None, broken=False):
        devices = devices if devices is not None else [
            {"uuid": UUID, "name": "NVIDIA L4"}, {"uuid": "GPU-11111111-2222-3333-4444-555555555555"},
            {"uuid": "GPU-aaaaaaaa-2222-3333-4444-555555555555", "migs": [MIG]}, {"uuid": "not-a-uuid"}]
        install(tmp_path, devices, broken)
        monkeypatch.setenv("FAKE_NVML", str(tmp_path / "state"))
        module = types.ModuleType("pynvml")
        exec(FAKE_PYNVML, module.__dict__)
        return module
    return make


def test_nvml_lists_devices_by_uuid_mig_instances_in_place_of_their_gpu(fake_nvml):
    nvml = fake_nvml()
    found = gpus.find_with_nvml(lambda: nvml)
    assert found.by == "NVML"
    assert [d.id for d in found.devices] == [UUID, "GPU-11111111-2222-3333-4444-555555555555", MIG]  # a bad id is left out
    assert found.devices[0].label == "GPU 0, NVIDIA L4" and found.devices[2].label == "GPU 2 MIG 0, Fake GPU"


def test_without_nvml_or_with_a_broken_one_nvidia_smi_is_asked_then_nothing(fake_nvml):
    def missing():
        raise ImportError("No module named 'pynvml'")
    broken = fake_nvml(broken=True)
    assert gpus.find(missing, run_returning(SMI)).by == "nvidia-smi -L"
    nothing = gpus.find(lambda: broken, run_returning(exc=FileNotFoundError()))
    assert nothing.devices == [] and nothing.why == "NVML did not start (NVML Shared Library Not Found); no nvidia-smi"
    assert gpus.find(missing, run_returning(exc=FileNotFoundError())).why == "nvidia-ml-py is not installed; no nvidia-smi"


# --- the plan: which device each worker sees -------------------------------------------------------------

def never():
    raise AssertionError("devices looked for although the caller's list or a LIST decides")


def test_a_list_goes_round_robin_as_given_never_as_indexes_into_physical_devices():
    p = gpus.plan("5,7", caller="0,1,2,3,4,5,6,7", finder=never)
    assert [p.device(i) for i in range(5)] == ["5", "7", "5", "7", "5"]
    assert gpus.plan("0,1,2,3", None, never).devices == ["0", "1", "2", "3"]


def test_auto_takes_the_callers_list_and_never_a_device_outside_it():
    p = gpus.plan("auto", caller="5,7", finder=never)
    assert p.active and [p.device(i) for i in range(4)] == ["5", "7", "5", "7"]
    assert "the caller's CUDA_VISIBLE_DEVICES=5,7" in p.source
    hidden = gpus.plan("auto", caller="-1", finder=never)  # the caller hides every device: nothing is given
    assert not hidden.active and "hides every device; left as it is" in hidden.source


def test_auto_without_the_callers_list_takes_the_devices_found_else_it_is_off():
    found = gpus.Found([gpus.Device(UUID, "GPU 0, NVIDIA L4"), gpus.Device("GPU-1111", "GPU 1, NVIDIA L4")], by="NVML")
    p = gpus.plan("auto", None, lambda: found)
    assert p.devices == [UUID, "GPU-1111"] and p.source == "--batt-gpus auto: 2 found by NVML" and p.labels[UUID] == "GPU 0, NVIDIA L4"
    off = gpus.plan("auto", None, lambda: gpus.Found(why="no nvidia-smi"))
    assert not off.active and off.device(0) is None and off.source == "--batt-gpus auto: no GPU found (no nvidia-smi); off"
    assert not gpus.plan("none", "0,1", never).active


def test_auto_gives_no_device_to_a_worker_on_another_host_a_list_gives_every_worker_one():
    assert gpus.assign(gpus.plan("auto", "5,7", never), [True, False, True]) == ["5", None, "5"]
    assert gpus.assign(gpus.plan("0,1", None, never), [True, False, True]) == ["0", "1", "0"]


def test_the_header_shows_each_devices_workers():
    p = gpus.plan("auto", "5,7", never)
    lines = gpus.header_lines(p, ["5", "7", "5", "7"], in_process=False, caller="5,7")
    assert lines[0].startswith("batt: GPUs: --batt-gpus auto: the caller's CUDA_VISIBLE_DEVICES=5,7; each worker sees one device")
    assert lines[1:] == ["batt:   5: gw0, gw2", "batt:   7: gw1, gw3"]
    found = gpus.plan("auto", None, lambda: gpus.Found([gpus.Device(UUID, "GPU 0, NVIDIA L4")], by="NVML"))
    assert gpus.header_lines(found, [UUID, None], False, None)[1:] == [
        f"batt:   {UUID} (GPU 0, NVIDIA L4): gw0", "batt:   CUDA_VISIBLE_DEVICES left as it is (a worker on another host): gw1"]
    assert gpus.header_lines(p, [], in_process=True, caller="5,7") == [
        "batt: GPUs: --batt-gpus auto: the caller's CUDA_VISIBLE_DEVICES=5,7; the samples run in this process "
        "(-n 0 or no xdist), which keeps CUDA_VISIBLE_DEVICES=5,7"]
    assert gpus.header_lines(gpus.plan("none", None, never), [], False, None) == []


# --- worker specs -------------------------------------------------------------------------------------

def test_specs_are_written_out_one_per_worker_as_xdist_reads_them():
    assert workerspecs.expand(["popen"] * 2 + ["3*popen//python=python3", "ssh=host//chdir=x"]) == [
        "popen", "popen", "popen//python=python3", "popen//python=python3", "popen//python=python3", "ssh=host//chdir=x"]


def test_parts_are_added_and_a_part_the_user_wrote_keeps_its_value():
    key = "env:CUDA_VISIBLE_DEVICES"
    assert workerspecs.add_parts("popen", [(key, "3")]) == "popen//env:CUDA_VISIBLE_DEVICES=3"
    assert workerspecs.add_parts("popen//env:CUDA_VISIBLE_DEVICES=1", [(key, "3")]) == "popen//env:CUDA_VISIBLE_DEVICES=1"
    both = workerspecs.add_parts("popen", [(key, OLD_MIG), ("python", "/opt/py")])
    assert workerspecs.parts(both) == {"popen": "", key: OLD_MIG, "python": "/opt/py"}
    with pytest.raises(ValueError):
        workerspecs.add_parts("popen", [(key, "a//b")])


def test_parts_read_as_execnet_reads_them():
    """The spec strings are execnet's: its XSpec gives each worker the environment the parts say."""
    import execnet

    spec = execnet.XSpec(workerspecs.add_parts("popen//python=python3", [("env:CUDA_VISIBLE_DEVICES", OLD_MIG)]))
    assert spec.popen and spec.python == "python3" and spec.env == {"CUDA_VISIBLE_DEVICES": OLD_MIG}


def test_local_specs_start_on_this_host():
    assert workerspecs.is_local("popen") and workerspecs.is_local("popen//chdir=/tmp/x//python=python3")
    assert not workerspecs.is_local("ssh=host") and not workerspecs.is_local("popen//via=gw0") and not workerspecs.is_local("socket=h:8888")


def test_a_gpu_run_has_no_default_address_space_cap_but_keeps_a_chosen_one():
    from dataclasses import replace

    from pytest_batt.state import State
    from pytest_batt.tasks import TaskSet

    opts = settings.read(lambda name: None, lambda name: "", "/tmp")
    def in_force(state):
        state.memory_plan(2, watchdog=True)  # as assembly.prepare does, before the controller's give_gpus
        return state.memory_in_force()

    plain = State(opts, TaskSet("none", {}), [], "")
    assert in_force(plain).megabytes is not None  # the default share of physical memory
    gpu = State(opts, TaskSet("none", {}), [], "")
    gpu.memory_plan(2, watchdog=True)
    gpu.gpu_run = True  # set after the plan, as give_gpus does
    assert gpu.memory_in_force().kind == "off" and gpu.address_space_limit() is None
    assert in_force(State(opts, TaskSet("none", {}), [], "", gpu_run=True)).kind == "off"
    chosen = State(replace(opts, max_memory=4096.0), TaskSet("none", {}), [], "", gpu_run=True)
    assert in_force(chosen).megabytes == 4096.0
