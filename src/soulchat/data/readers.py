"""Streaming readers: the raw records of a corpus file, one at a time, with parse errors kept as records.

A JSON array is read in chunks and decoded one element at a time (the 907 MB SoulChatCorpus never becomes one
Python object); JSON Lines are read line by line. A record that does not parse is not lost: it comes back
as a `RawRecord` with an `error` and its raw text, and reading resumes at the next record. Invalid UTF-8 bytes
are kept as lone surrogates (`surrogateescape`) so that validation can reject exactly the records that hold them.
"""

import codecs
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soulchat.data.formats import FormatSpec

CORPUS_SUFFIXES = (".json", ".jsonl", ".txt")
_WHITESPACE = re.compile(r"[\s\ufeff]*")
# A parse error this close to the end of the buffer may just mean that the record continues in the next chunk.
_TAIL = 32


@dataclass(slots=True)
class RawRecord:
    """One record as read from a file, before conversion.

    Args:
        source (`str`): The file it was read from.
        index (`int`): Its 0-based position among the file's records.
        value (`Any`): The parsed JSON value (or the text of a text file); `None` when `error` is set.
        error (`str`, *optional*): `"malformed_json"` or `"truncated_json"` when the record did not parse.
        detail (`str`): Where and why parsing failed.
        raw (`str`, *optional*): The unparsed text of a record that failed, so that nothing is lost.
    """

    source: str
    index: int
    value: Any = None
    error: str | None = None
    detail: str = ""
    raw: str | None = None


def expand_inputs(paths: list[Path]) -> list[Path]:
    """The corpus files named by `paths`: files as given, folders searched recursively for .json/.jsonl/.txt."""
    files: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix in CORPUS_SUFFIXES and not p.name.startswith(".")
            )
            files.extend(f for f in found if f.name not in ("report.json", "README.md"))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"corpus input not found: {path}")
    return files


