"""The model card: filled from a run's training arguments and metrics.json, Hub-valid metadata, the paper's card."""

import json
import shutil
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard
from typer.testing import CliRunner

from soulchat.cli.main import app
from soulchat.hub.model_card import (
    TEMPLATE_PATH,
    TrainingRun,
    fill_template,
    hyperparameter_rows,
    load_run,
    render_model_card,
    render_paper_card,
)
from tests.hub.conftest import SCORES, TABLE_ROW

ROOT = Path(__file__).resolve().parents[2]
REQUIRED_KEYS = {"language", "license", "base_model", "datasets", "pipeline_tag", "tags"}


def _metadata(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n", 2)[1])


def test_card_from_training_args_and_metrics(run_folder):
    run = load_run(run_folder)
    assert run.config_source.endswith("training_args.bin") and run.metrics["scores"] == SCORES
    assert hyperparameter_rows(run) == [
        ("random initialisation", '`{"hidden_size": 32, "model_type": "chatglm", "num_layers": 2}`'),
        ("dataset", "`data`"),
        ("prompt format", "`chatglm`"),
        ("max source tokens", "64"),
        ("max target tokens", "32"),
        ("steps", "12"),
        ("batch size per device", "4"),
        ("gradient accumulation steps", "2"),
        ("learning rate", "0.005"),
        ("learning-rate schedule", "`linear`"),
        ("warm-up steps", "4"),
        ("weight decay", "0"),
        ("gradient clipping (max norm)", "1"),
        ("seed", "0"),
        ("precision", "fp32"),
        ("LoRA", "no"),
        ("steps run", "12"),
        ("mean training loss", "6.9123"),
    ]
    card = render_model_card(
        run, model_name="tiny-soulchat", repo_id="org/tiny-soulchat", base_model="THUDM/chatglm-6b", dataset_id="o/d"
    )
    table = "\n".join(
        [
            "| Model | B-1 | B-2 | B-3 | B-4 | R-1 | R-2 | R-L |",
            "|:--|--:|--:|--:|--:|--:|--:|--:|",
            TABLE_ROW,
            "",
            "Macro mean over 88 samples of the `test` split of `data`; nucleus sampling (top-p 0.75, temperature "
            "0.95, seed 42).",
        ]
    )
    assert table in card
    metadata = _metadata(card)
    assert metadata.keys() >= REQUIRED_KEYS
    assert metadata["language"] == ["zh"] and metadata["base_model"] == "THUDM/chatglm-6b"
    assert metadata["datasets"] == ["o/d"] and metadata["pipeline_tag"] == "text-generation"
    assert "{{" not in card and 'AutoModel.from_pretrained("org/tiny-soulchat", trust_remote_code=True' in card
    assert "The `train` split held 277 samples from 44 dialogues across 12 topics" in card
    for section in ("## Intended use", "## Out-of-scope use", "## Safety limitations", "不能替代专业的心理咨询"):
        assert section in card
    assert "@inproceedings{chen-etal-2023-soulchat" in card

    # huggingface_hub reads the same metadata, with the seven scores as evaluation results.
    hub_card = ModelCard(card)
    assert hub_card.data.base_model == "THUDM/chatglm-6b" and hub_card.data.license == "other"
    results = {result.metric_name: result.metric_value for result in hub_card.data.eval_results}
    assert results == {
        "BLEU-1": 21.35,
        "BLEU-2": 10.0,
        "BLEU-3": 5.56,
        "BLEU-4": 3.1,
        "ROUGE-1": 27.88,
        "ROUGE-2": 7.2,
        "ROUGE-L": 21.0,
    }
    assert {result.dataset_split for result in hub_card.data.eval_results} == {"test"}


def test_card_without_metrics_says_not_evaluated(tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({"model_name_or_path": "THUDM/chatglm-6b", "dataset_path": "x", "bf16": True}))
    run = load_run(tmp_path, config_path=config)
    assert run.metrics is None and run.state is None
    card = render_model_card(run, model_name="m")
    assert "| m | – | – | – | – | – | – | – |" in card and "**Not evaluated.**" in card
    metadata = _metadata(card)
    assert "model-index" not in metadata and metadata["base_model"] == "THUDM/chatglm-6b"  # from the config
    assert ("precision", "bf16 mixed precision") in hyperparameter_rows(run)
    assert 'from_pretrained("ORG/NAME"' in card


def test_unknown_run_and_template_placeholders():
    card = render_model_card(TrainingRun(), model_name="bare", license="apache-2.0")
    assert "the training configuration was not found" in card and "base_model" not in _metadata(card)
    assert _metadata(card)["license"] == "apache-2.0" and "license_name" not in _metadata(card)
    try:
        fill_template("{{ a }} {{ b }}", {"a": "1"})
    except KeyError as error:
        assert "['b']" in str(error)
    else:
        raise AssertionError("a placeholder without a value must fail")


def test_top_level_model_card_is_the_paper_recipe():
    """`model_card.md` is what the packaged template gives for examples/configs/paper_chatglm6b.yaml."""
    expected = render_paper_card(ROOT / "examples" / "configs" / "paper_chatglm6b.yaml")
    assert (ROOT / "model_card.md").read_text(encoding="utf-8") == expected
    assert TEMPLATE_PATH.is_file() and "| learning rate | 5e-05 |" in expected and "| steps | 30000 |" in expected


def test_card_command(run_folder, tmp_path):
    folder = shutil.copytree(run_folder, tmp_path / "run")
    (folder / "eval" / "metrics.json").unlink()
    metrics = tmp_path / "metrics.json"
    metrics.write_text((run_folder / "eval" / "metrics.json").read_text())
    result = CliRunner().invoke(
        app, ["card", "--checkpoint", str(folder), "--base-model", "THUDM/chatglm-6b", "--dataset-id", "o/d"]
    )
    assert result.exit_code == 0, result.output
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "**Not evaluated.**" in card and "# run" in card
    output = tmp_path / "card.md"
    result = CliRunner().invoke(
        app, ["card", "--checkpoint", str(folder), "--metrics", str(metrics), "--output", str(output)]
    )
    assert result.exit_code == 0, result.output
    assert TABLE_ROW.replace("tiny-soulchat", "run") in output.read_text(encoding="utf-8")
    result = CliRunner().invoke(app, ["card", "--checkpoint", str(folder), "--metrics", str(tmp_path / "no.json")])
    assert result.exit_code != 0 and "no.json" in result.output
    assert json.loads(metrics.read_text())["scores"] == SCORES


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{oops", "is not valid JSON"),
        ('{"scores": {"bleu-1": 1.0}}', "scores bleu-2, bleu-3, bleu-4, rouge-1, rouge-2, rouge-l are missing"),
        ('{"num_samples": 3}', "has no 'scores'"),
    ],
)
def test_card_with_an_unusable_metrics_file_is_a_one_line_error(tmp_path, content, message):
    metrics = tmp_path / "metrics.json"
    metrics.write_text(content)
    result = CliRunner().invoke(app, ["card", "--checkpoint", str(tmp_path), "--metrics", str(metrics)])
    assert result.exit_code == 2 and "has no config.json: not a model folder" in " ".join(result.output.split())
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "chatglm"}))
    result = CliRunner().invoke(app, ["card", "--checkpoint", str(tmp_path), "--metrics", str(metrics)])
    assert result.exit_code == 2 and message in " ".join(result.output.split()) and str(metrics.name) in result.output


