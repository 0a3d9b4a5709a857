"""Test helper: `python kill_at_checkpoint.py STEP CONFIG.yaml [--key value ...]` trains like `soulchat train` and
SIGKILLs itself right after the checkpoint of step STEP is written (no clean-up, like a crashed node)."""

import os
import signal
import sys

from transformers import TrainerCallback

from soulchat.training.sft_config import load_sft_config
from soulchat.training.workflow import run_training


class KillAfterSave(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    step, path, overrides = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    config = load_sft_config(path, overrides)
    run_training(config, callbacks=[KillAfterSave(step)])


if __name__ == "__main__":
    main()
