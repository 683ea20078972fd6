"""Hardware probe (NVML + host) and a cheap ~1 Hz system sampler.

NVML is reached only through ``pynvml`` (nvidia-ml-py); tests fake it at that
boundary with recorded card profiles (``presets/gpus.yaml``).  torch is *not*
imported here (it costs seconds): its build (CPU, CUDA x.y, ROCm) is read from the
installed package's version.  Everything degrades to a clear message — no driver,
no GPU, NVML errors, a CPU-only torch on a GPU box, Apple MPS, ROCm — and a probe
that the planner can use.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..core import paths
from ..core.texts import msg

GB = 1024**3


# -- what a probe finds (``danlu probe --json`` prints Probe.to_dict()) ----------------------------
@dataclass(frozen=True)
class Process:
    """Another process holding memory on a GPU."""

    pid: int
    name: str | None
    memory_gb: float


@dataclass(frozen=True)
class GPU:
    """One visible GPU as NVML reports it; ``usable_gb`` is what danlu plans with (its MIG instance's free memory
    on a MIG-split card)."""

    index: int
    name: str
    memory_total_gb: float
    memory_free_gb: float
    memory_used_gb: float
    usable_gb: float
    uuid: str | None = None
    compute_capability: str | None = None  # "8.6"
    utilization_pct: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    processes: tuple = ()  # Process, ...
    bf16: bool = False  # Ampere and newer
    tf32: bool = False
    flash_attention_2: bool = False  # FlashAttention-2 needs sm80+
    sdpa_efficient: bool = False  # memory-efficient SDPA kernels
    mig: dict = field(default_factory=lambda: {"enabled": False, "instances": []})
    nvlinks: int = 0  # active NVLink links (0: PCIe only)

    @property
    def cc(self) -> tuple[int, int] | None:
        """The compute capability as numbers, (8, 6)."""
        if not self.compute_capability:
            return None
        major, _, minor = self.compute_capability.partition(".")
        return int(major), int(minor or 0)


@dataclass(frozen=True)
class TorchBuild:
    version: str | None
    build: str | None  # cpu, cuda or rocm
    cuda: str | None


@dataclass(frozen=True)
class Host:
    cpu: str
    cores: int | None
    ram_total_gb: float
    ram_available_gb: float
    disk_free_gb: float
    disk_path: str


@dataclass(frozen=True)
class Probe:
    """What this machine offers for training.  Frozen: choosing another GPU makes a new one (:meth:`with_gpu`)."""

    accelerator: str  # cuda, cpu, mps or rocm
    nvml: str  # "ok", or why NVML gave no GPU
    driver: str | None
    cuda_driver: str | None
    torch: TorchBuild
    gpus: tuple  # GPU, ...
    selected_gpu: int | None
    warnings: tuple  # engine texts (Msg)
    host: Host
    interconnect: str | None = None  # with several GPUs: "nvlink" (every GPU has active NVLinks) or "pcie"
    topology: tuple = ()  # each pair of GPUs: {"gpus": [i, j], "path": how NVML says they are connected}

    def selected(self) -> GPU | None:
        """The selected GPU, or None on a machine without one."""
        return next((g for g in self.gpus if g.index == self.selected_gpu), None)

    def with_gpu(self, index: int | None) -> "Probe":
        """The same probe with GPU ``index`` selected (None when there is no such GPU)."""
        return dataclasses.replace(self, selected_gpu=next((g.index for g in self.gpus if g.index == index), None))

    def link_words(self):
        """How several GPUs are linked, in words (a Msg), or None with fewer than two."""
        from ..core.texts import msg

        if not self.interconnect:
            return None
        if self.interconnect == "nvlink":
            links = "/".join(map(str, sorted({g.nvlinks for g in self.gpus})))
            return msg("link_nvlink", "NVLink ({links} active links a GPU)", links=links)
        return msg("link_pcie", "PCIe (no NVLink)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Probe":
        """A probe read back from its dict (``danlu probe --json``)."""
        gpus = tuple(GPU(**{**g, "processes": tuple(Process(**x) for x in g.get("processes", ()))})
                     for g in d.get("gpus", ()))
        return cls(**{**d, "torch": TorchBuild(**d["torch"]), "gpus": gpus, "warnings": tuple(d.get("warnings", ())),
                      "host": Host(**d["host"]), "topology": tuple(d.get("topology", ()))})


# -- NVML ---------------------------------------------------------------------------------------
def _nvml():
    """(pynvml module initialised, "ok") or (None, why not)."""
    try:
        import pynvml
    except ImportError:
        return None, msg("no_pynvml", "nvidia-ml-py is not installed (pip install nvidia-ml-py)")
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        name = type(exc).__name__
        if "LibraryNotFound" in name or "DriverNotLoaded" in name:
            return None, msg("no_driver", "no NVIDIA driver found (no NVIDIA GPU visible)")
        if "LibRmVersionMismatch" in name:
            return None, msg("driver_mismatch",
                             "the NVIDIA driver and its library disagree (a driver update without a reboot?): reboot")
        return None, f"NVML could not start ({exc})"
    return pynvml, "ok"


def _str(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _visible(nv, count: int) -> list[tuple[int, str | None]]:
    """The (physical index, MIG UUID or None) pairs CUDA_VISIBLE_DEVICES lets CUDA see."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is None:
        return [(i, None) for i in range(count)]
    uuids = {}
    for i in range(count):
        try:
            uuids[_str(nv.nvmlDeviceGetUUID(nv.nvmlDeviceGetHandleByIndex(i)))] = i
        except Exception:  # noqa: BLE001
            pass
    out = []
    for part in (p.strip() for p in env.split(",")):
        if not part or part == "-1":
            break  # CUDA stops at the first invalid entry
        if part.isdigit():
            if int(part) >= count:
                break
            out.append((int(part), None))
        elif part.startswith("MIG-"):
            for i in range(count):
                if any(m["uuid"] == part for m in _mig_instances(nv, nv.nvmlDeviceGetHandleByIndex(i))):
                    out.append((i, part))
                    break
        else:
            match = [i for u, i in uuids.items() if u.startswith(part)]
            if len(match) != 1:
                break
            out.append((match[0], None))
    return out


