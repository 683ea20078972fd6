"""Training on several devices: the trainer's arguments for the plan's strategy, and the few collective steps
danlu's runner adds around transformers' Trainer.

The ranks are torchrun's; DDP and FSDP2 are PyTorch's, applied by accelerate through the Trainer
(``fsdp="full_shard"``, ``fsdp_config={"version": 2}``: ``fully_shard`` on each decoder layer and the root).
danlu adds nothing to the sharding itself.  What it adds:

* accelerate enables FSDP on accelerators only; PyTorch's FSDP2 also runs on CPU over gloo, which is how this
  repository's tests run it.  :func:`trainer_class` turns accelerate's FSDP plugin on there too, so a CPU run
  and a GPU run take the same code path (accelerate's ``fsdp2_prepare_model``, its sharded checkpoints);
* :func:`agree`: a stop or checkpoint request reaches one rank (a signal, ``control.json`` on rank 0's disk);
  all ranks act on it at the same step, or the others would wait in a collective until the time-out;
* :func:`gathered` / :func:`full_state_dict`: a sharded model's weights, whole, for the best-step copy and the
  final model (every rank takes part, rank 0 writes), so chat, eval and export load a plain model.
"""

from __future__ import annotations

import os

FSDP_STRATEGIES = ("fsdp", "fsdp_offload")
SHARDED_MODEL_DIR = "pytorch_model_fsdp_0"  # accelerate's distributed-checkpoint folders inside checkpoint-N
SHARDED_OPTIMIZER_DIR = "optimizer_0"


def world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def planned_ranks(cfg) -> int:
    """How many ranks the config trains on (``single``: one device trains alone, whatever the node has)."""
    return 1 if cfg.strategy == "single" else cfg.gpus * cfg.nodes


def launcher(cfg, tail: list[str], log_dir=None) -> list[str]:
    """The command that starts the config's ranks on this machine (torchrun, one process per device), each
    running ``danlu TAIL``; torchrun's own folders go to ``log_dir`` (the run's), not a new one in /tmp each time."""
    import sys

    logs = ["--log-dir", str(log_dir)] if log_dir else []
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(cfg.gpus),
            *logs, "-m", "danlu.engine.cli", *tail]


def sharded(cfg) -> bool:
    """This process is one rank of an FSDP2 run."""
    return cfg.strategy in FSDP_STRATEGIES and world() > 1


def trainer_args(cfg) -> dict:
    """TrainingArguments for the plan's strategy: the collective time-out the plan states, and FSDP2's."""
    from ..plan.distributed import COLLECTIVE_TIMEOUT_S

    args: dict = {"ddp_timeout": COLLECTIVE_TIMEOUT_S}
    if world() > 1:
        args["ddp_find_unused_parameters"] = False
    if sharded(cfg):
        offload = cfg.strategy == "fsdp_offload"
        args.update(fsdp="full_shard offload" if offload else "full_shard",
                    fsdp_config={"version": 2, "reshard_after_forward": True, "cpu_offload": offload,
                                 # checkpoints: each rank writes its shards (torch.distributed.checkpoint)
                                 "state_dict_type": "SHARDED_STATE_DICT"})
    return args


def trainer_class(cls, cfg):
    """``cls`` itself, or for an FSDP run on CPU ranks a subclass that turns on accelerate's FSDP plugin, which
    accelerate only enables on accelerators (PyTorch's FSDP2 runs on gloo as well)."""
    if not sharded(cfg):
        return cls

    class Sharded(cls):
        def create_accelerator_and_postprocess(self):
            super().create_accelerator_and_postprocess()
            state = self.accelerator.state
            if getattr(state, "fsdp_plugin", None) is None:
                from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

                state.distributed_type = DistributedType.FSDP
                state.fsdp_plugin = FullyShardedDataParallelPlugin(**self.args.fsdp_plugin_args)
                self.is_fsdp_enabled = True

    Sharded.__name__ = Sharded.__qualname__ = cls.__name__
    return Sharded


