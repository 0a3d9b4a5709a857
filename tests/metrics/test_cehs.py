"""The CEHS kit: Fleiss' kappa against published worked examples, blinded export, un-blinding aggregation, CLI."""

import csv
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soulchat.cli.main import app
from soulchat.metrics.cehs import (
    CEHS_DIMENSIONS,
    SHEET_COLUMNS,
    aggregate_sheets,
    export_sheets,
    fleiss_kappa,
    read_sheet,
    write_sheet,
)

# Fleiss (1971), Table 1: 30 patients, each diagnosed by 6 psychiatrists into 5 categories (1 depression,
# 2 personality disorder, 3 schizophrenia, 4 neurosis, 5 other); as distributed in R's irr package (`diagnoses`).
# Fleiss reports kappa = 0.430; irr's kappam.fleiss gives 0.4302445.
FLEISS_1971 = [
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5], [2, 2, 2, 4, 4, 4],
    [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4], [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5],
    [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4], [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5],
    [3, 3, 3, 3, 3, 5], [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4], [1, 4, 4, 4, 4, 5],
    [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4], [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
]  # fmt: skip
# The worked example of Wikipedia's "Fleiss' kappa" article: 10 subjects, 14 raters, counts per category 1..5,
# with P-bar = 0.378, P-bar_e = 0.213 and kappa = 0.210.
WIKIPEDIA_COUNTS = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]  # fmt: skip


def test_fleiss_kappa_fleiss_1971():
    assert sorted(sum((row for row in FLEISS_1971), [])).count(4) == 55  # the transcription: 55 neurosis ratings
    assert fleiss_kappa(FLEISS_1971) == pytest.approx(0.4302445, abs=5e-8)
    assert round(fleiss_kappa(FLEISS_1971), 3) == 0.430


def test_fleiss_kappa_wikipedia_example():
    ratings = [[category for category, n in enumerate(row, start=1) for _ in range(n)] for row in WIKIPEDIA_COUNTS]
    assert fleiss_kappa(ratings) == pytest.approx((0.378 - 0.2128) / (1 - 0.2128), abs=1e-3)
    assert round(fleiss_kappa(ratings), 3) == 0.210


def test_fleiss_kappa_limits():
    assert fleiss_kappa([[0, 0, 0], [1, 1, 1], [2, 2, 2]]) == 1.0
    assert math.isnan(fleiss_kappa([[1, 1], [1, 1]]))  # one category only: chance agreement is 1
    assert math.isnan(fleiss_kappa([]))
    # Two raters who always disagree on two balanced categories: P-bar = 0, P-bar_e = 0.5.
    assert fleiss_kappa([[0, 1], [1, 0]]) == -1.0
    with pytest.raises(ValueError, match="same number of ratings"):
        fleiss_kappa([[1, 2], [1]])


@pytest.fixture
def systems(tmp_path):
    paths = {}
    for name, reply in (("soulchat", "抱抱你，我在听。"), ("baseline", "建议你多运动。")):
        path = tmp_path / f"{name}.jsonl"
        rows = [
            {"id": f"d{i}", "prompt": f"用户：我最近很焦虑 {i}</script>", "prediction": f"{reply}{i}"}
            for i in range(6)
        ]
        path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n", encoding="utf-8")
        paths[name] = path
    return paths


def read_rows(path):
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.DictReader(file))


