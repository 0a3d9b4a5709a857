"""The settings of one generation benchmark run, validated where they are defined."""

from dataclasses import asdict, dataclass
from pathlib import Path

DTYPES = ("auto", "float32", "float16", "bfloat16")

# The settings that decide which samples are generated and how: a run may only resume a folder whose run.json holds
# the same values. The batch size, device and progress bar are left out, since they do not change greedy outputs.
# The settings that decide each generated reply (passed to `ReplyGenerator`) ...
GENERATION_KEYS = (
    "greedy",
    "top_p",
    "temperature",
    "max_new_tokens",
    "max_prompt_tokens",
    "system_prompt",
    "postprocess",
)
# ... and, with the model and the sampled test set, everything that decides the predictions of a run.
RUN_KEYS = ("model", "data", "split", "format", "num_samples", "seed", *GENERATION_KEYS)


@dataclass
class EvaluationConfig:
    """What `soulchat evaluate` does: which model, on which samples, with which decoding, into which folder.

    Args:
        model (`str`):
            A checkpoint folder (or Hub id): a ChatGLM-6B checkpoint, or any `AutoModelForCausalLM` whose tokenizer
            has a chat template.
        data (`str`):
            A dataset folder written by `soulchat prepare`, or a corpus file in a supported format.
        output (`str`):
            The run folder: `run.json`, `predictions.jsonl`, `metrics.json` and `table.md`.
        split (`str`, *optional*):
            The split of a prepared folder; defaults to `test` when it has one, else `train`. Ignored for a corpus file.
        format (`str`, *optional*, defaults to `"auto"`):
            Corpus format of a file (`"auto"` detects it).
        num_samples (`int`, *optional*, defaults to 10000):
            Samples drawn from the test set (all of them when it is smaller); 0 or less means all.
        seed (`int`, *optional*, defaults to 42):
            Seed of the sample draw and of sampling-based decoding.
        greedy (`bool`, *optional*, defaults to `False`):
            Greedy decoding; otherwise nucleus sampling with `top_p` and `temperature`.
        top_p (`float`, *optional*, defaults to 0.75):
            Nucleus sampling mass (the paper's setting).
        temperature (`float`, *optional*, defaults to 0.95):
            Sampling temperature (the paper's setting).
        batch_size (`int`, *optional*, defaults to 8):
            Prompts generated together (left-padded).
        max_new_tokens (`int`, *optional*, defaults to 512):
            Most tokens generated per reply.
        max_prompt_tokens (`int`, *optional*, defaults to 1536):
            Most prompt tokens; longer prompts keep their end (ChatGLM) or lose their oldest rounds (chat template).
        system_prompt (`str`, *optional*):
            A system message put first in chat-template prompts (use the one the model was trained with).
        postprocess (`bool`, *optional*, defaults to `True`):
            Apply ChatGLM-6B's `process_response` to ChatGLM replies (strip, full-width punctuation next to Chinese);
            other models' replies are only stripped.
        device (`str`, *optional*):
            Torch device; defaults to `cuda` when available, else `cpu`.
        dtype (`str`, *optional*, defaults to `"auto"`):
            `float32`, `float16`, `bfloat16`, or `auto`: float32 on CPU, the checkpoint's dtype elsewhere.
        overwrite (`bool`, *optional*, defaults to `False`):
            Start afresh in a folder that holds another run's predictions instead of refusing.
        progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar.
    """

    model: str
    data: str
    output: str
    split: str | None = None
    format: str = "auto"
    num_samples: int = 10000
    seed: int = 42
    greedy: bool = False
    top_p: float = 0.75
    temperature: float = 0.95
    batch_size: int = 8
    max_new_tokens: int = 512
    max_prompt_tokens: int = 1536
    system_prompt: str | None = None
    postprocess: bool = True
    device: str | None = None
    dtype: str = "auto"
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.max_prompt_tokens < 8:
            raise ValueError(f"max_prompt_tokens must be at least 8, got {self.max_prompt_tokens}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.temperature <= 0.0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")

    def decoding(self) -> dict:
        """The decoding settings as recorded in `metrics.json`."""
        if self.greedy:
            return {"strategy": "greedy", "max_new_tokens": self.max_new_tokens}
        return {
            "strategy": "sampling",
            "top_p": self.top_p,
            "temperature": self.temperature,
            "seed": self.seed,
            "max_new_tokens": self.max_new_tokens,
        }

    def run_record(self) -> dict:
        """The settings that a resumed run must share with the folder it resumes (see `RUN_KEYS`)."""
        values = asdict(self)
        record = {key: values[key] for key in RUN_KEYS}
        for key in ("model", "data"):
            path = Path(record[key])
            record[key] = str(path.resolve()) if path.exists() else record[key]
        if self.greedy:  # sampling settings do not matter for greedy decoding
            record["top_p"] = record["temperature"] = None
        return record


__all__ = ["GENERATION_KEYS", "DTYPES", "RUN_KEYS", "EvaluationConfig"]