def _device():
    import torch
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def agree(*flags: bool) -> list[bool]:
    """Each flag true on every rank when it is true on any (one all-reduce of a few integers)."""
    import torch
    import torch.distributed as dist

    if world() == 1 or not dist.is_available() or not dist.is_initialized():
        return list(flags)
    t = torch.tensor([int(bool(f)) for f in flags], device=_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def from_main(make):
    """``make()`` run on rank 0 only, its value on every rank (one broadcast): what the ranks train on beside the
    user's files (the forgetting guard's sampled answers) is made once, so that no rank trains on other data.  One
    process: ``make()``.  An error on rank 0 ends every rank with it, instead of leaving them waiting."""
    import torch.distributed as dist

    if world() == 1 or not dist.is_available() or not dist.is_initialized():
        return make()
    box, failed = [None], None
    if dist.get_rank() == 0:
        try:
            box = [("ok", make())]
        except Exception as exc:  # noqa: BLE001 - said to every rank, then raised here as it was
            failed, box = exc, [("error", str(exc))]
    dist.broadcast_object_list(box, src=0, device=_device())
    kind, value = box[0]
    if failed is not None:
        raise failed
    if kind == "error":
        from ..core.errors import DanluError

        raise DanluError(f"rank 0 could not make the data every rank trains on: {value}", where="replay",
                         fix="see rank 0's error above")
    return value


def is_sharded_model(model) -> bool:
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())


def gathered(param):
    """A parameter's whole value (every rank calls this for a sharded one: an all-gather)."""
    from torch.distributed.tensor import DTensor

    value = param.full_tensor() if isinstance(param, DTensor) else param
    return value.detach()


def full_state_dict(model) -> dict:
    """The model's whole state dict on rank 0, on the CPU ({} on the other ranks); every rank calls it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_whole(param, value) -> None:
    """Copy a whole value (read on rank 0; any tensor of the shape elsewhere) into a parameter: a shard of it for
    a sharded one, rank 0's value broadcast for a replica."""
    import torch
    import torch.distributed as dist
    from torch.distributed.tensor import DTensor, distribute_tensor

    with torch.no_grad():
        if isinstance(param, DTensor):
            whole = distribute_tensor(value.to(param.device, param.dtype), param.device_mesh, param.placements,
                                      src_data_rank=0)
            param.to_local().copy_(whole.to_local())
            return
        value = value.to(param.device, param.dtype).contiguous()
        if world() > 1 and dist.is_available() and dist.is_initialized():
            dist.broadcast(value, src=0)  # every replica gets rank 0's value, not its own stand-in
        param.copy_(value)


def is_sharded_checkpoint(path) -> bool:
    from pathlib import Path

    return (Path(path) / SHARDED_MODEL_DIR / ".metadata").is_file()


# what a collective raises when another rank went away (gloo: its socket closed; NCCL: the watchdog's time-out)
_PEER_LOST = ("connection reset by peer", "connection closed by peer", "broken pipe", "timed out",
              "collective operation timeout", "nccl communicator was aborted", "dist_backend_error")


def lost_peer(exc: BaseException, text: str) -> str | None:
    """A collective that failed because another rank died or hung, in words (which rank saw it, and what)."""
    if world() == 1:
        return None
    name = type(exc).__name__
    low = f"{name} {text}".lower()
    if name != "DistBackendError" and not any(k in low for k in _PEER_LOST):
        return None
    what = text.split("]", 1)[-1].strip() if text.startswith("[") else text
    what = what.split(". This is typically", 1)[0].strip()
    return (f"another rank of this run stopped or hung, so rank {os.environ.get('RANK', '?')} of {world()} ended "
            f"too ({what})")


def _fingerprint(cfg) -> dict:
    """What must be the same on every rank for their steps to be one run's: the libraries, the data, the config."""
    import hashlib
    import socket
    from importlib import metadata

    from .. import __version__, data

    out = {"host": socket.gethostname(), "danlu": __version__}
    for dist in ("torch", "transformers", "accelerate", "peft", "trl"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    try:
        out["data"] = data.file_hash(cfg.train_file)[:12]
    except OSError:
        out["data"] = "missing"
    out["config"] = hashlib.sha256(cfg.to_yaml().encode()).hexdigest()[:12]
    return out


def check_alike(cfg) -> None:
    """Before training, every rank compares its libraries, data and config with rank 0's; a difference (another
    torch on one machine, an edited data file) is refused on every rank, saying which rank differs in what."""
    if world() < 2:
        return
    import torch.distributed as dist
    from accelerate import PartialState

    from ..core.errors import DanluError

    PartialState()  # the process group from torchrun's environment (the trainer would make it a moment later)
    mine = _fingerprint(cfg)
    every: list = [None] * world()
    dist.all_gather_object(every, mine)
    first = every[0]
    for rank, theirs in enumerate(every[1:], start=1):
        differ = [k for k in mine if k != "host" and theirs.get(k) != first.get(k)]
        if differ:
            what = "; ".join(f"{k} {theirs.get(k)} on rank {rank} ({theirs['host']}), {first.get(k)} on rank 0 "
                             f"({first['host']})" for k in differ)
            raise DanluError(f"the ranks of this run differ: {what}",
                             fix="install the same danlu and libraries on every machine, and give each the same "
                                 "config and data file (same contents)")