def display_path(path: str | Path) -> str:
    """`path` as a dataset may publish it: relative to the working folder when it lies inside it, else its file name,
    never an absolute path of this machine (which would show its user's folders on the Hub)."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.name


class _TextStream:
    """A growing text buffer over a binary file, decoded incrementally as UTF-8 with surrogateescape."""

    def __init__(self, f, chunk_bytes: int, on_progress: Callable[[int], None] | None):
        self.f = f
        self.chunk_bytes = chunk_bytes
        self.on_progress = on_progress
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self.buf = ""
        self.pos = 0
        self.base = 0  # characters dropped from the front of `buf` so far
        self.eof = False

    def fill(self) -> None:
        data = self.f.read(self.chunk_bytes)
        if self.on_progress is not None and data:
            self.on_progress(len(data))
        if not data:
            self.eof = True
        self.buf += self.decoder.decode(data, final=not data)

    def compact(self) -> None:
        if self.pos > self.chunk_bytes:
            self.base += self.pos
            self.buf = self.buf[self.pos :]
            self.pos = 0

    def char_at(self, pos: int) -> tuple[str, int]:
        """The first non-whitespace character at or after `pos` and its position (`""` at the end of file)."""
        while True:
            pos = _WHITESPACE.match(self.buf, pos).end()
            if pos < len(self.buf):
                return self.buf[pos], pos
            if self.eof:
                return "", pos
            self.fill()

    def peek(self) -> str:
        """The next non-whitespace character (the position moves onto it), or `""` at the end of the file."""
        c, self.pos = self.char_at(self.pos)
        return c

    def decode_at(self, decoder: json.JSONDecoder, pos: int, max_chars: int) -> tuple[Any, int]:
        """Decode one JSON value at `pos`, reading more of the file while the value may continue."""
        while True:
            try:
                return decoder.raw_decode(self.buf, pos)
            except json.JSONDecodeError as e:
                maybe_cut = e.msg.startswith("Unterminated string") or e.pos >= len(self.buf) - _TAIL
                if self.eof or not maybe_cut or len(self.buf) - pos > max_chars:
                    raise
                self.fill()


_STRUCTURE = re.compile(r'[\[\]{}"\\]')


def _balanced_end(stream: _TextStream, start: int, max_chars: int) -> int:
    """The end of the bracketed value that starts at `start` (`{` or `[`), found by counting brackets outside
    strings without parsing it, or -1 when the brackets never balance (within `max_chars` or the file)."""
    depth, in_string, p = 0, False, start
    while True:
        m = _STRUCTURE.search(stream.buf, p)
        if m is None:
            if stream.eof or len(stream.buf) - start > max_chars:
                return -1
            p = len(stream.buf)
            stream.fill()
            continue
        c, p = m.group(), m.end()
        if c == "\\":
            if p >= len(stream.buf) and not stream.eof:
                stream.fill()
            p += 1
        elif c == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif c in "[{":
            depth += 1
        else:
            depth -= 1
            if depth <= 0:
                return p if depth == 0 else -1


def _is_record_start(stream: _TextStream, value: Any, end: int, shapes: set[frozenset], nesting: set[str]) -> bool:
    """Whether a value decoded after a parse error is a top-level record: an object followed by `,`, `]` or the
    end of the file, with the keys of an earlier record, or a list or an object under a key where earlier records
    had one, or holding a list or an object and (once records have been read) half the keys of one."""
    if not isinstance(value, dict) or stream.char_at(end)[0] not in (",", "]", ""):
        return False
    keys = frozenset(value)
    if keys in shapes or any(k in nesting and isinstance(v, (list, dict)) for k, v in value.items()):
        return True
    holds = any(isinstance(v, (list, dict)) for v in value.values())
    # before any record, an object holding a list or an object; after, one that also shares half the keys of one
    return holds and (not shapes or any(2 * len(keys & shape) >= len(shape) for shape in shapes))


def _resync(
    stream: _TextStream, decoder: json.JSONDecoder, shapes: set[frozenset], nesting: set[str], max_chars: int
) -> int:
    """The position of the next record after `stream.pos` (see `_is_record_start`), or -1 when none follows."""
    p = stream.pos
    while True:
        p = stream.buf.find("{", p + 1)
        if p == -1:
            if stream.eof:
                return -1
            p = len(stream.buf) - 1
            stream.fill()
            continue
        try:
            value, end = stream.decode_at(decoder, p, max_chars)
        except json.JSONDecodeError:
            continue
        if _is_record_start(stream, value, end, shapes, nesting):
            return p


def _follows_malformed(stream: _TextStream, decoder: json.JSONDecoder, pos: int, max_chars: int) -> bool:
    """Whether the element at `pos`, right after balanced brackets that did not parse, starts a record: it does
    not parse either, or it is an object holding a list or an object (where a nested message would not)."""
    try:
        value, end = stream.decode_at(decoder, pos, max_chars)
    except json.JSONDecodeError:
        return True
    return stream.char_at(end)[0] not in (",", "]", "") or _is_record_start(stream, value, end, set(), set())


def _malformed_end(
    stream: _TextStream, decoder: json.JSONDecoder, shapes: set[frozenset], nesting: set[str], max_chars: int
) -> int:
    """Where the element at `stream.pos` that did not parse ends, -1 when nothing follows it.

    That is the next recognisable record (see `_resync`), unless the element's brackets balance earlier and are
    followed by another element that does not parse either or looks like a record itself (or by the array's end
    when no record follows): then two malformed elements stay two records, and a record whose keys are new is
    not swallowed. What follows balanced brackets counts only then, since a stray bracket or quote can balance
    them inside the record, before a nested object.
    """
    start = stream.pos
    following = -1
    if stream.buf[start] in "[{":
        end = _balanced_end(stream, start, max_chars)
        if end != -1:
            after, after_pos = stream.char_at(end)
            if after == ",":
                after, after_pos = stream.char_at(after_pos + 1)
            if after in ("{", "[", "]"):  # "{" also after a missing comma
                following = after_pos
    record = _resync(stream, decoder, shapes, nesting, max_chars)
    if following == -1 or (record != -1 and following >= record):
        return record
    if stream.buf[following] == "]":
        return following if record == -1 else record
    return following if _follows_malformed(stream, decoder, following, max_chars) else record


def iter_json_array(
    path: Path,
    *,
    chunk_bytes: int = 1 << 22,
    max_record_chars: int = 1 << 26,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[RawRecord]:
    """Stream the elements of a top-level JSON array.

    Args:
        path (`Path`): The file.
        chunk_bytes (`int`, *optional*, defaults to 4 MiB): How much to read at a time.
        max_record_chars (`int`, *optional*, defaults to 64 Mi): A record that has not parsed after this many
            characters is treated as malformed rather than waiting for more of the file.
        on_progress (`Callable[[int], None]`, *optional*): Called with the number of bytes read, chunk by chunk.

    Yields:
        `RawRecord`: each element; an element that does not parse becomes one record with
        `error="malformed_json"` and reading resumes after its balanced brackets, or, when they do not balance, at
        the next object that looks like a record (the keys of an earlier record, or a list or object under a key
        where earlier records had one); an element cut off by the end of the file becomes one record with
        `error="truncated_json"`.
    """
    source = str(path)
    decoder = json.JSONDecoder()
    with open(path, "rb") as f:
        stream = _TextStream(f, chunk_bytes, on_progress)
        if stream.peek() != "[":
            yield RawRecord(source, 0, error="malformed_json", detail="the file does not start with a JSON array")
            return
        stream.pos += 1
        index, shapes, nesting = 0, set(), set()
        while True:
            c = stream.peek()
            if c == "]" or c == "":
                return
            if c == ",":
                stream.pos += 1
                continue
            start = stream.pos
            try:
                value, end = stream.decode_at(decoder, start, max_record_chars)
                after = stream.char_at(end)[0]
                if after not in (",", "]", ""):
                    raise json.JSONDecodeError(f"unexpected {after!r} after a record", stream.buf, end)
            except json.JSONDecodeError as e:
                nxt = _malformed_end(stream, decoder, shapes, nesting, max_record_chars)
                stop = len(stream.buf) if nxt == -1 else nxt
                truncated = nxt == -1 and stream.eof and (e.msg.startswith("Unterminated") or e.pos >= stop - _TAIL)
                where = f"character offset {stream.base + start}"
                yield RawRecord(
                    source,
                    index,
                    error="truncated_json" if truncated else "malformed_json",
                    detail=f"{e.msg} ({where}; the file ends inside this record)"
                    if truncated
                    else f"{e.msg} ({where})",
                    raw=stream.buf[start:stop].rstrip().rstrip(","),
                )
                index += 1
                stream.pos = stop
                continue
            if isinstance(value, dict) and len(shapes) < 16:
                shapes.add(frozenset(value))
                nesting.update(k for k, v in value.items() if isinstance(v, (list, dict)))
            yield RawRecord(source, index, value)
            index += 1
            stream.pos = end
            stream.compact()


def iter_json_lines(path: Path, *, on_progress: Callable[[int], None] | None = None) -> Iterator[RawRecord]:
    """Stream the records of a JSON Lines file; blank lines are skipped, a bad line becomes an error record."""
    source = str(path)
    index = 0
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, start=1):
            if on_progress is not None:
                on_progress(len(line))
            text = line.decode("utf-8", errors="surrogateescape")
            if lineno == 1:
                text = text.lstrip("\ufeff")  # a byte-order mark, as editors on Windows write
            if not text.strip():
                continue
            try:
                yield RawRecord(source, index, json.loads(text))
            except json.JSONDecodeError as e:
                truncated = not line.endswith(b"\n") and e.pos >= len(text.rstrip()) - _TAIL
                error = "truncated_json" if truncated else "malformed_json"
                yield RawRecord(source, index, error=error, detail=f"line {lineno}: {e.msg}", raw=text.rstrip("\n"))
            index += 1


def read_whole(path: Path, *, as_json: bool, on_progress: Callable[[int], None] | None = None) -> RawRecord:
    """Read a one-dialogue file: parsed JSON, or the text itself for a text format."""
    data = Path(path).read_bytes()
    if on_progress is not None:
        on_progress(len(data))
    text = data.decode("utf-8", errors="surrogateescape").lstrip("\ufeff")
    if not as_json:
        return RawRecord(str(path), 0, text)
    try:
        return RawRecord(str(path), 0, json.loads(text))
    except json.JSONDecodeError as e:
        error = "truncated_json" if e.pos >= len(text.rstrip()) - _TAIL else "malformed_json"
        return RawRecord(str(path), 0, error=error, detail=f"{e.msg} (character offset {e.pos})", raw=text)


def iter_raw_records(
    path: Path, spec: FormatSpec, *, on_progress: Callable[[int], None] | None = None
) -> Iterator[RawRecord]:
    """The raw records of one file in format `spec`, whatever its container (array, JSON Lines, single file)."""
    if spec.container == "file":
        yield read_whole(path, as_json=spec.name != "cpsycoun", on_progress=on_progress)
        return
    with open(path, "rb") as f:
        head = f.read(4096).decode("utf-8", errors="surrogateescape").lstrip("\ufeff \t\r\n")
    if head.startswith("["):
        yield from iter_json_array(path, on_progress=on_progress)
    else:
        yield from iter_json_lines(path, on_progress=on_progress)


__all__ = [
    "CORPUS_SUFFIXES",
    "RawRecord",
    "display_path",
    "expand_inputs",
    "iter_json_array",
    "iter_json_lines",
    "iter_raw_records",
]
