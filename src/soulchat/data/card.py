"""The dataset card (README.md with the Hub's YAML header) of a prepared dataset folder."""

import yaml

from soulchat.data.cleaning import PAPER_FILTER_STRINGS
from soulchat.data.expansion import render_prompt
from soulchat.data.schema import TOPICS
from soulchat.data.validation import DEFECTS

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


def card_header(splits: list[str], *, n_samples: int, license: str) -> dict:
    """The YAML metadata: language, licence, task, and the `samples` / `dialogues` configs with their files."""
    return {
        "language": ["zh"],
        "license": license,
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


def render_card(report: dict, *, name: str = "SoulChat counselling dialogues", license: str = "other") -> str:
    """Render README.md for a prepared folder from its `report.json` content."""
    splits = sorted(report["dialogues"]) or ["train"]
    n_samples = sum(report["samples"].values())
    header = yaml.safe_dump(
        card_header(splits, n_samples=n_samples, license=license), allow_unicode=True, sort_keys=False
    )
    formats = sorted({i["format"] for i in report["inputs"]})
    counts = _table(
        ["split", "dialogues", "samples"],
        [[s, report["dialogues"].get(s, 0), report["samples"].get(s, 0)] for s in splits],
    )
    topics = _table(
        ["topic", "English", "dialogues", "samples"],
        [[t or "(none)", TOPICS.get(t, ""), c["dialogues"], c["samples"]] for t, c in report["topics"].items()],
    )
    statuses = _table(
        ["records read", "accepted", "repaired", "rejected", "filtered", "duplicates"],
        [
            [
                report["records_read"],
                report["accepted"],
                report["repaired"],
                report["rejected"],
                report["filtered"],
                report["duplicate"],
            ]
        ],
    )
    defects = (
        _table(
            ["defect", "meaning", "repaired", "rejected"],
            [
                [d, DEFECTS[d], report["repairs"].get(d, 0), report["rejections"].get(d, 0)]
                for d in DEFECTS
                if report["repairs"].get(d) or report["rejections"].get(d)
            ],
        )
        if (report["repairs"] or report["rejections"])
        else "No defects were found."
    )
    filt = report["options"].get("content_filter")
    filter_text = (
        f"The content filter was on: dialogues containing any of {', '.join(filt)} in a message of "
        f"{' or '.join(report['options'].get('content_filter_roles') or ['user', 'assistant'])} were removed "
        f"({report['filtered']} dialogues; per string: {report['filter_matches']})."
        if filt
        else f"The paper's content filter (strings such as {', '.join(PAPER_FILTER_STRINGS)}) was not applied."
    )
    example = render_prompt([("最近总是失眠。", "听起来这段时间你很辛苦。")], "我该怎么办？")
    return f"""---
{header}---

# {name}

Multi-turn Chinese psychological-counselling dialogues prepared with
soulchat's `prepare` command from {", ".join(formats)} data, in the format of the SoulChat paper
(Chen et al., Findings of EMNLP 2023).

## Structure

- `samples` (default config): one training sample per counsellor turn. Fields: `id` (`"<dialogue_id>-<turn>"`),
  `dialogue_id`, `topic`, `turn` (1-based number of the counsellor turn), `prompt`, `response`.
- `dialogues`: the validated dialogues. Fields: `id`, `topic`, `messages` (a list of `{{role, content}}`, roles
  `user` and `assistant`, alternating, user first, counsellor last), `system` (a leading system message, if any),
  `source` (the file it came from).

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

{counts}

Messages: {report["messages"]}.

### Topics

{topics}

## Cleaning applied

{statuses}

{defects}

{filter_text} Exact duplicate dialogues (same roles and contents) were dropped. Numbering gaps among integer ids:
{report["id_gaps"]}. Every dropped record is listed, with its raw content, in `dropped.jsonl`; `report.json` holds
all counts.

## Licence

{_LICENCE_NOTE}

## Citation

```bibtex
{CITATION}```
"""


__all__ = ["CITATION", "card_header", "render_card"]