def _mig_instances(nv, handle) -> list[dict]:
    try:
        current, _pending = nv.nvmlDeviceGetMigMode(handle)
    except Exception:  # noqa: BLE001 - not a MIG-capable card
        return []
    if not current:
        return []
    instances = []
    try:
        count = nv.nvmlDeviceGetMaxMigDeviceCount(handle)
    except Exception:  # noqa: BLE001
        return []
    for i in range(count):
        try:
            mh = nv.nvmlDeviceGetMigDeviceHandleByIndex(handle, i)
            mem = nv.nvmlDeviceGetMemoryInfo(mh)
            instances.append({"uuid": _str(nv.nvmlDeviceGetUUID(mh)), "memory_total_gb": round(mem.total / GB, 2),
                              "memory_free_gb": round(mem.free / GB, 2)})
        except Exception:  # noqa: BLE001 - an empty MIG slot
            continue
    return instances


def _capabilities(cc: str | None) -> dict:
    major, minor = (int(x) for x in cc.split(".")) if cc else (0, 0)
    return {
        "bf16": major >= 8,               # Ampere and newer
        "tf32": major >= 8,
        "flash_attention_2": major >= 8,  # FlashAttention-2 needs sm80+
        "sdpa_efficient": (major, minor) >= (5, 0),  # memory-efficient SDPA kernels
    }


def _process_name(pid: int) -> str | None:
    try:
        import psutil

        return psutil.Process(pid).name()
    except Exception:  # noqa: BLE001 - another container's process
        return None


