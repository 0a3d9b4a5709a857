"""From corpus files to validated, filtered, de-duplicated dialogues, with every record accounted for.

`CorpusPipeline.dialogues(path)` is the one loop that `soulchat prepare`, the `datasets` builder and the
benchmarks share. It fills a `PrepareReport` and hands every dropped record to `on_drop`, with its raw content,
so that nothing read is lost.
"""

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from soulchat.data.cleaning import ContentFilter
from soulchat.data.convert import RecordError, record_id, to_raw_dialogue
from soulchat.data.formats import FormatSpec, detect_format, get_format, is_blank
from soulchat.data.readers import RawRecord, iter_raw_records
from soulchat.data.report import PrepareReport
from soulchat.data.schema import ASSISTANT, Dialogue
from soulchat.data.validation import Outcome, ValidationOptions, reject, validate

logger = logging.getLogger(__name__)


@dataclass
class PipelineOptions:
    """What the pipeline does besides validation.

    Args:
        format (`str`, *optional*, defaults to `"auto"`): A format name, or `"auto"` to detect it per file.
        validation (`ValidationOptions`): Repair, flagging and rejection settings.
        content_filter (`ContentFilter`, *optional*): The paper's cleaning rule; `None` (the default) is off.
        deduplicate (`bool`, *optional*, defaults to `True`): Drop exact duplicates (same roles and contents).
        test_fraction (`float`, *optional*, defaults to 0.0): Share of dialogues put in the `test` split,
            chosen by a hash of the content, so a dialogue's samples never straddle splits.
        seed (`int`, *optional*, defaults to 42): Salt of that hash.
    """

    format: str = "auto"
    validation: ValidationOptions = field(default_factory=ValidationOptions)
    content_filter: ContentFilter | None = None
    deduplicate: bool = True
    test_fraction: float = 0.0
    seed: int = 42

    def __post_init__(self):
        if not 0.0 <= self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in [0, 1), got {self.test_fraction}")
        if self.format != "auto":
            get_format(self.format)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["content_filter"] = list(self.content_filter.strings) if self.content_filter else None
        d["content_filter_roles"] = list(self.content_filter.roles) if self.content_filter else None
        return d


def dialogue_digest(dialogue: Dialogue) -> bytes:
    """A 16-byte digest of a dialogue's roles and contents (ids, topics and sources do not count)."""
    h = hashlib.blake2b(digest_size=16)
    for m in dialogue.messages:
        h.update(m.role.encode())
        h.update(b"\x1f")
        h.update(m.content.encode("utf-8", "surrogatepass"))
        h.update(b"\x1e")
    return h.digest()


