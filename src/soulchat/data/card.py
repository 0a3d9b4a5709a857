"""The dataset card (README.md with the Hub's YAML header) of a prepared dataset folder."""

from pathlib import Path

import yaml

from soulchat.data.cleaning import PAPER_FILTER_STRINGS
from soulchat.data.expansion import render_prompt
from soulchat.data.schema import TOPICS
from soulchat.data.validation import DEFECTS, FLAGS

CITATION = """\
@inproceedings{chen-etal-2023-soulchat,
  title = "{S}oul{C}hat: Improving {LLM}s' Empathy, Listening, and Comfort Abilities through Fine-tuning with
           Multi-turn Empathy Conversations",
  author = "Chen, Yirong and Xing, Xiaofen and Lin, Jingkai and Zheng, Huimin and Wang, Zhenyu and Liu, Qi and
            Xu, Xiangmin",
  booktitle = "Findings of the Association for Computational Linguistics: EMNLP 2023",
  year = "2023",
  pages = "1170--1183",
}
"""
_LICENCE_NOTE = (
    "The public SoulChatCorpus is released for non-commercial research use only; a dataset prepared from it "
    "inherits that licence. Check the licence of every other source corpus before you publish or train on it."
)


def _size_category(n: int) -> str:
    for limit, name in [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]:
        if n < limit:
            return name
    return "1M<n<10M"


def card_header(splits: list[str], *, n_samples: int, license: str, name: str | None = None) -> dict:
    """The YAML metadata: language, licence, task, and the `samples` / `dialogues` configs with their files.

    A licence of `other` gets `license_name: non-commercial-research` (SoulChatCorpus's terms); `name`, when given, is
    the `pretty_name`.
    """
    licence = {"license": license, **({"license_name": "non-commercial-research"} if license == "other" else {})}
    return {
        **({"pretty_name": name} if name else {}),
        "language": ["zh"],
        **licence,
        "task_categories": ["text-generation"],
        "tags": ["psychology", "counseling", "empathy", "multi-turn-dialogue", "soulchat"],
        "size_categories": [_size_category(n_samples)],
        "configs": [
            {
                "config_name": name,
                **({"default": True} if name == "samples" else {}),
                "data_files": [{"split": split, "path": f"{name}/{split}-*.parquet"} for split in splits],
            }
            for name in ("samples", "dialogues")
        ],
    }


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


_SAMPLE_FIELDS = [
    ("id", "string", '`"<dialogue_id>-<turn>"`'),
    ("dialogue_id", "string", "the dialogue the sample comes from"),
    ("topic", "string", "the dialogue's topic (see Topics), or null"),
    ("turn", "int32", "1-based number of the counsellor turn"),
    ("prompt", "string", "the earlier rounds and the latest user message, ending with `心理咨询师：`"),
    ("response", "string", "the counsellor's reply (the training target)"),
]
_DIALOGUE_FIELDS = [
    ("id", "string", "the record's id in its source (or its position)"),
    ("topic", "string", "the dialogue's topic, or null"),
    ("messages", "list of {role, content}", "roles `user` and `assistant`, alternating, user first, counsellor last"),
    ("system", "string", "a leading system message, or null"),
    ("source", "string", "the file the dialogue came from"),
]


def _fields_section() -> str:
    samples = _table(["field", "type", "meaning"], [[f"`{n}`", t, m] for n, t, m in _SAMPLE_FIELDS])
    dialogues = _table(["field", "type", "meaning"], [[f"`{n}`", t, m] for n, t, m in _DIALOGUE_FIELDS])
    return f"""`samples` (the default configuration): one training sample per counsellor turn.

{samples}

`dialogues`: the validated dialogues.

{dialogues}"""


def _counts_section(report: dict, splits: list[str]) -> str:
    counts = _table(
        ["split", "dialogues", "samples"],
        [[s, report["dialogues"].get(s, 0), report["samples"].get(s, 0)] for s in splits]
        + [["total", sum(report["dialogues"].values()), sum(report["samples"].values())]],
    )
    topics = _table(
        ["topic", "English", "dialogues", "samples"],
        [[t or "(none)", TOPICS.get(t, ""), c["dialogues"], c["samples"]] for t, c in report["topics"].items()],
    )
    options = report["options"]
    split_text = (
        f"A dialogue goes to the test split with probability {options['test_fraction']:g}, decided by a hash of its "
        f"content salted with seed {options.get('seed')}, so a dialogue's samples never straddle splits."
        if options.get("test_fraction")
        else "All dialogues are in the train split."
    )
    return f"{counts}\n\n{split_text} Messages: {report['messages']}.\n\n### Topics (all splits)\n\n{topics}"


def _defects_section(report: dict) -> str:
    if not (report["repairs"] or report["rejections"]):
        return "No defects were found."
    return _table(
        ["defect", "meaning", "repaired", "rejected"],
        [
            [d, DEFECTS[d], report["repairs"].get(d, 0), report["rejections"].get(d, 0)]
            for d in DEFECTS
            if report["repairs"].get(d) or report["rejections"].get(d)
        ],
    )


