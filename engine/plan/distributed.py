"""Several devices: which way of spreading a fine-tune over them fits each device, and which is fastest.

The strategies are PyTorch's own (torchrun ranks; no home-made parallelism):

* ``single``: one device trains, the others idle (QLoRA's usual home: bitsandbytes 4-bit weights on one card);
* ``ddp``: every rank holds the whole model and its optimizer (DistributedDataParallel); gradients are averaged
  by an all-reduce once per optimizer step (accumulation steps run under ``no_sync``).  DDP's reducer keeps its
  own flat copy of the gradients in buckets (``gradient_as_bucket_view`` is off in transformers' Trainer), which
  is counted (``comm_buckets``);
* ``fsdp``: FSDP2 ``fully_shard`` on each decoder layer and on the root (ZeRO-3 equivalent): weights, gradients
  and optimizer states are divided by the world size; each layer's weights are all-gathered for its forward and
  again for its backward, so a device holds its shards plus the layer being computed and the next one
  (prefetched), and the root's embedding and head, which FSDP2 keeps gathered from forward to backward
  (``gathered``); a full fine-tune's layer gradient exists unsharded until its reduce-scatter;
* ``fsdp_offload``: the same with ``CPUOffloadPolicy``: shards, gradients and the optimizer live in host memory
  (the optimizer steps on the CPU); the device holds only what is gathered and the activations.  Host memory is
  then a limit too (all ranks of a node share it).

Memory per device is :func:`engine.plan.memory.memory_terms` for the per-rank micro-batch, with the terms above
divided or added.  Speed: the compute of one optimizer step split over the ranks that train, plus the
communication each strategy moves per step (ring collectives: a device sends and receives (N-1)/N of the
buffer per all-gather or reduce-scatter, twice that per all-reduce) at the interconnect's bandwidth, of which
``OVERLAP`` is hidden behind compute (DDP's bucketed all-reduce overlaps backward; FSDP prefetches the next
layer); offload adds the host↔device copies and the CPU optimizer step.

The choice (:func:`choose`): the highest-fidelity method (full → LoRA → QLoRA, from the recipe's preference
when it has one) that fits on some strategy without offloading, else with offloading; for it, the fastest
strategy that fits.  Each option is kept with its per-device peak and step time, so the plan can show why.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..core.config import STRATEGIES  # one list: the config validates against it
from ..core.texts import Msg, msg
from . import memory

# rough compute model for the time estimates (engine.plan.value's too): FLOPs per trained token (forward 2P, backward
# 2P for the activation gradients, 2P more for the weight gradients of a full fine-tune), at a share of the peak
FLOPS_PER_PARAM = {"full": 6, "lora": 4, "qlora": 5}  # QLoRA dequantises every weight in both passes
CPU_FLOPS_PER_CORE = 5e10  # what danlu's runner reaches on this repository's 2-core CI machine (bench/train_speed)
GPU_MFU = 0.35
GPU_PEAK_TFLOPS = {(7, 0): 112, (7, 5): 65, (8, 0): 312, (8, 6): 71, (8, 7): 40, (8, 9): 165, (9, 0): 990}
SHARDED = ("weights", "reference", "adapters", "optimizer", "optimizer_paged", "gradients", "optimizer_step",
           "quant_constants")  # what FSDP divides by the world size
OFFLOADED = ("weights", "reference", "adapters", "optimizer", "optimizer_paged", "gradients", "optimizer_step",
             "quant_constants")  # what CPU offload moves to host memory
# bytes per second a collective moves per device (bus bandwidth, what nccl-tests reports as busbw)
BANDWIDTH = {"nvlink": 150e9, "pcie": 12e9, "network": 12e9, "cpu": 2e9}
LINK_NAMES = {"nvlink": "NVLink", "pcie": "PCIe", "network": "the network between nodes", "cpu": "gloo on the CPU"}
PCIE_HOST = 12e9  # host↔device copies of an offloaded run (PCIe 4.0 x16, pinned memory)
CPU_ADAM_PARAMS_PER_S = 1e9  # an offloaded optimizer's step on the host (torch's foreach AdamW on a server CPU)
OVERLAP = 0.5  # share of the communication hidden behind compute
COLLECTIVE_TIMEOUT_S = 600  # torch.distributed's time-out: a rank that dies or hangs ends the run within this
HOST_SHARE = 0.8  # share of the host's available RAM an offloaded run may use


@dataclass(frozen=True)
class Layout:
    """The devices a run spans: GPUs per node, nodes, the interconnect within a node, and each device's memory."""

    gpus_per_node: int
    nodes: int = 1
    link: str = "pcie"  # nvlink | pcie | cpu
    device_gb: float = 24.0  # memory each device may use (the probe's free memory, or --gpu-mem)
    host_gb: float | None = None  # RAM available on each node (None: not known, offloading not limited by it)

    @property
    def world(self) -> int:
        return self.gpus_per_node * self.nodes

    def bandwidth(self) -> float:
        """The slowest hop a collective over every rank crosses."""
        own = BANDWIDTH.get(self.link, BANDWIDTH["pcie"])
        return min(own, BANDWIDTH["network"]) if self.nodes > 1 else own

    def slowest_link(self) -> str:
        return "network" if self.nodes > 1 and BANDWIDTH["network"] <= BANDWIDTH.get(self.link, 0) else self.link


