"""JSON Lines output that never loses a character of its input."""

import json


def json_line(record: dict) -> str:
    """One JSON line, readable UTF-8; text with lone surrogates (invalid input bytes kept by `surrogateescape`)
    falls back to `\\udcXX` escapes, from which the original bytes can be recovered exactly."""
    line = json.dumps(record, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(record, ensure_ascii=True)
    return line + "\n"


__all__ = ["json_line"]