class CorpusPipeline:
    """Reads corpus files into clean dialogues and accounts for every record in `report`.

    Args:
        options (`PipelineOptions`): What to do.
        on_drop (`Callable[[dict], None]`, *optional*): Receives each dropped record: `file`, `index`, `id`,
            `status` (rejected, filtered, duplicate), `reason`, `detail` and the raw `record`.
    """

    def __init__(self, options: PipelineOptions, *, on_drop: Callable[[dict], None] | None = None):
        self.options = options
        self.report = PrepareReport()
        self.on_drop = on_drop
        self._seen: dict[bytes, str] = {}
        self._salt = str(options.seed).encode()

    def split_of(self, digest: bytes) -> str:
        if self.options.test_fraction <= 0.0:
            return "train"
        h = hashlib.blake2b(digest, digest_size=8, key=self._salt).digest()
        return "test" if int.from_bytes(h, "big") / 2**64 < self.options.test_fraction else "train"

    def _drop(self, status: str, *, file: str, index: int, id: str | None, reason: str, detail: str, record) -> None:
        self.report.count(status)
        entry = {"file": file, "index": index, "id": id, "status": status, "reason": reason, "detail": detail}
        if status == "rejected":
            self.report.rejections[reason] += 1
        self.report.note_drop(entry)
        logger.debug("%s %s record %d (id %s): %s: %s", status, file, index, id, reason, detail)
        if self.on_drop is not None:
            self.on_drop({**entry, "record": record})

    def dialogues(
        self, path: Path, *, on_progress: Callable[[int], None] | None = None
    ) -> Iterator[tuple[Dialogue, str]]:
        """Yield `(dialogue, split)` for every dialogue of `path` that is kept."""
        if self.options.format == "auto" and is_blank(path):
            logger.warning("%s is empty: no records", path)
            self.report.inputs.append({"path": str(path), "format": "empty", "records": 0})
            return
        name = detect_format(path) if self.options.format == "auto" else self.options.format
        spec = get_format(name)
        entry = {"path": str(path), "format": name, "records": 0}
        self.report.inputs.append(entry)
        file = str(path)
        for record in iter_raw_records(path, spec, on_progress=on_progress):
            entry["records"] += 1
            outcome, dialogue_id = self._validate(record, spec)
            if outcome.dialogue is None:
                raw = record.raw if record.error is not None else record.value
                self._drop("rejected", file=file, index=record.index, id=dialogue_id, reason=outcome.defects[0],
                           detail=outcome.detail, record=raw)  # fmt: skip
                continue
            split = self._keep(outcome.dialogue, outcome.status, outcome.defects, outcome.flags, record.value)
            if split is not None:
                dialogue = outcome.dialogue
                samples = sum(message.role == ASSISTANT for message in dialogue.messages)  # one per counsellor turn
                self.report.note_kept(
                    topic=dialogue.topic, split=split, n_messages=len(dialogue.messages), n_samples=samples
                )
                yield dialogue, split

    def _validate(self, record: RawRecord, spec: FormatSpec) -> tuple[Outcome, str | None]:
        """Parse errors, shape errors and validation as one outcome, with the record's id when known."""
        if record.error is not None:
            return reject(record.error, record.detail), None
        try:
            raw = to_raw_dialogue(record, spec)
        except RecordError as e:
            return reject(e.defect, e.detail), record_id(record, spec)
        outcome = validate(raw, options=self.options.validation, check_topics=spec.name == "soulchat",
                           source=record.source, index=record.index)  # fmt: skip
        return outcome, raw.id

    def _keep(self, dialogue: Dialogue, status: str, defects: list[str], flags: list[str], value) -> str | None:
        """Apply the content filter and de-duplication; count the dialogue; its split, or `None` if dropped."""
        where = {"file": dialogue.source, "index": dialogue.index, "id": dialogue.id}
        if self.options.content_filter is not None:
            hit = self.options.content_filter.match(dialogue)
            if hit is not None:
                self.report.filter_matches[hit[0]] += 1
                self._drop(
                    "filtered",
                    **where,
                    reason="content_filter",
                    detail=_filter_detail(dialogue, *hit),
                    record=value,
                )
                return None
        digest = dialogue_digest(dialogue)
        if self.options.deduplicate:
            first = self._seen.get(digest)
            if first is not None:
                self._drop(
                    "duplicate", **where, reason="duplicate", detail=f"same messages as dialogue {first}", record=value
                )
                return None
            self._seen[digest] = dialogue.id
        self.report.count(status)
        self.report.repairs.update(defects)
        if self.report.note_id(dialogue.id):
            # Another dialogue has this id (one-dialogue files of the same name in two folders, or a reused id):
            # renamed so that every sample id stays unique, which resumable evaluation relies on.
            flags = [*flags, "duplicate_id"]
            number = 2
            while self.report.note_id(f"{dialogue.id}#{number}"):
                number += 1
            dialogue.id = f"{dialogue.id}#{number}"
        self.report.flags.update(flags)
        return self.split_of(digest)


def _filter_detail(dialogue: Dialogue, hit: str, index: int) -> str:
    """Which message a filtered string is in, quoted, since the index is into the repaired dialogue."""
    message = dialogue.messages[index]
    at = message.content.find(hit)
    excerpt = message.content[max(0, at - 12) : at + len(hit) + 12]
    return f"the {message.role} message {excerpt!r} (message {index} after repair) contains {hit!r}"


__all__ = ["CorpusPipeline", "PipelineOptions", "dialogue_digest"]