@dataclass
class Option:
    """One way to run: a strategy and method at a per-rank micro-batch, its per-device memory and speed."""

    strategy: str
    method: str
    micro_batch: int
    grad_accum: int
    grad_checkpointing: bool
    optimizer: str
    terms: dict  # GB per device, by cause
    peak_gb: float  # per device
    host_gb: float  # per node, for what is offloaded
    fits: bool
    step_s: float  # seconds per optimizer step at the effective batch
    compute_s: float  # of which compute
    comm_s: float  # communication (before overlap)
    reason: Msg | str = ""
    ranks: int = 1  # ranks that train (1 for single)

    @property
    def samples(self) -> int:
        """Samples an optimizer step sees across the ranks."""
        return self.micro_batch * self.grad_accum * self.ranks

    @property
    def sample_s(self) -> float:
        """Seconds per training sample: what the strategies are compared by (their steps differ in size)."""
        return self.step_s / max(1, self.samples)

    def to_dict(self) -> dict:
        out = asdict(self)  # the reason stays a Msg (a str): a screen says it in its language
        for k in ("step_s", "compute_s", "comm_s"):
            out[k] = float(f"{out[k]:.4g}")
        return out


def _largest_unit(shape: memory.ModelShape) -> tuple[int, int]:
    """(parameters of one decoder layer, parameters of the root: embedding, head and final norm) — FSDP's units."""
    block = shape.attn_params + shape.mlp_params + (shape.norm_params - (2 * shape.hidden if shape.layer_norm else
                                                                           shape.hidden)) // max(1, shape.layers)
    root = shape.embed_params + (2 * shape.hidden if shape.layer_norm else shape.hidden)
    return block, root


def device_terms(terms: dict, shape: memory.ModelShape, method: str, strategy: str, world: int, *,
                 precision: str, trained: int) -> tuple[dict, float]:
    """Per-device bytes by cause for ``strategy`` over ``world`` ranks, from one device's ``terms`` (bytes) at the
    same per-rank micro-batch; and the host bytes each rank offloads."""
    wbytes = 4 if precision == "fp32" else 2
    t = dict(terms)
    host = 0.0
    if strategy == "ddp":
        t["comm_buckets"] = trained * wbytes  # the reducer's flat gradient buckets
    elif strategy in ("fsdp", "fsdp_offload"):
        for k in SHARDED:
            if k in t:
                t[k] = t[k] / world
        block, root = _largest_unit(shape)
        gathered = (2 * block + root) * wbytes  # the computing layer, the prefetched one, the root kept gathered
        if method == "full":
            gathered += block * wbytes  # a layer's unsharded gradient before its reduce-scatter
        t["gathered"] = gathered
        if strategy == "fsdp_offload":
            for k in OFFLOADED:
                if k in t:
                    host += t[k]
                    t[k] = 0.0
    if strategy != "single":
        dynamic = sum(t.get(k, 0.0) for k in ("activations", "logits", "eval", "optimizer_step", "dequant_workspace",
                                              "gathered"))
        static = sum(v for k, v in t.items() if k not in ("allocator", "optimizer_paged", "cuda_context", "runtime"))
        static -= dynamic
        t["allocator"] = memory.ALLOCATOR_DYNAMIC * dynamic + memory.ALLOCATOR_STATIC * static
    return {k: v for k, v in t.items() if v or k in terms}, host