def _gpu_info(nv, index: int, mig_uuid: str | None) -> GPU:
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

    opt("uuid", lambda: _str(nv.nvmlDeviceGetUUID(h)))
    opt("compute_capability", lambda: "%d.%d" % tuple(nv.nvmlDeviceGetCudaComputeCapability(h)))
    opt("utilization_pct", lambda: nv.nvmlDeviceGetUtilizationRates(h).gpu)
    opt("temperature_c", lambda: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
    opt("power_w", lambda: round(nv.nvmlDeviceGetPowerUsage(h) / 1000, 1))
    opt("power_limit_w", lambda: round(nv.nvmlDeviceGetEnforcedPowerLimit(h) / 1000, 1))
    procs = []
    for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
        try:
            for p in getattr(nv, getter)(h):
                if p.pid == os.getpid() or any(q["pid"] == p.pid for q in procs):
                    continue
                procs.append({"pid": p.pid, "name": _process_name(p.pid),
                              "memory_gb": round((p.usedGpuMemory or 0) / GB, 2)})
        except Exception:  # noqa: BLE001
            continue
    info.update(_capabilities(info.get("compute_capability")))
    instances = _mig_instances(nv, h)
    info["mig"] = {"enabled": bool(instances), "instances": instances}
    usable = info["memory_free_gb"]
    if instances:
        chosen = next((m for m in instances if m["uuid"] == mig_uuid), instances[0])
        usable = chosen["memory_free_gb"]
        info["mig"]["selected"] = chosen["uuid"]
    info["usable_gb"] = usable
    info["processes"] = tuple(Process(**p) for p in procs)
    info["nvlinks"] = _nvlinks(nv, h)
    return GPU(**info)


NVLINK_MAX = 18  # NVML_NVLINK_MAX_LINKS
PATHS = {0: "the same board", 10: "one PCIe switch", 20: "several PCIe switches", 30: "one PCIe host bridge",
         40: "one CPU socket's PCIe root (NUMA node)", 50: "the link between CPU sockets"}  # NVML_TOPOLOGY_* levels


def _nvlinks(nv, h) -> int:
    """Active NVLink links of a GPU (0 where the card has none or NVML does not say)."""
    n = 0
    for link in range(NVLINK_MAX):
        try:
            n += bool(nv.nvmlDeviceGetNvLinkState(h, link))
        except Exception:  # noqa: BLE001 - no such link (or no NVLink at all): the rest are absent too
            break
    return n


def _topology(nv, gpus: list) -> tuple[str | None, tuple]:
    """How several GPUs are linked: NVLink when every one has active links, else PCIe; and each pair's PCIe path."""
    if len(gpus) < 2:
        return None, ()
    pairs = []
    for i, a in enumerate(gpus):
        for b in gpus[i + 1:]:
            try:
                level = nv.nvmlDeviceGetTopologyCommonAncestor(nv.nvmlDeviceGetHandleByIndex(a.index),
                                                               nv.nvmlDeviceGetHandleByIndex(b.index))
                path = PATHS.get(int(level), f"level {int(level)}")
            except Exception:  # noqa: BLE001 - NVML without topology (e.g. on WSL)
                path = None
            pairs.append({"gpus": [a.index, b.index], "path": path})
    return ("nvlink" if all(g.nvlinks for g in gpus) else "pcie"), tuple(pairs)


# -- torch build, without importing torch ---------------------------------------------------------
def torch_build() -> TorchBuild:
    """The installed torch's version and build (cpu, cuda x.y, rocm x.y), read from package metadata."""
    from importlib import metadata

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return TorchBuild(None, None, None)
    local = version.partition("+")[2]
    if local.startswith("cu") and local[2:].isdigit():
        digits = local[2:]
        return TorchBuild(version, "cuda", f"{digits[:-1]}.{digits[-1]}")
    if local.startswith("rocm"):
        return TorchBuild(version, "rocm", None)
    if local == "cpu":
        return TorchBuild(version, "cpu", None)
    # PyPI's Linux wheels carry no local tag and are CUDA builds; the CUDA version is in the runtime package
    cuda = None
    for dist in ("nvidia-cuda-runtime-cu12", "nvidia-cuda-runtime-cu13", "nvidia-cuda-runtime"):
        try:
            m = re.match(r"(\d+)\.(\d+)", metadata.version(dist))
            cuda = f"{m.group(1)}.{m.group(2)}" if m else None
            break
        except metadata.PackageNotFoundError:
            continue
    build = "cuda" if cuda or platform.system() == "Linux" else "cpu"
    return TorchBuild(version, build, cuda)


def _version_tuple(v: str | None) -> tuple:
    return tuple(int(x) for x in re.findall(r"\d+", v or "")[:2]) or (0,)


def _rocm_present() -> bool:
    return Path("/dev/kfd").exists() or Path("/opt/rocm").exists()


# -- the probe -----------------------------------------------------------------------------------
def probe(gpu: int | None = None) -> Probe:
    """What this machine offers for training: GPUs (via NVML), torch's build, the host, and warnings."""
    nv, status = _nvml()
    gpus: list[GPU] = []
    interconnect, topology = None, ()
    driver = cuda = None
    warnings: list[str] = []
    if nv is not None:
        try:
            driver = _str(nv.nvmlSystemGetDriverVersion())
            v = nv.nvmlSystemGetCudaDriverVersion()
            cuda = f"{v // 1000}.{(v % 1000) // 10}"
            for index, mig in _visible(nv, nv.nvmlDeviceGetCount()):
                gpus.append(_gpu_info(nv, index, mig))
            interconnect, topology = _topology(nv, gpus)
        except Exception as exc:  # noqa: BLE001
            status = f"NVML failed while reading the GPUs ({exc})"
            gpus, interconnect, topology = [], None, ()
        finally:
            try:
                nv.nvmlShutdown()
            except Exception:  # noqa: BLE001
                pass
        if status == "ok" and not gpus:
            status = (msg("no_gpu_visible", "the NVIDIA driver sees no GPU that CUDA_VISIBLE_DEVICES allows")
                      if "CUDA_VISIBLE_DEVICES" in os.environ else msg("no_gpu", "the NVIDIA driver sees no GPU"))
    tb = torch_build()
    accelerator = "cuda" if gpus else "cpu"
    if not gpus:
        if platform.system() == "Darwin" and platform.machine() == "arm64":
            accelerator = "mps"
            warnings.append(msg("mps", "Apple silicon (MPS): no bitsandbytes 4-bit; danlu plans LoRA conservatively "
                                       "within 60 % of unified memory"))
        elif _rocm_present() or tb.build == "rocm":
            accelerator = "rocm"
            warnings.append(msg("rocm", "AMD GPU (ROCm): NVML cannot read it; pass --gpu-mem GB to `danlu plan`; "
                                        "bitsandbytes 4-bit may be unavailable"))
        else:
            warnings.append(msg("cpu_plan", "{status}: danlu plans for the CPU (slow; fine for the demo model)",
                                status=status))
    else:
        if tb.build == "cpu":
            cu = "".join(cuda.split(".")) if cuda else "128"
            warnings.append(msg("cpu_torch", "torch {version} is a CPU-only build on a machine with an NVIDIA GPU: "
                                             "training would run on the CPU. Fix: {command}", version=tb.version,
                                command=f"pip install --force-reinstall torch --index-url "
                                        f"https://download.pytorch.org/whl/cu{cu}"))
        elif tb.cuda and cuda and _version_tuple(cuda) < _version_tuple(tb.cuda):
            warnings.append(msg("old_driver", "the driver ({driver}) supports CUDA {cuda} but torch {version} needs "
                                              "CUDA {needs}: update the NVIDIA driver, or install a torch build for "
                                              "CUDA {cuda}", driver=driver, cuda=cuda, version=tb.version,
                                needs=tb.cuda))
        for g in gpus:
            held = sum(p.memory_gb for p in g.processes)
            if g.processes:
                who = ", ".join(f"pid {p.pid}" + (f" {p.name}" if p.name else "") for p in g.processes[:3])
                warnings.append(msg("shared_gpu", "GPU {index} is shared: {held:.1f} GB held by {n} other "
                                                  "process(es) ({who}); danlu plans with the {free:.1f} GB that are free",
                                    index=g.index, held=held, n=len(g.processes), who=who, free=g.usable_gb))
            if g.mig["enabled"]:
                warnings.append(msg("mig", "GPU {index} is split by MIG into {n} instance(s): danlu plans for one "
                                           "instance ({free:.1f} GB free)", index=g.index,
                                    n=len(g.mig["instances"]), free=g.usable_gb))
    selected = None
    if gpus:
        selected = gpus[0].index if gpu is None else next((g.index for g in gpus if g.index == gpu), None)
    return Probe(accelerator=accelerator, nvml=status, driver=driver, cuda_driver=cuda, torch=tb, gpus=tuple(gpus),
                 selected_gpu=selected, warnings=tuple(warnings), host=host_info(), interconnect=interconnect,
                 topology=topology)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_info() -> Host:
    import psutil

    vm = psutil.virtual_memory()
    root = paths.runs_root()
    probe_dir = root if root.exists() else next((p for p in root.parents if p.exists()), Path.cwd())
    return Host(cpu=_cpu_model(), cores=os.cpu_count(), ram_total_gb=round(vm.total / GB, 2),
                ram_available_gb=round(vm.available / GB, 2),
                disk_free_gb=round(shutil.disk_usage(probe_dir).free / GB, 2), disk_path=str(probe_dir))


# -- the sampler ---------------------------------------------------------------------------------
def _local_ranks(me) -> list:
    """The ranks of this machine when this process is one rank of a torchrun launch: (rank, psutil.Process) of
    every child of the launcher that has a RANK in its environment, in rank order (empty otherwise)."""
    import os

    import psutil

    if int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return []
    try:
        ranks = []
        for proc in me.parent().children():
            rank = proc.environ().get("RANK")
            if rank is not None:
                proc.cpu_percent(interval=None)  # the first call starts its CPU clock
                ranks.append((int(rank), proc))
        return sorted(ranks, key=lambda r: r[0])
    except (psutil.Error, ValueError, AttributeError):
        return []


class SystemSampler:
    """Samples CPU, RAM and every visible GPU; ``start()`` calls ``callback(sample)`` ~every ``interval`` s.

    The training process writes the samples as ``system`` events; the dashboard can use
    :meth:`sample` directly.  One sample costs well under a millisecond (see bench/probe_speed.py).
    """

    def __init__(self, callback=None, interval: float = 1.0):
        self.callback = callback
        self.interval = interval
        self._stop = threading.Event()
        self._thread = None
        self._nv = None
        self._handles: list = []
        self._proc = None
        self._ranks: list = []

    def open(self) -> "SystemSampler":
        import psutil

        nv, _status = _nvml()
        if nv is not None:
            self._nv = nv
            try:
                self._handles = [(i, nv.nvmlDeviceGetHandleByIndex(i)) for i, _ in _visible(nv, nv.nvmlDeviceGetCount())]
            except Exception:  # noqa: BLE001
                self._handles = []
        self._proc = psutil.Process()
        self._ranks = _local_ranks(self._proc)
        psutil.cpu_percent(interval=None)
        return self

    def sample(self) -> dict:
        import psutil

        if self._proc is None:
            self.open()
        vm = psutil.virtual_memory()
        out = {
            "cpu_pct": psutil.cpu_percent(interval=None),
            "ram_used_gb": round((vm.total - vm.available) / GB, 2),
            "ram_total_gb": round(vm.total / GB, 2),
            "rss_gb": round(self._proc.memory_info().rss / GB, 3),
            "gpus": [],
        }
        ranks = []
        for rank, proc in self._ranks:
            try:
                ranks.append({"rank": rank, "pid": proc.pid, "rss_gb": round(proc.memory_info().rss / GB, 3),
                              "cpu_pct": round(proc.cpu_percent(interval=None), 1)})
            except psutil.Error:  # a rank that ended
                continue
        if ranks:
            out["ranks"] = ranks
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
        if self._proc is None:
            self.open()
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
