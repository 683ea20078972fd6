"""The probe through a fake pynvml (recorded card profiles), and its clear degradations."""

import json

import pytest

from danlu.engine.plan import hardware, memory as planner
from fake_nvml import install, profiles

ALL_CARDS = ["rtx3060", "rtx3090", "rtx4090", "rtx4060ti", "t4", "l4", "a10g", "a100_40", "a100_80", "h100"]


@pytest.fixture(autouse=True)
def no_cuda_env(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


@pytest.mark.parametrize("card", ALL_CARDS)
def test_each_card_is_read_with_its_memory_and_capabilities(monkeypatch, card):
    install(monkeypatch, card)
    spec = profiles()["cards"][card]
    info = hardware.probe()
    assert info.accelerator == "cuda" and len(info.gpus) == 1
    g = info.gpus[0]
    assert g.name == spec["name"]
    assert g.memory_total_gb == pytest.approx(spec["total_mib"] / 1024, abs=0.01)
    assert g.usable_gb == pytest.approx((spec["total_mib"] - spec["idle_used_mib"]) / 1024, abs=0.01)
    assert g.bf16 == (spec["cc"][0] >= 8)
    assert g.compute_capability == f"{spec['cc'][0]}.{spec['cc'][1]}"
    assert g.power_limit_w == spec["power_limit_w"]
    assert info.driver == "550.54.15" and info.cuda_driver == "12.4"
    # `danlu probe --json` is the same value: read back, it is equal
    assert hardware.Probe.from_dict(json.loads(json.dumps(info.to_dict()))) == info
    assert g.cc == tuple(spec["cc"]) and info.selected() == g and info.with_gpu(7).selected() is None


def test_t4_plans_fp16_not_bf16(monkeypatch):
    install(monkeypatch, "t4")
    p = planner.plan("Qwen/Qwen2.5-1.5B", probe=hardware.probe(), seq_len=1024)
    assert p.precision == "fp16"


def test_another_process_holding_10gb_shrinks_the_budget_and_is_named(monkeypatch):
    install(monkeypatch, "rtx4090_shared")
    info = hardware.probe()
    g = info.gpus[0]
    assert g.processes[0].pid == 4242 and g.processes[0].memory_gb == pytest.approx(10.0)
    assert g.usable_gb == pytest.approx((24564 - 320 - 10240) / 1024, abs=0.01)
    assert any("shared" in w and "4242" in w for w in info.warnings)
    shared = planner.plan("Qwen/Qwen2.5-7B", probe=info, seq_len=1024)
    install(monkeypatch, "rtx4090")
    idle = planner.plan("Qwen/Qwen2.5-7B", probe=hardware.probe(), seq_len=1024)
    assert shared.budget_gb < idle.budget_gb - 9.9
    assert shared.predicted_peak_gb <= shared.budget_gb


def test_two_gpus_and_choosing_one(monkeypatch):
    install(monkeypatch, "two_rtx3090")
    info = hardware.probe()
    assert [g.index for g in info.gpus] == [0, 1] and info.selected_gpu == 0
    assert hardware.probe(gpu=1).selected_gpu == 1
    assert hardware.probe(gpu=7).selected_gpu is None
    on0 = planner.plan("Qwen/Qwen2.5-7B", probe=hardware.probe(gpu=0))
    on1 = planner.plan("Qwen/Qwen2.5-7B", probe=hardware.probe(gpu=1))
    assert on1.budget_gb > on0.budget_gb + 19


def test_cuda_visible_devices_is_respected(monkeypatch):
    install(monkeypatch, "two_rtx3090")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert [g.index for g in hardware.probe().gpus] == [1]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-fake-0001")
    assert [g.index for g in hardware.probe().gpus] == [1]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    info = hardware.probe()
    assert info.gpus == () and info.accelerator == "cpu"
    assert any("CUDA_VISIBLE_DEVICES" in w for w in info.warnings)


def test_mig_plans_for_one_instance(monkeypatch):
    install(monkeypatch, "a100_80_mig")
    info = hardware.probe()
    g = info.gpus[0]
    assert g.mig["enabled"] and len(g.mig["instances"]) == 2
    assert g.usable_gb == pytest.approx((40192 - 13) / 1024, abs=0.01)
    assert any("MIG" in w for w in info.warnings)


def test_missing_nvml_library_plans_for_cpu(monkeypatch):
    install(monkeypatch, None, missing_library=True)
    info = hardware.probe()
    assert info.accelerator in ("cpu", "rocm", "mps") and info.gpus == ()
    assert "no NVIDIA driver" in info.nvml
    p = planner.plan("demo:small", probe=info, seq_len=512)
    assert p.fits and p.device.startswith("CPU")


def test_cpu_torch_on_a_gpu_box_says_how_to_fix(monkeypatch):
    install(monkeypatch, "rtx4090")
    monkeypatch.setattr(hardware, "torch_build", lambda: hardware.TorchBuild("2.13.0+cpu", "cpu", None))
    warnings = hardware.probe().warnings
    assert any("CPU-only build" in w and "download.pytorch.org/whl/cu124" in w for w in warnings)


def test_old_driver_for_torch_cuda_says_so(monkeypatch):
    install(monkeypatch, "rtx4090")
    monkeypatch.setattr(hardware, "torch_build", lambda: hardware.TorchBuild("2.13.0+cu128", "cuda", "12.8"))
    assert any("update the NVIDIA driver" in w for w in hardware.probe().warnings)


def test_sampler_reads_gpus_and_host(monkeypatch):
    calls = []
    install(monkeypatch, "two_rtx3090", calls=calls)
    sampler = hardware.SystemSampler().open()
    s = sampler.sample()
    sampler.stop()
    assert [g["index"] for g in s["gpus"]] == [0, 1]
    assert s["gpus"][0]["mem_used_gb"] == pytest.approx((300 + 20480) / 1024, abs=0.01)
    assert 0 < s["rss_gb"] and s["ram_total_gb"] > 0
    assert calls.count("init") == 1 and calls[-1] == "shutdown"


def test_probe_cli_json(monkeypatch, capsys):
    install(monkeypatch, "rtx4090_shared")
    from danlu.engine.cli import main

    assert main(["probe", "--json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert out["gpus"][0]["name"] == "NVIDIA GeForce RTX 4090" and out["warnings"]


def test_several_gpus_are_listed_with_how_they_are_linked(monkeypatch, capsys):
    from danlu.engine.cli import main
    from danlu.engine.plan import value as plan

    install(monkeypatch, "eight_h100")
    info = hardware.probe()
    assert len(info.gpus) == 8 and all(g.nvlinks == 18 for g in info.gpus) and info.interconnect == "nvlink"
    assert len(info.topology) == 28 and {p["path"] for p in info.topology} == {"several PCIe switches"}
    assert hardware.Probe.from_dict(json.loads(json.dumps(info.to_dict()))) == info
    p = plan.make("meta-llama/Llama-3.1-8B", overrides={"gpus": 8}, probe=info, lengths=[2000] * 500)
    assert p.distributed["interconnect"] == "nvlink" and p.distributed["world_size"] == 8
    assert main(["probe"]) == 0
    text = capsys.readouterr().out
    assert "interconnect: NVLink (18 active links a GPU)" in text and "danlu plan --gpus 8" in text

    install(monkeypatch, "two_rtx4090_numa")
    info = hardware.probe()
    assert info.interconnect == "pcie" and info.topology[0]["path"] == "the link between CPU sockets"
    assert plan.make("Qwen/Qwen2.5-7B", overrides={"gpus": 2}, probe=info).distributed["interconnect"] == "pcie"
    install(monkeypatch, "rtx4090")
    assert hardware.probe().interconnect is None and hardware.probe().topology == ()
