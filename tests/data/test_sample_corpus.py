"""The bundled sample corpus: the shape the project promises, and clean under its own validation."""

import json
from collections import Counter

from soulchat.data.bundled import sample_corpus_path
from soulchat.data.cleaning import PAPER_FILTER_STRINGS
from soulchat.data.formats import SPEAKER_PREFIX
from soulchat.data.pipeline import CorpusPipeline, PipelineOptions
from soulchat.data.schema import TOPICS


def test_shape():
    dialogues = json.loads(sample_corpus_path().read_text(encoding="utf-8"))
    assert len(dialogues) >= 48
    per_topic = Counter(d["topic"] for d in dialogues)
    assert set(per_topic) == set(TOPICS) and min(per_topic.values()) >= 4
    assert len({d["id"] for d in dialogues}) == len(dialogues)
    for d in dialogues:
        roles = [m["role"] for m in d["messages"]]
        assert roles == ["user", "assistant"] * (len(roles) // 2), d["id"]
        assert 4 <= len(roles) // 2 <= 10, d["id"]
        for m in d["messages"]:
            assert m["content"] == m["content"].strip() and m["content"]
            assert not SPEAKER_PREFIX.match(m["content"])
            assert not any(s in m["content"] for s in PAPER_FILTER_STRINGS)


def test_clean_under_validation():
    pipeline = CorpusPipeline(PipelineOptions())
    kept = list(pipeline.dialogues(sample_corpus_path()))
    report = pipeline.report
    assert len(kept) == report.records_read == report.status["accepted"]
    assert not report.repairs and not report.flags and not report.rejections
