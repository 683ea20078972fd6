"""Hardware probe (NVML + host) and a cheap ~1 Hz system sampler.

NVML is reached only through ``pynvml`` (nvidia-ml-py); tests fake it at that
boundary.  Everything degrades to a clear message: no driver, no GPU, NVML
errors all give a probe that plans for the CPU.
"""

from __future__ import annotations

import os
import platform
import shutil
import threading
import time
from pathlib import Path

from . import paths

GB = 1024**3


def _nvml():
    try:
        import pynvml
    except ImportError:
        return None, "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        name = type(exc).__name__
        if "LibraryNotFound" in name or "DriverNotLoaded" in name:
            return None, "no NVIDIA driver found (no NVIDIA GPU visible): danlu plans for the CPU"
        return None, f"NVML could not start ({exc}): danlu plans for the CPU"
    return pynvml, "ok"


def _visible(count: int) -> list[int]:
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is None:
        return list(range(count))
    out = []
    for part in env.split(","):
        part = part.strip()
        if part.isdigit() and int(part) < count:
            out.append(int(part))
    return out


def _str(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _gpu_info(nv, index: int) -> dict:
    h = nv.nvmlDeviceGetHandleByIndex(index)
    mem = nv.nvmlDeviceGetMemoryInfo(h)
    info = {
        "index": index,
        "name": _str(nv.nvmlDeviceGetName(h)),
        "memory_total_gb": round(mem.total / GB, 2),
        "memory_free_gb": round(mem.free / GB, 2),
        "memory_used_gb": round(mem.used / GB, 2),
    }

    def opt(key, fn):
        try:
            info[key] = fn()
        except Exception:  # noqa: BLE001 - a field the card or driver does not report
            info[key] = None

    opt("compute_capability", lambda: "%d.%d" % nv.nvmlDeviceGetCudaComputeCapability(h))
    opt("utilization_pct", lambda: nv.nvmlDeviceGetUtilizationRates(h).gpu)
    opt("temperature_c", lambda: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
    opt("power_w", lambda: round(nv.nvmlDeviceGetPowerUsage(h) / 1000, 1))
    opt("power_limit_w", lambda: round(nv.nvmlDeviceGetEnforcedPowerLimit(h) / 1000, 1))
    opt("processes", lambda: [
        {"pid": p.pid, "memory_gb": round((p.usedGpuMemory or 0) / GB, 2)}
        for p in nv.nvmlDeviceGetComputeRunningProcesses(h)
    ])
    cc = info.get("compute_capability")
    major = int(cc.split(".")[0]) if cc else 0
    info["bf16"] = major >= 8
    return info


def probe(gpu: int | None = None) -> dict:
    """What this machine offers for training: GPUs (via NVML) and the host."""
    nv, nvml_status = _nvml()
    gpus: list[dict] = []
    driver = cuda = None
    if nv is not None:
        try:
            driver = _str(nv.nvmlSystemGetDriverVersion())
            v = nv.nvmlSystemGetCudaDriverVersion()
            cuda = f"{v // 1000}.{(v % 1000) // 10}"
            for i in _visible(nv.nvmlDeviceGetCount()):
                gpus.append(_gpu_info(nv, i))
        except Exception as exc:  # noqa: BLE001
            nvml_status = f"NVML failed while reading the GPUs ({exc}): danlu plans for the CPU"
            gpus = []
        finally:
            try:
                nv.nvmlShutdown()
            except Exception:  # noqa: BLE001
                pass
        if nvml_status == "ok" and not gpus:
            nvml_status = "the NVIDIA driver sees no GPU (check CUDA_VISIBLE_DEVICES): danlu plans for the CPU"
    selected = None
    if gpus:
        selected = gpus[0] if gpu is None else next((g for g in gpus if g["index"] == gpu), None)
    return {
        "accelerator": "cuda" if gpus else "cpu",
        "nvml": nvml_status,
        "driver": driver,
        "cuda_driver": cuda,
        "gpus": gpus,
        "selected_gpu": selected["index"] if selected else None,
        "host": host_info(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_info() -> dict:
    import psutil

    vm = psutil.virtual_memory()
    root = paths.runs_root()
    probe_dir = root if root.exists() else next((p for p in root.parents if p.exists()), Path.cwd())
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_total_gb": round(vm.total / GB, 2),
        "ram_available_gb": round(vm.available / GB, 2),
        "disk_free_gb": round(shutil.disk_usage(probe_dir).free / GB, 2),
        "disk_path": str(probe_dir),
    }


class SystemSampler:
    """Calls ``callback(sample)`` about every ``interval`` seconds from a daemon thread."""

    def __init__(self, callback, interval: float = 1.0):
        self.callback = callback
        self.interval = interval
        self._stop = threading.Event()
        self._thread = None
        self._nv = None
        self._handles: list = []

    def sample(self) -> dict:
        import psutil

        vm = psutil.virtual_memory()
        out = {
            "cpu_pct": psutil.cpu_percent(interval=None),
            "ram_used_gb": round((vm.total - vm.available) / GB, 2),
            "ram_total_gb": round(vm.total / GB, 2),
            "rss_gb": round(psutil.Process().memory_info().rss / GB, 3),
            "gpus": [],
        }
        nv = self._nv
        for index, h in self._handles:
            try:
                mem = nv.nvmlDeviceGetMemoryInfo(h)
                out["gpus"].append({
                    "index": index,
                    "util_pct": nv.nvmlDeviceGetUtilizationRates(h).gpu,
                    "mem_used_gb": round(mem.used / GB, 2),
                    "mem_total_gb": round(mem.total / GB, 2),
                    "temp_c": nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU),
                    "power_w": round(nv.nvmlDeviceGetPowerUsage(h) / 1000, 1),
                })
            except Exception:  # noqa: BLE001 - skip a card that stopped answering
                continue
        return out

    def _loop(self):
        while not self._stop.wait(self.interval):
            try:
                self.callback(self.sample())
            except Exception:  # noqa: BLE001 - sampling must never break training
                pass

    def start(self):
        nv, status = _nvml()
        if nv is not None:
            self._nv = nv
            try:
                self._handles = [(i, nv.nvmlDeviceGetHandleByIndex(i)) for i in _visible(nv.nvmlDeviceGetCount())]
            except Exception:  # noqa: BLE001
                self._handles = []
        import psutil

        psutil.cpu_percent(interval=None)
        self._thread = threading.Thread(target=self._loop, name="danlu-sampler", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self._nv is not None:
            try:
                self._nv.nvmlShutdown()
            except Exception:  # noqa: BLE001
                pass
            self._nv = None