def _filter_text(report: dict) -> str:
    options = report["options"]
    filt = options.get("content_filter")
    if not filt:
        return f"The paper's content filter (strings such as {', '.join(PAPER_FILTER_STRINGS)}) was not applied."
    roles = " or ".join(options.get("content_filter_roles") or ["user", "assistant"])
    return (
        f"The content filter was on: dialogues containing any of {', '.join(filt)} in a message of {roles} were "
        f"removed ({report['filtered']} dialogues; matches per string: "
        + ", ".join(f"{text} {count}" for text, count in report["filter_matches"].items())
        + ")."
    )


def _cleaning_section(report: dict) -> str:
    statuses = _table(
        ["records read", "accepted", "repaired", "rejected", "filtered", "duplicates"],
        [[report[k] for k in ("records_read", "accepted", "repaired", "rejected", "filtered", "duplicate")]],
    )
    options = report["options"]
    validation = options.get("validation") or {}
    repair = (
        "Repairable defects were repaired"
        if validation.get("repair", True)
        else "Repair was off: every defect rejected its record"
    )
    flags = (
        _table(["flag", "meaning", "dialogues"], [[f, FLAGS.get(f, ""), n] for f, n in report["flags"].items()])
        if report.get("flags")
        else "No dialogue was flagged."
    )
    dedup = (
        "Exact duplicate dialogues (same roles and contents) were dropped."
        if options.get("deduplicate", True)
        else "Duplicates were kept."
    )
    return f"""Every record of the source files was validated: accepted as is, repaired (saying how) or rejected
(saying why). {repair}; messages longer than {validation.get("long_message_chars", "the limit of")} characters were
{"rejected" if validation.get("reject_long_messages") else "kept and flagged"}.

{statuses}

{_defects_section(report)}

Flags (noted on kept dialogues, which are unchanged):

{flags}

{_filter_text(report)} {dedup} Numbering gaps among integer ids: {report["id_gaps"]}. Every dropped record is listed,
with its raw content, in `dropped.jsonl` (not meant for publication); `report.json` holds all counts."""


def render_card(report: dict, *, name: str = "SoulChat counselling dialogues", license: str = "other") -> str:
    """Render README.md for a prepared folder from its `report.json` content.

    The card has the Hub's YAML metadata (with the `samples` and `dialogues` configurations), the structure and fields,
    counts per split and per topic, the cleaning applied with its counts, the intended use, the licence notes and the
    citation.

    Args:
        report (`dict`):
            The content of `report.json` (see `soulchat.data.report`).
        name (`str`, *optional*, defaults to `"SoulChat counselling dialogues"`):
            The dataset's title (and `pretty_name`).
        license (`str`, *optional*, defaults to `"other"`):
            The Hub licence id; `other` is SoulChatCorpus's non-commercial research licence.

    Returns:
        `str`: the card.
    """
    splits = sorted(s for s in report["dialogues"] if s == "train" or report["samples"].get(s)) or ["train"]
    n_samples = sum(report["samples"].values())
    header = yaml.safe_dump(
        card_header(splits, n_samples=n_samples, license=license, name=name), allow_unicode=True, sort_keys=False
    )
    formats = ", ".join(sorted({i["format"] for i in report["inputs"] if i["format"] != "empty"}))
    sources = ", ".join(f"`{Path(i['path']).name}` ({i['records']} records)" for i in report["inputs"])
    example = render_prompt([("最近总是失眠。", "听起来这段时间你很辛苦。")], "我该怎么办？")
    return f"""---
{header}---

# {name}

Multi-turn Chinese psychological-counselling dialogues prepared with soulchat's `prepare` command from {formats}
data, in the format of the SoulChat paper (Chen et al., Findings of EMNLP 2023). Sources: {sources}.

## Structure

{_fields_section()}

The prompt holds the earlier rounds as `用户：<user>\\n心理咨询师：<reply>`, joined by `\\n`, and ends with
`用户：<latest>\\n心理咨询师：`; the response is the counsellor's reply. For example:

```
{example}
```

```python
from datasets import load_dataset
samples = load_dataset("path/to/this/folder", "samples")
dialogues = load_dataset("path/to/this/folder", "dialogues")
```

## Counts

{_counts_section(report, splits)}

## Cleaning applied

{_cleaning_section(report)}

## Intended use and limitations

For research on empathetic counselling dialogue and for training and evaluating such models (the SoulChat recipe).
The dialogues discuss distress, relationships and sexuality, and may mention self-harm; counsellor replies are examples
of empathetic listening, not clinical advice, and a model trained on them is no substitute for a professional. Do not
use the data to identify or profile people.

## Licence

{_LICENCE_NOTE}

## Citation

```bibtex
{CITATION}```
"""


__all__ = ["CITATION", "card_header", "render_card"]
