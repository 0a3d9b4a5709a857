"""The evaluate module: offline loading from the installed package, its runnable examples and its metric card."""

import ast
import doctest
import json
import re
from pathlib import Path

import evaluate
import pytest

from soulchat.metrics import SCORE_KEYS, compute_scores, evaluate_module_path
from soulchat.metrics.soulchat_bleu_rouge import SoulchatBleuRouge
from soulchat.metrics.soulchat_bleu_rouge import soulchat_bleu_rouge as module

MODULE_DIR = Path(evaluate_module_path())
PREDICTIONS = ["抱抱你，辛苦了！", "我理解你的感受。\n你可以试着深呼吸。", "", "谢谢你"]
REFERENCES = ["抱抱你，你辛苦了。", "我能理解你的感受，可以试试深呼吸。", "慢慢来。", "谢谢你的信任"]


def run_doctests(text: str, name: str) -> doctest.TestResults:
    test = doctest.DocTestParser().get_doctest(text, {}, name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    return runner.summarize(verbose=False)


def test_module_path_is_inside_the_package():
    assert MODULE_DIR.name == "soulchat_bleu_rouge"
    assert (MODULE_DIR / "soulchat_bleu_rouge.py").is_file() and (MODULE_DIR / "README.md").is_file()
    assert MODULE_DIR.parent == Path(module.__file__).resolve().parent.parent


@pytest.mark.parametrize("path", [MODULE_DIR, MODULE_DIR / "soulchat_bleu_rouge.py"])
def test_evaluate_load_offline(path):
    metric = evaluate.load(str(path))
    assert metric.name == "soulchat_bleu_rouge"
    assert set(metric.features) == {"predictions", "references"}
    results = metric.compute(predictions=PREDICTIONS, references=REFERENCES)
    assert results == compute_scores(PREDICTIONS, REFERENCES)
    assert metric.compute(
        predictions=PREDICTIONS, references=REFERENCES, empty="skip", ngram_weights="individual"
    ) == (compute_scores(PREDICTIONS, REFERENCES, empty="skip", ngram_weights="individual"))


def test_direct_instance_and_add_batch():
    metric = SoulchatBleuRouge()
    metric.add_batch(predictions=PREDICTIONS[:2], references=REFERENCES[:2])
    metric.add_batch(predictions=PREDICTIONS[2:], references=REFERENCES[2:])
    assert metric.compute() == compute_scores(PREDICTIONS, REFERENCES)
    with pytest.raises(ValueError, match=r"^Hypothesis is empty\. \(pair 2"):
        SoulchatBleuRouge().compute(predictions=PREDICTIONS, references=REFERENCES, empty="raise")


def test_kwargs_description_examples_run():
    assert run_doctests(module._KWARGS_DESCRIPTION, "_KWARGS_DESCRIPTION") == (0, 9)


def test_metric_card_examples_run():
    card = (MODULE_DIR / "README.md").read_text(encoding="utf-8")
    examples = "\n".join(block for block in re.findall(r"```python\n(.*?)```", card, flags=re.S) if ">>>" in block)
    assert run_doctests(examples, "README.md") == (0, 10)


def test_metric_card_sections():
    card = (MODULE_DIR / "README.md").read_text(encoding="utf-8")
    headings = re.findall(r"^#+ (.+)$", card, flags=re.M)
    for heading in (
        "Metric Description",
        "How to Use",
        "Inputs",
        "Output Values",
        "Values from Popular Papers",
        "Limitations and Bias",
        "Citation",
        "How it differs from sacrebleu and rouge-score",
    ):
        assert heading in headings
    assert card.startswith("---\n") and "\n---\n" in card  # the YAML header of evaluate's cards


def test_one_import_per_line_in_the_module():
    # evaluate parses the module's imports line by line: "import a, b" would make it look for a package "a,".
    source = Path(module.__file__).read_text(encoding="utf-8")
    imports = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import)]
    assert imports and all(len(node.names) == 1 for node in imports)
    assert {"_CITATION", "_DESCRIPTION", "_KWARGS_DESCRIPTION"} <= set(vars(module))


def test_metric_card_values_are_the_public_reference_scores(shared_dir):
    card = (MODULE_DIR / "README.md").read_text(encoding="utf-8")
    row = re.search(r"\| B-1 \|.*\n\|[-:| ]+\|\n(\|.*\|)", card).group(1)
    values = [float(cell) for cell in row.strip("|").split("|")]
    expected = json.loads((shared_dir / "reference" / "metrics" / "pairs_public_expected.json").read_text())
    assert values == [round(expected[key], 2) for key in SCORE_KEYS]
