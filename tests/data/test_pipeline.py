import json

from soulchat.data.cleaning import ContentFilter
from soulchat.data.pipeline import CorpusPipeline, PipelineOptions
from soulchat.data.report import STATUSES


def _run(path, **kw):
    dropped = []
    pipeline = CorpusPipeline(PipelineOptions(**kw), on_drop=dropped.append)
    kept = list(pipeline.dialogues(path))
    return kept, pipeline.report, dropped


def test_counts_add_up_and_every_drop_names_file_record_and_reason(messy_corpus):
    path, expected = messy_corpus
    kept, report, dropped = _run(path)
    # the unfiltered record 11 is accepted
    assert {s: report.status[s] for s in STATUSES} == {**expected, "accepted": expected["accepted"] + 1}
    assert report.records_read == 13 == sum(report.status.values())
    assert len(kept) == report.status["accepted"] + report.status["repaired"]
    assert len(dropped) == report.status["rejected"] + report.status["duplicate"]
    assert report.rejections == {
        "unknown_role": 1,
        "non_string_content": 1,
        "invalid_utf8": 1,
        "missing_messages": 1,
        "not_an_object": 1,
        "truncated_json": 1,
    }
    assert report.repairs == {"trailing_user_turn": 1, "speaker_prefix": 1}
    assert report.flags == {"unknown_topic": 1}
    by_index = {d["index"]: d for d in dropped}
    assert by_index[4] == {
        "file": str(path),
        "index": 4,
        "id": "5",
        "status": "rejected",
        "reason": "unknown_role",
        "detail": "messages[0].role is 'bot'",
        "record": {"id": 5, "topic": "情绪", "messages": [{"role": "bot", "content": "hi"}]},
    }
    assert by_index[9]["status"] == "duplicate" and by_index[9]["detail"] == "same messages as dialogue 1"
    assert by_index[9]["record"]["id"] == 10  # the duplicate's own record is kept too
    # a record whose shape does not fit still carries its id, and a null field is not called missing
    assert (by_index[7]["id"], by_index[7]["detail"]) == ("8", "field 'messages' is missing")
    assert by_index[12]["reason"] == "truncated_json" and by_index[12]["record"].startswith('{"id": 13')
    assert report.to_dict()["records_read"] == 13


def test_content_filter_reports_what_it_removed(messy_corpus):
    path, expected = messy_corpus
    _, report, dropped = _run(path, content_filter=ContentFilter())
    assert {s: report.status[s] for s in STATUSES} == {**expected, "filtered": 1}
    assert report.filter_matches == {"我是": 1}
    (f,) = [d for d in dropped if d["status"] == "filtered"]
    assert (f["id"], f["detail"]) == ("11", "the user message '我是学生' (message 0 after repair) contains '我是'")


def test_null_turn_list_is_named_null_and_keeps_the_id(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": 56, "topic": "情绪", "messages": null}\n', encoding="utf-8")
    _, report, dropped = _run(path)
    assert (dropped[0]["id"], dropped[0]["detail"]) == ("56", "field 'messages' is null")


def test_blank_file_in_auto_mode_counts_as_no_records(tmp_path, messy_corpus):
    path, expected = messy_corpus
    blank = tmp_path / "sub" / "empty.jsonl"
    blank.parent.mkdir()
    blank.write_text("\ufeff\n  \n", encoding="utf-8")
    pipeline = CorpusPipeline(PipelineOptions())
    kept = [d for p in (blank, path) for d in pipeline.dialogues(p)]
    assert len(kept) == expected["accepted"] + 1 + expected["repaired"]
    assert pipeline.report.inputs[0] == {"path": str(blank), "format": "empty", "records": 0}


def test_custom_filter_strings_and_file(tmp_path, messy_corpus):
    path, _ = messy_corpus
    _, report, _ = _run(path, content_filter=ContentFilter(("难过",)))
    # 1, 2, 3, 12 and the copy of 1 (the filter runs before de-duplication)
    assert report.status["filtered"] == 5 and report.filter_matches == {"难过": 5}
    (tmp_path / "f.txt").write_text("# comment\n\n学生\n", encoding="utf-8")
    assert ContentFilter.from_file(tmp_path / "f.txt").strings == ("学生",)


def test_no_dedup_keeps_duplicates(messy_corpus):
    path, _ = messy_corpus
    kept, report, _ = _run(path, deduplicate=False)
    assert report.status["duplicate"] == 0 and len(kept) == 7


def test_split_is_deterministic_by_content_and_seed(tmp_path):
    from tests.data.conftest import good

    path = tmp_path / "c.json"
    path.write_text(json.dumps([good(i) for i in range(400)], ensure_ascii=False), encoding="utf-8")
    first = [(d.id, s) for d, s in _run(path, test_fraction=0.25)[0]]
    again = [(d.id, s) for d, s in _run(path, test_fraction=0.25)[0]]
    other_seed = [(d.id, s) for d, s in _run(path, test_fraction=0.25, seed=7)[0]]
    assert first == again != other_seed
    n_test = sum(s == "test" for _, s in first)
    assert 60 < n_test < 140  # about a quarter of 400


def test_id_gaps_and_duplicate_ids(tmp_path):
    from tests.data.conftest import good

    records = [good(1), good(2), good(5), {**good(7), "id": 2}, {**good(8), "id": 2}, {**good(9), "id": "2#2"}]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    kept, report, _ = _run(path)
    assert report.id_gaps == 2  # 3 and 4 are missing
    assert report.flags == {"duplicate_id": 3}
    # a reused id is renamed, so that sample ids stay unique
    assert [d.id for d, _ in kept] == ["1", "2", "5", "2#2", "2#3", "2#2#2"]


def test_filter_restricted_to_counsellor_messages(messy_corpus):
    path, _ = messy_corpus
    _, report, _ = _run(path, content_filter=ContentFilter(roles=("assistant",)))
    assert report.status["filtered"] == 0  # 我是 appears only in a user message
    _, report, _ = _run(path, content_filter=ContentFilter(("你好",), roles=("assistant",)))
    assert report.filter_matches == {"你好": 2}  # records 4 (after its prefix is stripped) and 11


def test_filter_rejects_bad_configuration():
    import pytest

    with pytest.raises(ValueError, match="non-empty strings"):
        ContentFilter(("",))
    with pytest.raises(ValueError, match="roles must be among"):
        ContentFilter(roles=("system",))


def test_the_pipeline_report_counts_what_it_kept(messy_corpus):
    path, _ = messy_corpus
    kept, report, _ = _run(path, test_fraction=0.3)
    by_split = {split: [d for d, s in kept if s == split] for split in ("train", "test")}
    assert report.dialogues == {split: len(ds) for split, ds in by_split.items() if ds}
    turns = [m for d, _ in kept for m in d.messages]
    assert report.messages == len(turns) and sum(report.samples.values()) == sum(m.role == "assistant" for m in turns)
