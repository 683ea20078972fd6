"""A fake ``pynvml`` built from a profile in presets/gpus.yaml: NVML is faked at its boundary only."""

from __future__ import annotations

import sys
import types
from collections import namedtuple

import yaml

from danlu.engine.core import paths

MiB = 1024**2
Memory = namedtuple("Memory", "total free used")
Util = namedtuple("Util", "gpu memory")
Proc = namedtuple("Proc", "pid usedGpuMemory")


class NVMLError(Exception):
    pass


class NVMLError_LibraryNotFound(NVMLError):
    pass


class NVMLError_NotSupported(NVMLError):
    pass


def profiles() -> dict:
    return yaml.safe_load((paths.presets_dir() / "gpus.yaml").read_text())


def make_module(profile: str | None, *, missing_library: bool = False, calls: list | None = None):
    """A module object with the pynvml functions danlu uses, answering for ``profile``."""
    data = profiles()
    mod = types.ModuleType("pynvml")
    mod.NVMLError = NVMLError
    mod.NVMLError_LibraryNotFound = NVMLError_LibraryNotFound
    mod.NVML_TEMPERATURE_GPU = 0
    prof = data["profiles"][profile] if profile else {"gpus": []}
    cards = [dict(data["cards"][c]) for c in prof["gpus"]]
    procs = {int(k): v for k, v in (prof.get("processes") or {}).items()}
    migs = {int(k): v for k, v in (prof.get("mig") or {}).items()}

    def log(name):
        if calls is not None:
            calls.append(name)

    def init():
        log("init")
        if missing_library:
            raise NVMLError_LibraryNotFound("NVML Shared Library Not Found")

    mod.nvmlInit = init
    mod.nvmlShutdown = lambda: log("shutdown")
    mod.nvmlSystemGetDriverVersion = lambda: data["driver"]
    mod.nvmlSystemGetCudaDriverVersion = lambda: data["cuda_driver"]
    mod.nvmlDeviceGetCount = lambda: len(cards)

    def handle(i):
        if not 0 <= i < len(cards):
            raise NVMLError("Invalid Argument")
        return ("gpu", i)

    mod.nvmlDeviceGetHandleByIndex = handle

    def card(h):
        return cards[h[1]]

    def used_mib(i):
        return card(("gpu", i))["idle_used_mib"] + sum(p["used_mib"] for p in procs.get(i, []))

    def memory(h):
        if h[0] == "mig":
            m = migs[h[1]][h[2]]
            return Memory(m["total_mib"] * MiB, (m["total_mib"] - m["used_mib"]) * MiB, m["used_mib"] * MiB)
        c = card(h)
        used = used_mib(h[1])
        return Memory(c["total_mib"] * MiB, (c["total_mib"] - used) * MiB, used * MiB)

    mod.nvmlDeviceGetMemoryInfo = memory
    mod.nvmlDeviceGetName = lambda h: card(h)["name"]
    mod.nvmlDeviceGetUUID = lambda h: (f"GPU-fake-{h[1]:04d}" if h[0] == "gpu" else f"MIG-fake-{h[1]}-{h[2]}")
    mod.nvmlDeviceGetCudaComputeCapability = lambda h: tuple(card(h)["cc"])
    mod.nvmlDeviceGetUtilizationRates = lambda h: Util(37 if procs.get(h[1]) else 0, 5)
    mod.nvmlDeviceGetTemperature = lambda h, kind: 41
    mod.nvmlDeviceGetPowerUsage = lambda h: 61_000
    mod.nvmlDeviceGetEnforcedPowerLimit = lambda h: card(h)["power_limit_w"] * 1000
    mod.nvmlDeviceGetComputeRunningProcesses = lambda h: [Proc(p["pid"], p["used_mib"] * MiB) for p in procs.get(h[1], [])]
    mod.nvmlDeviceGetGraphicsRunningProcesses = lambda h: []

    def mig_mode(h):
        if h[1] in migs:
            return (1, 1)
        if card(h)["cc"][0] >= 8 and "A100" in card(h)["name"] or "H100" in card(h)["name"]:
            return (0, 0)
        raise NVMLError_NotSupported("Not Supported")

    mod.nvmlDeviceGetMigMode = mig_mode
    mod.nvmlDeviceGetMaxMigDeviceCount = lambda h: 7 if h[1] in migs else 0

    def mig_handle(h, j):
        if j >= len(migs.get(h[1], [])):
            raise NVMLError("Not Found")
        return ("mig", h[1], j)

    mod.nvmlDeviceGetMigDeviceHandleByIndex = mig_handle

    def nvlink_state(h, link):  # a card without NVLink (or a link beyond its count) is "not supported"
        if link >= int(prof.get("nvlinks", 0)):
            raise NVMLError_NotSupported("Not Supported")
        return 1

    mod.nvmlDeviceGetNvLinkState = nvlink_state
    mod.nvmlDeviceGetTopologyCommonAncestor = lambda a, b: int(prof.get("topology", 30))
    return mod


def install(monkeypatch, profile: str | None, **kw):
    mod = make_module(profile, **kw)
    monkeypatch.setitem(sys.modules, "pynvml", mod)
    return mod
