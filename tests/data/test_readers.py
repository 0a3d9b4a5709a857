import json
import random

import pytest

from soulchat.data.readers import expand_inputs, iter_json_array, iter_json_lines

RECORDS = [
    {
        "id": i,
        "topic": "情绪",
        "messages": [
            {"role": "user", "content": "你好，我很难过" * (i % 5 + 1)},
            {"role": "assistant", "content": "我在听，{}慢慢说。" * (i % 3 + 1)},
        ],
    }
    for i in range(40)
]


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 7, 64, 1000, 1 << 20])
@pytest.mark.parametrize("indent", [None, 1])
def test_array_streaming_equals_json_load_at_any_chunk_size(tmp_path, chunk_bytes, indent):
    path = tmp_path / "c.json"
    path.write_text("\ufeff" + json.dumps(RECORDS, ensure_ascii=False, indent=indent), encoding="utf-8")
    got = list(iter_json_array(path, chunk_bytes=chunk_bytes))
    assert [r.error for r in got] == [None] * len(RECORDS)
    assert [r.value for r in got] == RECORDS
    assert [r.index for r in got] == list(range(len(RECORDS)))


def test_array_progress_counts_every_byte(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(RECORDS, ensure_ascii=False), encoding="utf-8")
    seen = []
    list(iter_json_array(path, chunk_bytes=100, on_progress=seen.append))
    assert sum(seen) == path.stat().st_size


def test_truncated_array_keeps_complete_records_and_reports_the_cut_one(tmp_path):
    text = json.dumps(RECORDS[:3], ensure_ascii=False)
    path = tmp_path / "c.json"
    path.write_text(text[: len(text) - 25], encoding="utf-8")
    got = list(iter_json_array(path, chunk_bytes=16))
    assert [r.value for r in got[:2]] == RECORDS[:2]
    assert len(got) == 3 and got[2].error == "truncated_json"
    assert got[2].raw.startswith('{"id": 2')


def test_unclosed_array_loses_nothing(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(RECORDS[:3], ensure_ascii=False)[:-1] + "\n", encoding="utf-8")
    got = list(iter_json_array(path))
    assert [r.value for r in got] == RECORDS[:3]


def test_malformed_record_in_the_middle_is_skipped_and_reading_resumes(tmp_path):
    good = [json.dumps(r, ensure_ascii=False) for r in RECORDS[:4]]
    bad = '{"id": 99, "topic": "情绪", "messages": [{"role": "user", "content": "坏" oops}]}'
    path = tmp_path / "c.json"
    path.write_text("[" + ",\n".join(good[:2] + [bad] + good[2:]) + "]", encoding="utf-8")
    got = list(iter_json_array(path, chunk_bytes=32))
    assert [r.error for r in got] == [None, None, "malformed_json", None, None]
    assert [r.value for r in got if r.error is None] == RECORDS[:4]
    assert got[2].raw == bad
    assert "character offset" in got[2].detail


def test_a_malformed_record_does_not_swallow_a_record_with_an_optional_key(tmp_path):
    with_source = dict(RECORDS[2], source="web")
    texts = [json.dumps(r, ensure_ascii=False) for r in (RECORDS[0], RECORDS[1], with_source, RECORDS[3])]
    texts[1] = texts[1].replace('"}, {"role"', '"} {"role"', 1)  # a missing comma inside record 1
    path = tmp_path / "c.json"
    path.write_text("[\n" + ",\n".join(texts) + "\n]", encoding="utf-8")
    got = list(iter_json_array(path))
    assert [r.index for r in got] == [0, 1, 2, 3]
    assert [r.error for r in got] == [None, "malformed_json", None, None]
    assert [got[0].value, got[2].value, got[3].value] == [RECORDS[0], with_source, RECORDS[3]]
    assert got[1].raw == texts[1]