def step_seconds(strategy: str, layout: Layout, *, params: int, trained: int, method: str, tokens_per_step: float,
                 micro_steps: int, flops_per_device: float, flops_per_param: float, precision: str,
                 quantized: bool) -> tuple[float, float, float]:
    """(step seconds, compute seconds, communication seconds) of one optimizer step."""
    # one device trains alone; CPU processes share the host's cores, so one process alone has them all
    ranks = 1 if strategy == "single" and layout.link != "cpu" else layout.world
    compute = tokens_per_step * flops_per_param * params / (flops_per_device * ranks)
    n = layout.world
    ring = (n - 1) / n
    wbytes = 4 if precision == "fp32" else 2
    weight_bytes = params * (0.5 if quantized else wbytes)
    grad_bytes = trained * wbytes
    bw = layout.bandwidth()
    comm = 0.0
    if strategy == "ddp":
        comm = 2 * ring * grad_bytes / bw  # one all-reduce a step (no_sync while accumulating)
    elif strategy in ("fsdp", "fsdp_offload"):
        # every micro-step: all-gather for forward and again for backward, reduce-scatter of the gradients
        comm = micro_steps * (2 * ring * weight_bytes + ring * grad_bytes) / bw
        if strategy == "fsdp_offload":  # shards to the device and gradients back, every micro-step; Adam on the host
            comm += micro_steps * (weight_bytes + grad_bytes) / n / PCIE_HOST
            compute += trained / n / CPU_ADAM_PARAMS_PER_S
    return compute + (1 - OVERLAP) * comm, compute, comm


def options(shape: memory.ModelShape, layout: Layout, *, methods: list, seq_len: int, target_batch: int,
            precision: str, optimizer: str, lora_r: int, lora_targets: str, lora_dropout: float,
            grad_checkpointing: bool | None, micro_batch: int | None, flops_per_device: float,
            flops_per_param: dict, knobs: dict | None = None, gpu: bool = True,
            strategies: tuple | None = None) -> list[Option]:
    """Every (strategy, method) option at its largest fitting per-rank micro-batch (or the smallest, not fitting);
    ``strategies`` limits them (a strategy you chose)."""
    sequences = int((knobs or {}).get("sequences", 1))
    usable = layout.device_gb * memory.GB * (1 - memory.MARGIN)
    host_usable = layout.host_gb * memory.GB * HOST_SHARE if layout.host_gb else None
    out = []
    for method in methods:
        trained = shape.params if method == "full" else shape.lora_params(lora_r, lora_targets)
        for strategy in strategies or STRATEGIES:
            if strategy != "single" and layout.world < 2:
                continue
            if method == "qlora" and strategy in ("fsdp", "fsdp_offload"):
                continue  # bitsandbytes' 4-bit weights with FSDP2 are not a path danlu runs
            if strategy == "fsdp_offload" and not gpu:
                continue  # on the CPU the "device" memory is the host's already
            ranks = 1 if strategy == "single" else layout.world
            per_rank = max(1, math.ceil(target_batch / ranks))
            batches = [micro_batch] if micro_batch else [b for b in (32, 16, 8, 4, 2, 1) if b <= per_rank] or [1]
            gcs = [grad_checkpointing] if grad_checkpointing is not None else [False, True]
            best = None
            for gc in gcs:
                for mb in batches:
                    accum = max(1, math.ceil(target_batch / (mb * ranks)))
                    single = memory.memory_terms(shape, method, mb, seq_len, precision=precision,
                                                 grad_checkpointing=gc, optimizer=optimizer, lora_r=lora_r,
                                                 lora_targets=lora_targets, gpu=gpu, lora_dropout=lora_dropout,
                                                 eval_batch=mb, grad_accum=accum, **(knobs or {}))
                    terms, host = device_terms(single, shape, method, strategy, ranks, precision=precision,
                                               trained=trained)
                    peak = sum(terms.values())
                    node_host = host * layout.gpus_per_node
                    fits = peak <= usable and (host_usable is None or node_host <= host_usable)
                    if fits or (best is None and gc == gcs[-1] and mb == batches[-1]):
                        step, comp, comm = step_seconds(
                            strategy, layout, params=shape.params, trained=trained, method=method,
                            tokens_per_step=mb * accum * ranks * seq_len * sequences, micro_steps=accum,
                            flops_per_device=flops_per_device, flops_per_param=flops_per_param.get(method, 6),
                            precision=precision, quantized=method == "qlora")
                        best = Option(strategy, method, mb, accum, gc, optimizer,
                                      {k: round(v / memory.GB, 3) for k, v in terms.items()},
                                      round(peak / memory.GB, 2), round(node_host / memory.GB, 2), fits,
                                      step, comp, comm, ranks=ranks)  # unrounded: a tiny model's step is µs
                    if fits:
                        break
                if best is not None and best.fits:
                    break  # checkpointing only when it buys a fit
            best.reason = _option_reason(best, layout, usable / memory.GB, host_usable)
            out.append(best)
    return out


