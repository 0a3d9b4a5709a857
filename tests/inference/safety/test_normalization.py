import pytest

from soulchat.inference.safety.normalization import TRADITIONAL_TABLE, normalize_text, traditional_table


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我不想活了！", "我不想活了!"),  # full-width punctuation becomes half-width
        ("ＡＢＣ１２３", "abc123"),  # full-width letters and digits, then lower case
        ("自 杀", "自杀"),  # a space between two Chinese characters
        ("自*杀", "自杀"),  # a separator between two Chinese characters
        ("自\u200b杀", "自杀"),  # a zero-width space
        ("我想殺了他", "我想杀了他"),  # traditional to simplified
        ("他又打我了，我好怕", "他又打我了,我好怕"),
        ("  I   feel   bad  ", "i feel bad"),  # other whitespace collapses
    ],
)
def test_normalize_text(text, expected):
    assert normalize_text(text) == expected


def test_traditional_table_is_well_formed():
    table = traditional_table()
    assert len(table) > 200
    assert all(chr(t) != s for t, s in table.items())
    assert normalize_text("寫好了遺書") == "写好了遗书"
    assert TRADITIONAL_TABLE.is_file()


def test_traditional_table_rejects_malformed_lines(tmp_path):
    path = tmp_path / "table.txt"
    path.write_text("# comment\n殺杀\n", encoding="utf-8")
    with pytest.raises(ValueError, match="table.txt:2"):
        traditional_table(path)