@pytest.mark.parametrize("chunk_bytes", [8, 4096])
def test_consecutive_malformed_records_stay_separate(tmp_path, chunk_bytes):
    texts = [json.dumps(r, ensure_ascii=False) for r in RECORDS[:5]]
    texts[1] = texts[1].replace('"}, {"role"', '"} {"role"', 1)
    texts[2] = texts[2].replace('"topic": ', '"topic" ', 1)
    path = tmp_path / "c.json"
    path.write_text("[" + ",\n".join(texts) + "]", encoding="utf-8")
    got = list(iter_json_array(path, chunk_bytes=chunk_bytes))
    assert [r.error for r in got] == [None, "malformed_json", "malformed_json", None, None]
    assert [r.raw for r in got[1:3]] == texts[1:3]
    assert [r.value for r in got if r.error is None] == [RECORDS[0], RECORDS[3], RECORDS[4]]


def test_a_missing_comma_between_records_costs_only_the_record_before_it(tmp_path):
    texts = [json.dumps(r, ensure_ascii=False) for r in RECORDS[:3]]
    path = tmp_path / "c.json"
    path.write_text("[" + texts[0] + " " + texts[1] + ", " + texts[2] + "]", encoding="utf-8")
    got = list(iter_json_array(path))
    assert [r.error for r in got] == ["malformed_json", None, None]
    assert got[0].raw == texts[0] and "after a record" in got[0].detail
    assert [r.value for r in got[1:]] == RECORDS[1:3]


def test_json_lines_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text("\ufeff" + "\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS[:2]), encoding="utf-8")
    got = list(iter_json_lines(path))
    assert [r.value for r in got] == RECORDS[:2]


def test_invalid_utf8_survives_as_surrogates(tmp_path):
    path = tmp_path / "c.json"
    data = json.dumps(RECORDS[:2], ensure_ascii=False).encode()
    data = data.replace("难过".encode(), b"\xff\xfe", 1)
    path.write_bytes(data)
    got = list(iter_json_array(path, chunk_bytes=5))
    assert "\udcff\udcfe" in got[0].value["messages"][0]["content"]
    assert got[1].value == RECORDS[1]


def test_json_lines_bad_and_truncated_lines(tmp_path):
    lines = [json.dumps(r, ensure_ascii=False) for r in RECORDS[:3]]
    path = tmp_path / "c.jsonl"
    path.write_text(lines[0] + "\n\n{not json}\n" + lines[1] + "\n" + lines[2][:-10], encoding="utf-8")
    got = list(iter_json_lines(path))
    assert [r.error for r in got] == [None, "malformed_json", None, "truncated_json"]
    assert got[1].detail.startswith("line 3:")
    assert [r.index for r in got] == [0, 1, 2, 3]


def test_random_corruptions_never_lose_a_record(tmp_path):
    rng = random.Random(1)
    for trial in range(300):
        # some records carry an optional key, so that records do not all have one set of keys
        records = [dict(r, source="web") if rng.random() < 0.3 else r for r in RECORDS[:10]]
        texts = [json.dumps(r, ensure_ascii=False) for r in records]
        broken = rng.sample(range(10), rng.randint(1, 4))
        for i in broken:
            cut = rng.randrange(5, len(texts[i]) - 5)
            texts[i] = texts[i][:cut] + rng.choice(["}", "]", '"', "x", ",,", "{", "[", "\\"]) + texts[i][cut + 1 :]
        path = tmp_path / f"c{trial}.json"
        path.write_text("[" + ",\n".join(texts) + "]", encoding="utf-8")
        got = list(iter_json_array(path, chunk_bytes=rng.choice([8, 50, 4096])))
        good = [r.value for r in got if r.error is None]
        # every untouched record comes back exactly once, in order
        untouched = [records[i] for i in range(10) if i not in broken]
        assert [g for g in good if g in untouched] == untouched, trial
        # and the raw text of every record is kept, parsed or not
        kept = "".join(r.raw for r in got if r.error) + "".join(json.dumps(g, ensure_ascii=False) for g in good)
        assert sum(len(t) for t in texts) <= len(kept) + 10 * 2


def test_expand_inputs_walks_folders_and_rejects_missing(tmp_path):
    (tmp_path / "d" / "e").mkdir(parents=True)
    for name in ["d/a.json", "d/e/b.jsonl", "d/e/c.txt", "d/skip.csv", "d/.hidden.json"]:
        (tmp_path / name).write_text("[]")
    assert [p.name for p in expand_inputs([tmp_path / "d"])] == ["a.json", "b.jsonl", "c.txt"]
    with pytest.raises(FileNotFoundError, match="nope"):
        expand_inputs([tmp_path / "nope"])
