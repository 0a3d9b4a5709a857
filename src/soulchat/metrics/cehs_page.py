"""The self-contained HTML annotation page of a CEHS sheet: opens offline, autosaves, saves the scores as CSV.

The page embeds its items as JSON, shows the rubric, one card per item with a radio group per dimension, and a
"save" button that downloads the filled sheet in exactly the CSV layout of the spreadsheet route
(``soulchat.metrics.cehs.SHEET_COLUMNS``), so ``soulchat cehs aggregate`` reads both the same way. Work in progress is
kept in the browser's localStorage, so closing the page loses nothing. No network access, no external file.
"""

import html
import json
from collections.abc import Mapping, Sequence
from typing import Protocol


class _Dimension(Protocol):
    name: str
    title: str
    rubric: tuple[str, ...]


_STYLE = """
body { font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; max-width: 960px; margin: 2em auto;
       padding: 0 1em; line-height: 1.5; color: #222; }
.rubric { border-collapse: collapse; margin-bottom: 1em; } .rubric td { border: 1px solid #ccc; padding: .3em .6em; }
.item { border: 1px solid #bbb; border-radius: 6px; padding: 1em; margin: 1em 0; }
.item.done { border-color: #2a7; background: #f4fbf7; }
.text { white-space: pre-wrap; background: #f6f6f6; padding: .5em; border-radius: 4px; }
.dimension { margin: .4em 0; } .dimension label { margin-right: 1.2em; }
textarea { width: 100%; } #bar { position: sticky; top: 0; background: #fff; padding: .5em 0; border-bottom: 1px solid #ddd; }
"""

_SCRIPT = """
const data = JSON.parse(document.getElementById("sheet-data").textContent);
const storeKey = "soulchat-cehs/" + data.sheet;
const saved = JSON.parse(localStorage.getItem(storeKey) || "{}");
const list = document.getElementById("items");

function isDone(item) {
  return data.dimensions.every(d => saved[item.item] && saved[item.item][d.name] !== undefined);
}
function refresh() {
  const done = data.rows.filter(isDone).length;
  document.getElementById("progress").textContent = done + " / " + data.rows.length;
  data.rows.forEach(r => document.getElementById("card-" + r.item).classList.toggle("done", isDone(r)));
  localStorage.setItem(storeKey, JSON.stringify(saved));
}
data.rows.forEach((row, index) => {
  const card = document.createElement("div");
  card.className = "item"; card.id = "card-" + row.item;
  const head = document.createElement("h3");
  head.textContent = (index + 1) + ". #" + row.item;
  card.appendChild(head);
  for (const [label, field] of [["对话 Dialogue", "dialogue"], ["回复 Response", "response"]]) {
    const title = document.createElement("b"); title.textContent = label; card.appendChild(title);
    const text = document.createElement("div"); text.className = "text"; text.textContent = row[field];
    card.appendChild(text);
  }
  saved[row.item] = saved[row.item] || {};
  data.dimensions.forEach(d => {
    const group = document.createElement("div"); group.className = "dimension";
    const name = document.createElement("b"); name.textContent = d.title + ": "; group.appendChild(name);
    for (let score = 0; score <= d.max; score++) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.type = "radio"; input.name = row.item + "-" + d.name; input.value = score;
      input.checked = saved[row.item][d.name] === score;
      input.addEventListener("change", () => { saved[row.item][d.name] = score; refresh(); });
      label.appendChild(input); label.appendChild(document.createTextNode(" " + score)); group.appendChild(label);
    }
    card.appendChild(group);
  });
  const comment = document.createElement("textarea");
  comment.placeholder = "备注 Comment (optional)"; comment.value = saved[row.item].comment || "";
  comment.addEventListener("input", () => { saved[row.item].comment = comment.value; refresh(); });
  card.appendChild(comment);
  list.appendChild(card);
});
function quote(value) { return '"' + String(value === undefined ? "" : value).replace(/"/g, '""') + '"'; }
document.getElementById("save").addEventListener("click", () => {
  const lines = [data.columns.map(quote).join(",")];
  data.rows.forEach(r => {
    const s = saved[r.item] || {};
    lines.push(data.columns.map(c => quote(c in r ? r[c] : s[c])).join(","));
  });
  const blob = new Blob(["\\ufeff" + lines.join("\\r\\n") + "\\r\\n"], {type: "text/csv;charset=utf-8"});
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob); link.download = data.sheet + "_scores.csv"; link.click();
});
refresh();
"""


def render_sheet_page(
    rows: Sequence[Mapping[str, str]], dimensions: Sequence[_Dimension], *, sheet_name: str, columns: Sequence[str]
) -> str:
    """Render one annotator's sheet as a self-contained HTML page.

    Args:
        rows (`Sequence[Mapping[str, str]]`):
            The items in this annotator's order, each with ``item``, ``dialogue`` and ``response``.
        dimensions (`Sequence`):
            The CEHS dimensions (``name``, ``title``, ``rubric``).
        sheet_name (`str`):
            The sheet's name; it names the saved file (``<sheet_name>_scores.csv``) and the autosave slot.
        columns (`Sequence[str]`):
            The CSV columns of the saved file.

    Returns:
        `str`: the HTML document.
    """
    data = {
        "sheet": sheet_name,
        "columns": list(columns),
        "dimensions": [{"name": d.name, "title": d.title, "max": len(d.rubric) - 1} for d in dimensions],
        "rows": [{"item": r["item"], "dialogue": r["dialogue"], "response": r["response"]} for r in rows],
    }
    # "<" escaped as \u003c keeps any "</script>" inside the texts from closing the data block; JSON stays valid.
    payload = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
    rubric = "".join(
        f"<tr><td><b>{html.escape(d.title)}</b></td><td>{'<br>'.join(html.escape(line) for line in d.rubric)}</td></tr>"
        for d in dimensions
    )
    return f"""<!DOCTYPE html>
<html lang="zh"><head><meta charset="utf-8"><title>CEHS {html.escape(sheet_name)}</title>
<style>{_STYLE}</style></head><body>
<h1>CEHS 人工评估 / human evaluation: {html.escape(sheet_name)}</h1>
<p>为每条回复在四个维度上打分；进度自动保存在本浏览器中。完成后点击“保存评分”，把下载的 CSV 文件交给组织者。<br>
Score every response on the four dimensions; progress is kept in this browser. When done, click "Save scores" and
send the downloaded CSV file to the organiser. The system behind each response is hidden.</p>
<table class="rubric">{rubric}</table>
<div id="bar">完成 Done: <span id="progress"></span> <button id="save">保存评分 Save scores (CSV)</button></div>
<div id="items"></div>
<script type="application/json" id="sheet-data">{payload}</script>
<script>{_SCRIPT}</script>
</body></html>
"""


__all__ = ["render_sheet_page"]