def _option_reason(o: Option, layout: Layout, usable_gb: float, host_usable) -> Msg:
    if o.fits and o.host_gb:  # offloaded: the host's share is a requirement too (unknown host RAM is not checked)
        return msg("dist_fits_host", "{peak:.1f} GB a device at micro-batch {mb}, about {s:.3g} s a step, and "
                   "{host:.0f} GB of host memory a node", peak=o.peak_gb, mb=o.micro_batch, s=o.step_s,
                   host=o.host_gb)
    if o.fits:
        return msg("dist_fits", "{peak:.1f} GB a device at micro-batch {mb}, about {s:.3g} s a step", peak=o.peak_gb,
                   mb=o.micro_batch, s=o.step_s)
    if host_usable is not None and o.host_gb * memory.GB > host_usable:
        return msg("dist_no_host", "needs {host:.0f} GB of host memory per node, {usable:.0f} GB usable",
                   host=o.host_gb, usable=host_usable / memory.GB)
    return msg("dist_no_fit", "needs {peak:.1f} GB a device, {usable:.1f} GB usable", peak=o.peak_gb,
               usable=usable_gb)


def choose(opts: list, prefer: str | None = None) -> Option | None:
    """The highest-fidelity method (from ``prefer``) that fits without offloading, else with it; its fastest
    strategy.  None when nothing fits."""
    methods = list(dict.fromkeys(o.method for o in opts))
    if prefer in methods:
        methods = methods[methods.index(prefer):]
    for allow_offload in (False, True):
        for m in methods:
            fitting = [o for o in opts if o.method == m and o.fits and (allow_offload or o.strategy != "fsdp_offload")]
            if fitting:
                return min(fitting, key=lambda o: (o.sample_s, STRATEGIES.index(o.strategy)))
    return None