def test_export_is_blinded_shuffled_and_seeded(systems, tmp_path):
    key = export_sheets(systems, tmp_path / "a", num_dialogues=4, num_annotators=3, seed=7)
    assert key["systems"] == ["soulchat", "baseline"] and len(key["dialogues"]) == 4
    assert len(key["items"]) == 8 and {i["system"] for i in key["items"].values()} == {"soulchat", "baseline"}
    orders = []
    for annotator in key["annotators"]:
        rows = read_rows(tmp_path / "a" / f"{annotator}.csv")
        assert list(rows[0]) == list(SHEET_COLUMNS)
        assert sorted(row["item"] for row in rows) == sorted(key["items"])
        assert all(row[d.name] == "" for row in rows for d in CEHS_DIMENSIONS)
        orders.append([row["item"] for row in rows])
        for name in ("soulchat", "baseline", "annotator"):
            assert name not in (tmp_path / "a" / f"{annotator}.csv").read_text(encoding="utf-8-sig")
    assert len({tuple(order) for order in orders}) == 3  # each annotator has an own order
    export_sheets(systems, tmp_path / "b", num_dialogues=4, num_annotators=3, seed=7)
    for name in ("key.json", "annotator_01.csv", "annotator_03.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_html_page_embeds_the_sheet(systems, tmp_path):
    key = export_sheets(systems, tmp_path, num_annotators=1)
    page = (tmp_path / "annotator_01.html").read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page and "<script src" not in page  # works offline
    assert page.count("</script>") == 2  # the "</script>" inside a dialogue is escaped
    data = json.loads(re.search(r'id="sheet-data">(.*?)</script>', page, flags=re.S).group(1))
    assert data["columns"] == list(SHEET_COLUMNS)
    assert [d["max"] for d in data["dimensions"]] == [2, 2, 2, 1]
    assert sorted(row["item"] for row in data["rows"]) == sorted(key["items"])
    assert "soulchat" not in json.dumps(data) and "baseline" not in json.dumps(data)


def fill(key, path, scores_for):
    """Fill a sheet: scores_for(system, dialogue) -> {dimension: score}."""
    rows = read_rows(path)
    for row in rows:
        item = key["items"][row["item"]]
        row.update({name: str(value) for name, value in scores_for(item["system"], item["dialogue"]).items()})
    write_sheet(path, rows)


def test_aggregate_unblinds_means_and_kappa(systems, tmp_path):
    key = export_sheets(systems, tmp_path, num_annotators=3, seed=1)
    good = {"content": 2, "empathy": 2, "helpfulness": 1, "safety": 1}
    bad = {"content": 1, "empathy": 0, "helpfulness": 1, "safety": 1}
    for index, annotator in enumerate(key["annotators"]):
        # The third annotator gives the baseline's first dialogue an empathy of 1: one disagreement.
        def scores(system, dialogue, index=index):
            if system == "soulchat":
                return good
            return {**bad, "empathy": 1} if index == 2 and dialogue == "d0" else bad

        fill(key, tmp_path / f"{annotator}.csv", scores)
    report = aggregate_sheets(key, [read_sheet(tmp_path / f"{a}.csv") for a in key["annotators"]])
    assert report["systems"]["soulchat"] == {**good, "ratings": 18}
    assert report["systems"]["baseline"] == {
        "content": 1,
        "empathy": 1 / 18,
        "helpfulness": 1,
        "safety": 1,
        "ratings": 18,
    }
    assert report["kappa"]["content"] == 1.0
    assert math.isnan(report["kappa"]["helpfulness"]) and math.isnan(report["kappa"]["safety"])
    # empathy: 12 items, 11 unanimous and one rated (0, 0, 1) with P_i = 1/3: P-bar = 34/36; p = (17, 1, 18)/36.
    expected = (34 / 36 - (17**2 + 1 + 18**2) / 36**2) / (1 - (17**2 + 1 + 18**2) / 36**2)
    assert report["kappa"]["empathy"] == pytest.approx(expected, rel=1e-12)
    assert report["kappa_items"] == dict.fromkeys(("content", "empathy", "helpfulness", "safety"), 12)
    assert report["missing"] == 0


def test_read_sheet_rejects_bad_scores(tmp_path):
    path = tmp_path / "sheet.csv"
    write_sheet(path, [{"item": "abc", "dialogue": "d", "response": "r", "safety": "2"}])
    with pytest.raises(ValueError, match="safety must be 0-1, got '2'"):
        read_sheet(path)
    write_sheet(path, [{"item": "abc", "dialogue": "d", "response": "r", "empathy": "1"}])
    assert read_sheet(path) == {"abc": {"empathy": 1}}
    path.write_text("item,content\nabc,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing column"):
        read_sheet(path)


def test_cehs_cli_round_trip(systems, tmp_path):
    args = ["cehs", "export", "--output", str(tmp_path / "out"), "--annotators", "2", "--num-dialogues", "3"]
    args += [f"--system=soulchat={systems['soulchat']}", f"--system=baseline={systems['baseline']}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    key = json.loads((tmp_path / "out" / "key.json").read_text(encoding="utf-8"))
    sheets = [tmp_path / "out" / f"{annotator}.csv" for annotator in key["annotators"]]
    for sheet in sheets:
        fill(key, sheet, lambda system, dialogue: {"content": 2 if system == "soulchat" else 0, "safety": 1})
    result = CliRunner().invoke(
        app, ["cehs", "aggregate", *map(str, sheets), "--key", str(tmp_path / "out" / "key.json"), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["systems"]["soulchat"]["content"] == 2 and report["systems"]["baseline"]["content"] == 0
    assert report["kappa"]["content"] == 1.0 and report["missing"] == 2 * 6 * 2  # empathy and helpfulness blank
    table = CliRunner().invoke(
        app, ["cehs", "aggregate", *map(str, sheets), "--key", str(tmp_path / "out" / "key.json")]
    )
    assert table.exit_code == 0 and "Fleiss" in table.stdout and "soulchat" in table.stdout
    bad = CliRunner().invoke(app, ["cehs", "export", "--output", str(tmp_path / "x"), "--system", "nopath"])
    assert bad.exit_code == 2


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run the page's script")
def test_html_page_saves_a_sheet_that_aggregate_reads(systems, tmp_path):
    key = export_sheets(systems, tmp_path, num_dialogues=3, num_annotators=1, seed=3)
    harness = Path(__file__).with_name("cehs_page_harness.js")
    run = subprocess.run(["node", str(harness), str(tmp_path / "annotator_01.html")], capture_output=True, check=True)
    result = json.loads(run.stdout)
    assert result["file"] == "annotator_01_scores.csv" and result["progress"] == "6 / 6"
    assert result["csv"].startswith("\ufeff")
    saved = tmp_path / result["file"]
    saved.write_text(result["csv"], encoding="utf-8")  # the text already starts with the BOM
    order = [row["item"] for row in read_rows(tmp_path / "annotator_01.csv")]
    expected = {
        item: {d.name: (position + k) % (d.max_score + 1) for k, d in enumerate(CEHS_DIMENSIONS)}
        for position, item in enumerate(order)
    }
    assert read_sheet(saved) == expected
    rows = read_rows(saved)
    assert rows[0]["comment"] == 'note "quoted", with comma\nand a new line'
    assert [row["response"] for row in rows] == [row["response"] for row in read_rows(tmp_path / "annotator_01.csv")]
    assert json.loads(result["stored"]["soulchat-cehs/annotator_01"])[order[0]]["comment"].startswith("note")
    report = aggregate_sheets(key, [read_sheet(saved)])
    assert report["missing"] == 0 and math.isnan(report["kappa"]["content"])  # one annotator: no agreement


def _filled_export(systems, folder, num_annotators=3):
    """An export into `folder` whose sheets are filled, each annotator with its own scores."""
    key = export_sheets(systems, folder, num_dialogues=2, num_annotators=num_annotators, seed=5)
    for index, annotator in enumerate(key["annotators"]):
        fill(key, folder / f"{annotator}.csv", lambda s, d, i=index: {"content": (i + len(s)) % 3, "safety": 1})
    return key, [folder / f"{annotator}.csv" for annotator in key["annotators"]]


def _aggregate(sheets, key_path, *extra):
    return CliRunner().invoke(app, ["cehs", "aggregate", *map(str, sheets), "--key", str(key_path), *extra])


def _says(result, message):
    """Whether the command's output holds `message` (compared without white space: rich wraps long lines)."""
    return "".join(message.split()) in "".join(result.output.split())


def test_aggregate_refuses_a_sheet_given_twice(systems, tmp_path):
    _, sheets = _filled_export(systems, tmp_path / "out")
    key_path = tmp_path / "out" / "key.json"
    result = _aggregate([sheets[0], sheets[1], sheets[0]], key_path)
    assert result.exit_code == 2
    assert _says(result, f"{sheets[0]} and {sheets[0]} are the same file")
    copy = tmp_path / "copy.csv"
    copy.write_bytes(sheets[1].read_bytes())
    result = _aggregate([sheets[1], copy], key_path)
    assert result.exit_code == 2 and _says(result, f"{sheets[1]} and {copy} are identical")
    # The blank sheet and the one the HTML page saved for the same annotator.
    saved = tmp_path / "annotator_02_scores.csv"
    saved.write_bytes(sheets[1].read_bytes().replace(b",1,", b",2,", 1))
    result = _aggregate([sheets[1], saved], key_path)
    assert result.exit_code == 2 and _says(result, f"{sheets[1]} and {saved} are both annotator_02's sheet")
    extra = tmp_path / "extra.csv"
    extra.write_bytes(sheets[2].read_bytes().replace(b",1,", b",2,", 1))
    result = _aggregate([*sheets, extra], key_path)
    assert result.exit_code == 0, result.output
    assert "warning: 4 sheets but the key has 3 annotators" in " ".join(result.stderr.split())


def test_aggregate_errors_name_the_file(systems, tmp_path):
    _, sheets = _filled_export(systems, tmp_path / "out")
    key_path = tmp_path / "out" / "key.json"
    stranger = tmp_path / "stranger.csv"
    write_sheet(stranger, [{"item": "deadbeef", "content": "1"}])
    result = _aggregate([sheets[0], stranger], key_path)
    assert result.exit_code == 2 and _says(result, f"{stranger}: unknown item(s) deadbeef")
    wrong_key = tmp_path / "wrong.json"
    wrong_key.write_text('{"systems": ["a"]}', encoding="utf-8")
    result = _aggregate(sheets, wrong_key)
    assert result.exit_code == 2
    assert _says(result, f"{wrong_key} is not a key written by `soulchat cehs export` (no 'items')")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(sheets[0].read_text(encoding="utf-8-sig").encode("gbk"))  # as Excel saves "CSV" in China
    result = _aggregate([gbk], key_path)
    assert result.exit_code == 2
    assert _says(result, f"{gbk}: not UTF-8") and _says(result, "save it from the spreadsheet as CSV UTF-8")


def test_aggregate_with_one_annotator(systems, tmp_path):
    _, sheets = _filled_export(systems, tmp_path / "out", num_annotators=1)
    key_path = tmp_path / "out" / "key.json"
    table = _aggregate(sheets, key_path)
    assert table.exit_code == 0, table.output
    assert "CEHS, 1 annotator" in table.stdout and "(n=" not in table.stdout
    assert " ".join(table.stdout.split()).count("n/a (one") == 4
    report = _aggregate(sheets, key_path, "--json")
    assert report.exit_code == 0, report.output
    data = json.loads(report.stdout, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert data["kappa"] == dict.fromkeys(("content", "empathy", "helpfulness", "safety"), None)
    assert data["systems"]["soulchat"]["empathy"] is None  # no empathy rating at all: no mean


def test_export_rejects_bad_system_files(systems, tmp_path):
    bad = tmp_path / "bad.jsonl"
    cases = [
        ('{"id": "d1", "prompt": "p", "prediction": "a"}\n\n{"id": "d1", "prompt": "p", "prediction": "b"}\n',
         f"{bad}:3: dialogue id d1 appears again (first on line 1)"),
        ('{"id": "d1", "prompt": "p", "prediction": null}\n', f"{bad}:1: the response is null, not a string"),
        ('{"id": "d1", "prompt": "p", "prediction": 3}\n', f"{bad}:1: the response is 3, not a string"),
        ('\n\n{"id": "d1", "prompt": "p", "prediction": "a"}\n\n{"id": "d2",\n', f"{bad}:5: invalid JSON"),
    ]  # fmt: skip
    for content, message in cases:
        bad.write_text(content, encoding="utf-8")
        with pytest.raises(ValueError) as error:
            export_sheets({"soulchat": systems["soulchat"], "bad": bad}, tmp_path / "out")
        assert str(error.value).startswith(message)
        systems_args = [f"--system=a={systems['soulchat']}", f"--system=b={bad}"]
        result = CliRunner().invoke(app, ["cehs", "export", "-o", str(tmp_path / "out"), *systems_args])
        assert result.exit_code == 2 and _says(result, message)
    assert not (tmp_path / "out").exists()


def test_export_checks_its_options_and_output(systems, tmp_path):
    args = ["cehs", "export", f"--system=soulchat={systems['soulchat']}"]
    result = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "out"), "--num-dialogues", "0"])
    assert result.exit_code == 2 and "--num-dialogues" in result.output and not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="number of dialogues must be at least 1, got 0"):
        export_sheets(systems, tmp_path / "out", num_dialogues=0)
    result = CliRunner().invoke(app, [*args, "-o", str(systems["baseline"])])
    assert result.exit_code == 2 and _says(result, f"error: {systems['baseline']} is a file, not a folder")
    assert result.exception is None or isinstance(result.exception, SystemExit)
    first = export_sheets(systems, tmp_path / "out", num_annotators=2, seed=1)
    result = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "out"), "--seed", "2"])
    assert result.exit_code == 2 and _says(result, "already holds a key.json")
    assert json.loads((tmp_path / "out" / "key.json").read_text(encoding="utf-8")) == first  # left as it was
    result = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "out"), "--seed", "2", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out" / "key.json").read_text(encoding="utf-8"))["seed"] == 2
