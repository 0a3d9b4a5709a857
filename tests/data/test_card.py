"""The dataset card: Hub metadata, fields, counts per split and topic, the cleaning applied with its counts, licence."""

import yaml

from soulchat.data.card import render_card

REPORT = {
    "inputs": [{"path": "/data/raw/messy.json", "format": "soulchat", "records": 7}],
    "records_read": 7,
    "accepted": 3,
    "repaired": 1,
    "rejected": 1,
    "filtered": 1,
    "duplicate": 1,
    "repairs": {"trailing_user_turn": 1},
    "rejections": {"unknown_role": 1},
    "flags": {"unknown_topic": 1},
    "filter_matches": {"我是": 1},
    "id_gaps": 8,
    "dialogues": {"train": 3, "test": 1},
    "samples": {"train": 7, "test": 2},
    "messages": 18,
    "topics": {
        "情绪": {"dialogues": 2, "samples": 4},
        "家庭": {"dialogues": 1, "samples": 3},
        None: {"dialogues": 1, "samples": 2},
    },
    "options": {
        "format": "auto",
        "validation": {"repair": True, "long_message_chars": 2048, "reject_long_messages": False},
        "content_filter": ["我是", "自杀", "跳楼"],
        "deduplicate": True,
        "test_fraction": 0.25,
        "seed": 7,
        "content_filter_roles": ["user"],
    },
}


def test_dataset_card_sections_and_counts():
    card = render_card(REPORT, name="SoulChatCorpus")
    header = yaml.safe_load(card.split("---\n", 2)[1])
    assert header["pretty_name"] == "SoulChatCorpus" and header["language"] == ["zh"]
    assert header["license"] == "other" and header["license_name"] == "non-commercial-research"
    assert header["size_categories"] == ["n<1K"] and header["task_categories"] == ["text-generation"]
    assert [c["config_name"] for c in header["configs"]] == ["samples", "dialogues"]
    expected = [
        "# SoulChatCorpus",
        "Sources: `messy.json` (7 records).",
        "| `turn` | int32 | 1-based number of the counsellor turn |",
        "| `messages` | list of {role, content} |",
        "| test | 1 | 2 |\n| train | 3 | 7 |\n| total | 4 | 9 |",
        "A dialogue goes to the test split with probability 0.25, decided by a hash of its content salted with seed 7",
        "Messages: 18.",
        "| 情绪 | Emotion | 2 | 4 |\n| 家庭 | Family | 1 | 3 |\n| (none) |  | 1 | 2 |",
        "| 7 | 3 | 1 | 1 | 1 | 1 |",
        "| trailing_user_turn | the dialogue ends on a user turn (trailing turns dropped) | 1 | 0 |",
        "| unknown_role | a role that is neither user nor assistant (nor a leading system message) | 0 | 1 |",
        "| unknown_topic | a SoulChatCorpus topic outside the 12 topics | 1 |",
        "dialogues containing any of 我是, 自杀, 跳楼 in a message of user were removed (1 dialogues; matches per "
        "string: 我是 1).",
        "Exact duplicate dialogues (same roles and contents) were dropped. Numbering gaps among integer ids: 8.",
        "non-commercial research use only",
        "## Intended use and limitations",
        "@inproceedings{chen-etal-2023-soulchat",
    ]
    for text in expected:
        assert text in card, text


def test_dataset_card_of_a_clean_unsplit_corpus():
    report = {
        **REPORT,
        **{"repaired": 0, "rejected": 0, "filtered": 0, "duplicate": 0, "repairs": {}, "rejections": {}, "flags": {}},
        "dialogues": {"train": 4},
        "samples": {"train": 9},
        "options": {**REPORT["options"], "content_filter": None, "test_fraction": 0.0, "deduplicate": False},
    }
    card = render_card(report, license="cc-by-nc-4.0")
    header = yaml.safe_load(card.split("---\n", 2)[1])
    assert header["license"] == "cc-by-nc-4.0" and "license_name" not in header
    assert header["configs"][0]["data_files"] == [{"split": "train", "path": "samples/train-*.parquet"}]
    for text in (
        "All dialogues are in the train split.",
        "No defects were found.",
        "No dialogue was flagged.",
        "The paper's content filter (strings such as 我是, 自杀, 跳楼) was not applied.",
        "Duplicates were kept.",
    ):
        assert text in card, text