@dataclass(frozen=True)
class Decision:
    """The distributed block of a plan: what runs where, and why."""

    strategy: str
    world_size: int
    nodes: int
    gpus_per_node: int
    interconnect: str
    per_device_peak_gb: float
    device_gb: float
    host_gb: float
    effective_batch: int
    collective_timeout_s: int
    reasons: tuple
    options: tuple = field(default_factory=tuple)
    pick: Option | None = None
    flops_per_device: float = 0.0

    @property
    def ranks(self) -> int:
        """Processes that train (1 when one device trains alone)."""
        return self.pick.ranks if self.pick else 1

    def to_dict(self) -> dict:
        out = {f: getattr(self, f) for f in ("strategy", "world_size", "nodes", "gpus_per_node", "interconnect",
                                             "per_device_peak_gb", "device_gb", "host_gb", "effective_batch",
                                             "collective_timeout_s")}
        out["ranks"] = self.ranks
        out["why"] = [str(r) for r in self.reasons]
        out["options"] = [o.to_dict() for o in self.options]
        return out


def decide(shape: memory.ModelShape, layout: Layout, **kw) -> Decision:
    """The options, the choice and its reasons for ``layout`` (keyword arguments as :func:`options`, plus
    ``prefer``)."""
    prefer = kw.pop("prefer", None)
    opts = options(shape, layout, **kw)
    pick = choose(opts, prefer)
    shown = pick or min(opts, key=lambda o: o.peak_gb)
    eff = shown.samples
    link = LINK_NAMES.get(layout.slowest_link(), layout.slowest_link())
    if layout.link == "cpu":
        reasons = [msg("dist_layout_cpu", "{world} processes on the CPU (gloo) × {nodes} node(s), {gb:g} GB of RAM "
                                          "each", world=layout.world, nodes=layout.nodes, gb=round(layout.device_gb, 2))]
    else:
        reasons = [msg("dist_layout", "{world} devices: {gpus} GPU(s) × {nodes} node(s), {gb:g} GB each, linked by "
                                      "{link}", world=layout.world, gpus=layout.gpus_per_node, nodes=layout.nodes,
                       gb=layout.device_gb, link=link)]
    if pick is None:
        reasons.append(msg("dist_none", "nothing fits: the smallest need is {peak:.1f} GB a device ({strategy}, "
                                        "{method})", peak=shown.peak_gb, strategy=shown.strategy,
                           method=shown.method))
    else:
        reasons.append(_why(pick, opts, prefer))
        reasons.append(msg("dist_batch", "micro-batch {mb} × accumulation {ga} × {ranks} rank(s) = {eff} samples a "
                                         "step across the devices", mb=pick.micro_batch, ga=pick.grad_accum,
                           ranks=pick.ranks, eff=eff))
        if pick.strategy != "single":
            reasons.append(msg("dist_timeout", "a rank that dies or hangs ends the run within {s} s (the collective "
                                               "time-out)", s=COLLECTIVE_TIMEOUT_S))
    return Decision(
        strategy=shown.strategy if pick else "none", world_size=layout.world, nodes=layout.nodes,
        gpus_per_node=layout.gpus_per_node, interconnect=layout.slowest_link(), per_device_peak_gb=shown.peak_gb,
        device_gb=layout.device_gb, host_gb=shown.host_gb, effective_batch=eff,
        collective_timeout_s=COLLECTIVE_TIMEOUT_S, reasons=tuple(reasons), options=tuple(opts), pick=pick,
        flops_per_device=kw["flops_per_device"])


def what(strategy: str) -> Msg:
    """A strategy in words."""
    return {"single": lambda: msg("dist_what_single", "one device"),
            "ddp": lambda: msg("dist_what_ddp", "DDP (a replica on each device)"),
            "fsdp": lambda: msg("dist_what_fsdp", "FSDP2 full-shard (weights, gradients and optimizer states "
                                                  "divided over the devices)"),
            "fsdp_offload": lambda: msg("dist_what_fsdp_offload", "FSDP2 with CPU offload (shards and optimizer in "
                                                                  "host memory)")}[strategy]()


