"""Parquet shard writers for the `dialogues` and `samples` tables, streaming with bounded memory."""

import os
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from soulchat.data.readers import display_path
from soulchat.data.schema import Dialogue, dialogue_features, sample_features


def dialogues_to_batch(dialogues: list[Dialogue], schema: pa.Schema) -> pa.RecordBatch:
    """Build the Arrow batch of a list of dialogues column by column (no per-row dict conversion)."""
    offsets, roles, contents = [0], [], []
    for d in dialogues:
        for m in d.messages:
            roles.append(m.role)
            contents.append(m.content)
        offsets.append(len(roles))
    messages = pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()),
        pa.StructArray.from_arrays(
            [pa.array(roles, pa.string()), pa.array(contents, pa.string())], ["role", "content"]
        ),
    )
    columns = [
        pa.array([d.id for d in dialogues], pa.string()),
        pa.array([d.topic for d in dialogues], pa.string()),
        messages,
        pa.array([d.system for d in dialogues], pa.string()),
        pa.array([display_path(d.source) if d.source else d.source for d in dialogues], pa.string()),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def samples_to_batch(samples: list[dict], schema: pa.Schema) -> pa.RecordBatch:
    """Build the Arrow batch of a list of sample dicts (see `expand_dialogue`)."""
    columns = [pa.array([s[name] for s in samples], schema.field(name).type) for name in schema.names]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


class ShardedParquetWriter:
    """Writes rows of one table and split as `{split}-NNNNN-of-MMMMM.parquet` shards of bounded size.

    Args:
        directory (`Path`): Where the shards go (created).
        split (`str`): The split name, the shards' prefix.
        schema (`pa.Schema`): The table schema (with its `huggingface` features metadata).
        to_batch (`Callable`): Turns a list of buffered rows into a `pa.RecordBatch`.
        batch_rows (`int`, *optional*, defaults to 8192): Rows buffered before a batch is written.
        shard_bytes (`int`, *optional*, defaults to 512 MiB): Uncompressed bytes after which a new shard starts.
        compression (`str`, *optional*, defaults to `"zstd"`): Parquet compression codec.
    """

    def __init__(
        self,
        directory: Path,
        split: str,
        schema: pa.Schema,
        to_batch: Callable[[list, pa.Schema], pa.RecordBatch],
        *,
        batch_rows: int = 8192,
        shard_bytes: int = 512 << 20,
        compression: str = "zstd",
    ):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.split, self.schema, self.to_batch = split, schema, to_batch
        self.batch_rows, self.shard_bytes, self.compression = batch_rows, shard_bytes, compression
        self.rows: list = []
        self.paths: list[Path] = []
        self.num_rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._shard_written = 0

    def add(self, row) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.batch_rows:
            self._flush()

    def _flush(self) -> None:
        if not self.rows:
            return
        batch = self.to_batch(self.rows, self.schema)
        self.rows = []
        if self._writer is None or self._shard_written >= self.shard_bytes:
            self._open_shard()
        self._writer.write_batch(batch)
        self._shard_written += batch.nbytes
        self.num_rows += batch.num_rows

    def _open_shard(self) -> None:
        if self._writer is not None:
            self._writer.close()
        path = self.directory / f"{self.split}-{len(self.paths):05d}.parquet.tmp"
        self.paths.append(path)
        self._writer = pq.ParquetWriter(path, self.schema, compression=self.compression)
        self._shard_written = 0

    def close(self) -> list[Path]:
        """Write what is buffered, close, and give the shards their final `-of-` names; returns them."""
        self._flush()
        if self._writer is None:  # an empty split still gets one (empty) shard so that it loads
            self._open_shard()
        self._writer.close()
        final = []
        for i, path in enumerate(self.paths):
            target = self.directory / f"{self.split}-{i:05d}-of-{len(self.paths):05d}.parquet"
            os.replace(path, target)
            final.append(target)
        return final


def dialogue_writer(directory: Path, split: str, **kwargs) -> ShardedParquetWriter:
    return ShardedParquetWriter(directory, split, dialogue_features().arrow_schema, dialogues_to_batch, **kwargs)


def sample_writer(directory: Path, split: str, **kwargs) -> ShardedParquetWriter:
    return ShardedParquetWriter(directory, split, sample_features().arrow_schema, samples_to_batch, **kwargs)


__all__ = ["ShardedParquetWriter", "dialogue_writer", "dialogues_to_batch", "sample_writer", "samples_to_batch"]
