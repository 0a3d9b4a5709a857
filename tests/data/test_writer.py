import pyarrow.parquet as pq

from soulchat.data.expansion import expand_dialogue
from soulchat.data.schema import Dialogue, Message
from soulchat.data.writer import dialogue_writer, sample_writer


def _dialogues(n):
    return [
        Dialogue(
            id=str(i),
            topic="情绪" if i % 2 else None,
            messages=[Message("user", f"问{i}"), Message("assistant", f"答{i}")] * (i % 3 + 1),
            system="系统" if i == 3 else None,
            source="x.json",
        )
        for i in range(n)
    ]


def test_rotating_shards_read_back_in_order(tmp_path):
    dialogues = _dialogues(25)
    dw = dialogue_writer(tmp_path / "d", "train", batch_rows=4, shard_bytes=1)
    sw = sample_writer(tmp_path / "s", "train", batch_rows=3, shard_bytes=1)
    samples = []
    for d in dialogues:
        dw.add(d)
        for s in expand_dialogue(d):
            sw.add(s)
            samples.append(s)
    d_paths, s_paths = dw.close(), sw.close()
    assert [p.name for p in d_paths] == [f"train-{i:05d}-of-00007.parquet" for i in range(7)]
    assert len(s_paths) == -(-len(samples) // 3)
    rows = [r for p in d_paths for r in pq.read_table(p).to_pylist()]
    assert rows == [d.to_row() for d in dialogues]
    assert [r for p in s_paths for r in pq.read_table(p).to_pylist()] == samples
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [p.name for p in d_paths]  # no .tmp left


def test_empty_split_still_has_a_loadable_shard(tmp_path):
    (path,) = sample_writer(tmp_path, "test").close()
    table = pq.read_table(path)
    assert table.num_rows == 0 and table.column_names == ["id", "dialogue_id", "topic", "turn", "prompt", "response"]