def _why(pick: Option, opts: list, prefer: str | None = None) -> Msg:
    """Why this strategy: it fits, and what the faster or higher-fidelity options lacked."""
    same = [o for o in opts if o.method == pick.method and o is not pick]
    faster_misfits = [o.strategy for o in same if not o.fits and o.sample_s < pick.sample_s]
    slower = [o for o in same if o.fits and o.sample_s >= pick.sample_s]
    order = memory.METHODS
    start = order.index(prefer) if prefer in order else 0  # above the recipe's choice: the recipe said why not
    higher = [m for m in dict.fromkeys(o.method for o in opts) if start <= order.index(m) < order.index(pick.method)]
    offload_only = [m for m in higher if any(o.method == m and o.fits for o in opts)]
    nowhere = [m for m in higher if m not in offload_only]
    text = msg("dist_pick", "{strategy} with {method}: {reason}", strategy=what(pick.strategy), method=pick.method,
               reason=pick.reason)
    if faster_misfits:
        text = msg("dist_pick_over", "{text}; {others} would be faster but do not fit", text=text,
                   others=", ".join(faster_misfits))
    if slower:
        best_other = min(slower, key=lambda o: o.sample_s)
        pct = 100 * (best_other.sample_s / pick.sample_s - 1) if pick.sample_s > 0 else 0.0
        if pct >= 100:  # "298 % faster" reads worse than "about 4× as fast"
            text = msg("dist_pick_times", "{text}; about {x:.1f}× as fast as {other}", text=text, x=1 + pct / 100,
                       other=best_other.strategy)
        else:
            text = (msg("dist_pick_faster", "{text}; {pct:.0f} % faster than {other}", text=text, pct=pct,
                        other=best_other.strategy) if pct >= 1 else
                    msg("dist_pick_same", "{text}; as fast as {other}, with less to set up", text=text,
                        other=best_other.strategy))
    if nowhere:
        text = msg("dist_pick_method", "{text} ({methods} would not fit on any strategy)", text=text,
                   methods=", ".join(nowhere))
    if offload_only and pick.strategy != "fsdp_offload":
        text = msg("dist_pick_offload", "{text} ({methods} would fit only with CPU offload, several times slower)",
                   text=text, methods=", ".join(offload_only))
    return text


# -- the README's choice table ----------------------------------------------------------------------------------
TABLE_MODELS = ("Qwen/Qwen2.5-7B", "meta-llama/Llama-3.1-8B", "Qwen/Qwen2.5-14B", "Qwen/Qwen2.5-32B")
TABLE_CARDS = ((24, "pcie"), (48, "pcie"), (80, "nvlink"))  # RTX 3090/4090; A6000/L40S; A100/H100 SXM
TABLE_GPUS = (2, 4, 8)


def choice_table(seq_len: int = 2048, target_batch: int = 16, host_gb: float = 256) -> str:
    """The README's table: what ``danlu plan --gpus N --gpu-mem GB`` chooses for common models (bf16, sequences of
    ``seq_len`` tokens, ``target_batch`` samples a step, ``host_gb`` of RAM a node), one cell per card size."""
    head = "| model | GPUs | " + " | ".join(f"{gb} GB ({'NVLink' if link == 'nvlink' else 'PCIe'})"
                                            for gb, link in TABLE_CARDS) + " |"
    rows = [head, "|" + "---|" * (2 + len(TABLE_CARDS))]
    for model in TABLE_MODELS:
        shape = memory.model_shape(model)
        for gpus in TABLE_GPUS:
            cells = []
            for gb, link in TABLE_CARDS:
                d = decide(shape, Layout(gpus, 1, link, gb, host_gb), methods=list(memory.METHODS), seq_len=seq_len,
                           target_batch=target_batch, precision="bf16", optimizer="adamw_torch", lora_r=16,
                           lora_targets="all-linear", lora_dropout=0.0, grad_checkpointing=None, micro_batch=None,
                           flops_per_device=GPU_PEAK_TFLOPS[(8, 0)] * 1e12 * GPU_MFU, flops_per_param=FLOPS_PER_PARAM)
                p = d.pick
                cells.append("nothing fits" if p is None else
                             f"{p.strategy} · {p.method} · {p.micro_batch}×{p.grad_accum}"
                             f"{' · ckpt' if p.grad_checkpointing else ''} · {p.peak_gb:.0f} GB")
            rows.append(f"| {model.split('/')[1]} | {gpus} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