def test_the_schedule_row_names_deepspeeds_scheduler_when_it_sets_one(tmp_path):
    from soulchat.hub.model_card import SHIPPED_DEEPSPEED_NAMES, SHIPPED_DEEPSPEED_SCHEDULER, deepspeed_scheduler
    from soulchat.training.deepspeed import DEEPSPEED_CONFIGS, resolve_deepspeed_config

    assert set(SHIPPED_DEEPSPEED_NAMES) == set(DEEPSPEED_CONFIGS)
    for name in DEEPSPEED_CONFIGS:  # the constant the card uses is what the shipped configurations say
        assert resolve_deepspeed_config(name, cpu=False)["scheduler"]["type"] == SHIPPED_DEEPSPEED_SCHEDULER
    own = tmp_path / "ds.json"
    own.write_text(json.dumps({"scheduler": {"type": "WarmupCosineLR"}}))
    assert deepspeed_scheduler(str(own)) == "WarmupCosineLR" and deepspeed_scheduler({"zero_optimization": {}}) is None
    run = load_run(tmp_path, config_path=_yaml(tmp_path, "deepspeed: zero2\nlr_scheduler_type: linear\n"))
    assert ("learning-rate schedule", "`WarmupDecayLR (DeepSpeed's)`") in hyperparameter_rows(run)


def _yaml(folder: Path, text: str) -> Path:
    path = folder / "train.yaml"
    path.write_text(text)
    return path
