"""Typed settings of a construction run: the API client, the output checks, the cleaning and the run itself."""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from soulchat.construction.inputs import INPUT_FORMATS
from soulchat.construction.privacy import PII_MODES
from soulchat.data.cleaning import PAPER_FILTER_STRINGS


@dataclass
class ClientConfig:
    """How to call an OpenAI-compatible chat-completions endpoint.

    Args:
        base_url (`str`):
            The API root, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8000/v1`; `/chat/completions` is
            appended.
        model (`str`):
            The model name sent with every request.
        api_key_env (`str`, *optional*, defaults to `"OPENAI_API_KEY"`):
            The environment variable holding the API key; no `Authorization` header when it is unset.
        temperature (`float`, *optional*):
            The sampling temperature; `None` uses the template's.
        max_tokens (`int`, *optional*):
            The completion token limit sent with each request; `None` sends none.
        concurrency (`int`, *optional*, defaults to 16):
            The most requests in flight at once.
        timeout_s (`float`, *optional*, defaults to 180.0):
            The limit of one request, connection to last byte.
        max_attempts (`int`, *optional*, defaults to 6):
            Attempts of one request (on 429, 5xx, timeouts and dropped connections) before the record fails.
        backoff_base_s (`float`, *optional*, defaults to 1.0):
            The first retry waits about this long; each further retry doubles it (with jitter).
        backoff_max_s (`float`, *optional*, defaults to 60.0):
            The longest wait between two attempts, unless the server's `Retry-After` asks for longer.
        max_retry_after_s (`float`, *optional*, defaults to 600.0):
            The longest `Retry-After` honoured; a longer one is capped to this.
        seed (`int`, *optional*, defaults to 0):
            Seed of the backoff jitter.
    """

    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float | None = None
    max_tokens: int | None = None
    concurrency: int = 16
    timeout_s: float = 180.0
    max_attempts: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    max_retry_after_s: float = 600.0
    seed: int = 0

    def __post_init__(self):
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if not self.model:
            raise ValueError("model must be set")
        if self.concurrency < 1 or self.max_attempts < 1:
            raise ValueError("concurrency and max_attempts must be at least 1")
        if self.timeout_s <= 0 or self.backoff_base_s < 0 or self.backoff_max_s < self.backoff_base_s:
            raise ValueError("timeout_s must be positive and 0 <= backoff_base_s <= backoff_max_s")
        if self.temperature is not None and not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be in [0, 2], got {self.temperature}")

    @property
    def endpoint(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"


@dataclass
class CheckConfig:
    """What a rewritten dialogue must satisfy, and how often an invalid one is generated again.

    Args:
        min_rounds (`int`, *optional*): The fewest rounds; `None` uses the template's.
        max_rounds (`int`, *optional*): The most rounds; `None` uses the template's.
        max_utterance_chars (`int`, *optional*, defaults to 600): The longest utterance; `None` for no limit.
        max_generations (`int`, *optional*, defaults to 3): Completions asked for one record while its outputs are
            invalid; after the last, the record is rejected with the last output's reason.
    """

    min_rounds: int | None = None
    max_rounds: int | None = None
    max_utterance_chars: int | None = 600
    max_generations: int = 3

    def __post_init__(self):
        if self.max_generations < 1:
            raise ValueError(f"max_generations must be at least 1, got {self.max_generations}")
        if self.min_rounds is not None and self.max_rounds is not None and self.max_rounds < self.min_rounds:
            raise ValueError(f"max_rounds ({self.max_rounds}) is below min_rounds ({self.min_rounds})")


@dataclass
class CleaningConfig:
    """The paper's cleaning of the generated dialogues.

    Args:
        filter_strings (`tuple[str, ...]`, *optional*, defaults to the paper's 我是 / 自杀 / 跳楼):
            Dialogues holding any of these strings are rejected (`content_filter`); empty turns the filter off.
        pii (`str`, *optional*, defaults to `"scrub"`):
            Personal information: `"scrub"` (replace with placeholders), `"reject"` (reject the dialogue) or `"off"`.
        near_duplicates (`bool`, *optional*, defaults to `True`):
            Reject a dialogue that nearly duplicates one already kept (MinHash LSH).
        dedup_threshold (`float`, *optional*, defaults to 0.8):
            The estimated Jaccard similarity of character 5-grams from which dialogues are near-duplicates.
        dedup_num_perm (`int`, *optional*, defaults to 128):
            MinHash permutations.
    """

    filter_strings: tuple[str, ...] = PAPER_FILTER_STRINGS
    pii: str = "scrub"
    near_duplicates: bool = True
    dedup_threshold: float = 0.8
    dedup_num_perm: int = 128

    def __post_init__(self):
        if self.pii not in PII_MODES:
            raise ValueError(f"pii must be one of {', '.join(PII_MODES)}, got {self.pii!r}")
        self.filter_strings = tuple(self.filter_strings)


@dataclass
class ModelPrice:
    """The price of one model, in any currency, per million tokens.

    Args:
        input (`float`): Per million prompt tokens.
        output (`float`): Per million completion tokens.
    """

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


def load_prices(path: Path) -> dict[str, ModelPrice]:
    """Read a price table, JSON or YAML: `{model: {"input": per 1M prompt tokens, "output": per 1M completion}}`."""
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if Path(path).suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a price table maps model names to {{input, output}}")
    try:
        return {str(model): ModelPrice(float(p["input"]), float(p["output"])) for model, p in data.items()}
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: each model needs numeric 'input' and 'output' prices per million tokens") from e


@dataclass
class ConstructionConfig:
    """One construction run.

    Args:
        input (`Path`): The QA file (see `soulchat.construction.inputs`).
        output (`Path`): The SoulChatCorpus JSON Lines file; `<output>.journal` and `<output>.report` go beside it.
        client (`ClientConfig`): The endpoint and its retry policy.
        template (`str`, *optional*, defaults to `"empathy"`): `"empathy"`, `"smile"` or a template file.
        input_format (`str`, *optional*, defaults to `"auto"`): `"qa"`, `"psyqa"` or `"auto"`.
        max_records (`int`, *optional*): Only the first this many work items of the input.
        checks (`CheckConfig`): What a valid dialogue is.
        cleaning (`CleaningConfig`): Content filter, PII and near-duplicates.
        prices (`dict[str, ModelPrice]`, *optional*): For the estimated cost in the report.
        retry_failed (`bool`, *optional*, defaults to `False`): On resume, try again the records that failed.
        fsync_interval_s (`float`, *optional*, defaults to 1.0): How often the files are synced to disk (lines
            are flushed to the operating system as soon as they are written).
    """

    input: Path
    output: Path
    client: ClientConfig
    template: str = "empathy"
    input_format: str = "auto"
    max_records: int | None = None
    checks: CheckConfig = field(default_factory=CheckConfig)
    cleaning: CleaningConfig = field(default_factory=CleaningConfig)
    prices: dict[str, ModelPrice] | None = None
    retry_failed: bool = False
    fsync_interval_s: float = 1.0

    def __post_init__(self):
        self.input, self.output = Path(self.input), Path(self.output)
        if self.input_format not in INPUT_FORMATS:
            raise ValueError(f"input_format must be one of {', '.join(INPUT_FORMATS)}, got {self.input_format!r}")
        if self.max_records is not None and self.max_records < 0:
            raise ValueError(f"max_records must be non-negative, got {self.max_records}")
        if self.input.resolve() == self.output.resolve():
            raise ValueError("input and output must be different files")
        if self.output.is_dir():
            raise ValueError(f"output {self.output} is a folder; give the JSON Lines file to write")
        if self.input.is_dir():
            raise ValueError(f"input {self.input} is a folder; give the QA file to read")

    @property
    def journal_path(self) -> Path:
        return self.output.with_name(self.output.name + ".journal")

    @property
    def report_path(self) -> Path:
        return self.output.with_name(self.output.name + ".report")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input"], d["output"] = str(self.input), str(self.output)
        d["cleaning"]["filter_strings"] = list(self.cleaning.filter_strings)
        return d


__all__ = ["CheckConfig", "CleaningConfig", "ClientConfig", "ConstructionConfig", "ModelPrice", "load_prices"]
