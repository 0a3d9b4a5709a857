"""The shipped DeepSpeed configurations (package data) and the single-process launch environment.

Three JSON files, each with `AdamW` and `WarmupDecayLR` and `"auto"` wherever the Hugging Face trainer fills the
value from the training arguments (batch sizes, accumulation, clipping, fp16/bf16, lr, betas, eps, weight decay,
warm-up and total steps, bucket sizes):

- `zero2`: ZeRO stage 2 (optimizer states and gradients sharded), the paper-scale default for 8 x 80 GB GPUs.
- `zero3`: ZeRO stage 3 (parameters sharded too); saving gathers the 16-bit weights into one `model.safetensors`.
- `zero3_offload`: ZeRO-3 with optimizer states and parameters offloaded to CPU memory, for small GPUs.
"""

import copy
import json
import os
import socket
from importlib import resources
from pathlib import Path
from typing import Any

DEEPSPEED_CONFIGS = {
    "zero2": "ds_zero2.json",
    "zero3": "ds_zero3.json",
    "zero3_offload": "ds_zero3_offload.json",
}

# The variables DeepSpeed's `init_distributed` reads; with all five set it needs no launcher (and no MPI).
_DISTRIBUTED_ENV = ("LOCAL_RANK", "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def deepspeed_config_path(name: str) -> Path:
    """The path of a shipped DeepSpeed configuration: `zero2`, `zero3` or `zero3_offload`."""
    if name not in DEEPSPEED_CONFIGS:
        raise ValueError(f"unknown DeepSpeed configuration {name!r}; choose one of {sorted(DEEPSPEED_CONFIGS)}")
    return Path(str(resources.files("soulchat.training") / "configs" / DEEPSPEED_CONFIGS[name]))


def resolve_deepspeed_config(value: str | dict[str, Any], *, cpu: bool | None = None) -> dict[str, Any]:
    """Loads a DeepSpeed configuration given as a shipped name, a JSON path or a dict (which is copied).

    Args:
        value (`str` or `dict`):
            `zero2`, `zero3`, `zero3_offload`, a path to a JSON file, or the configuration itself.
        cpu (`bool`, *optional*):
            Whether training runs without CUDA; by default, `not torch.cuda.is_available()`. On CPU the optimizer
            gets `"torch_adam": true` (torch's AdamW), because DeepSpeed's CPU FusedAdam would first be compiled
            (about 35 s and 2 GB of memory); on GPUs the configuration is left as written.

    Returns:
        `dict[str, Any]`: the configuration, with `"auto"` values still to be filled by the trainer.
    """
    if isinstance(value, dict):
        config = copy.deepcopy(value)
    else:
        path = deepspeed_config_path(value) if value in DEEPSPEED_CONFIGS else Path(value)
        if not path.is_file():
            raise ValueError(
                f"unknown DeepSpeed configuration {value!r}: not one of {sorted(DEEPSPEED_CONFIGS)} and no such file"
            )
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"DeepSpeed configuration {path} is not valid JSON: {e}") from None
    if cpu is None:
        import torch

        cpu = not torch.cuda.is_available()
    optimizer = config.get("optimizer")
    if cpu and optimizer is not None and "adam" in str(optimizer.get("type", "")).lower():
        optimizer.setdefault("params", {}).setdefault("torch_adam", True)
    return config


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_single_process_env() -> bool:
    """Sets the distributed environment of a one-process run when no launcher did (rank 0 of 1, a free local port).

    DeepSpeed needs all of `LOCAL_RANK`, `RANK`, `WORLD_SIZE`, `MASTER_ADDR` and `MASTER_PORT`: with none it looks
    for MPI, with some it fails. Launchers (`deepspeed`, `torchrun`, `accelerate launch`) set them all, and then this
    does nothing.

    Returns:
        `bool`: whether the variables were set here.
    """
    if all(name in os.environ for name in _DISTRIBUTED_ENV):
        return False
    if any(name in os.environ for name in _DISTRIBUTED_ENV):
        missing = [name for name in _DISTRIBUTED_ENV if name not in os.environ]
        raise RuntimeError(f"incomplete distributed environment: {missing} unset")
    os.environ.update(LOCAL_RANK="0", RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
    return True


__all__ = ["DEEPSPEED_CONFIGS", "deepspeed_config_path", "ensure_single_process_env", "resolve_deepspeed_config"]
