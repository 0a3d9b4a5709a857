"""The generation benchmark end to end: batch-size independence, outputs, resuming, settings checks and the CLI."""

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soulchat.cli.main import app
from soulchat.data.bundled import sample_corpus_path
from soulchat.evaluation import EvaluationConfig, ReplyGenerator, read_predictions, run_evaluation
from soulchat.evaluation.test_set import data_files
from soulchat.metrics import compute_scores
from tests.evaluation.conftest import RecordingGenerator

NUM_SAMPLES = 12


@pytest.fixture(scope="module", params=["chatglm", "llama"])
def checkpoint(request) -> Path:
    return request.getfixturevalue(f"{request.param}_checkpoint")


@pytest.fixture(scope="module")
def greedy_generator(checkpoint: Path) -> ReplyGenerator:
    return ReplyGenerator.from_pretrained(str(checkpoint), greedy=True, max_new_tokens=10)


def _config(checkpoint: Path, data: Path, output: Path, **overrides) -> EvaluationConfig:
    values = dict(num_samples=NUM_SAMPLES, greedy=True, max_new_tokens=10, batch_size=4, progress=False)
    return EvaluationConfig(model=str(checkpoint), data=str(data), output=str(output), **{**values, **overrides})


def _predictions(output: Path) -> dict[str, str]:
    return {key: record["prediction"] for key, record in read_predictions(output / "predictions.jsonl").items()}


def test_greedy_predictions_do_not_depend_on_the_batch_size(checkpoint, greedy_generator, prepared_folder, tmp_path):
    results = {}
    for batch_size in (1, 3, 8):
        config = _config(checkpoint, prepared_folder, tmp_path / f"b{batch_size}", batch_size=batch_size)
        run_evaluation(config, generator=greedy_generator)
        results[batch_size] = _predictions(tmp_path / f"b{batch_size}")
    assert len(results[1]) == NUM_SAMPLES
    assert results[1] == results[3] == results[8]
    assert len(set(results[1].values())) > 1  # replies depend on the prompt


def test_outputs_metrics_and_table(checkpoint, greedy_generator, prepared_folder, tmp_path):
    config = _config(checkpoint, prepared_folder, tmp_path / "run")
    metrics = run_evaluation(config, generator=greedy_generator)
    lines = (tmp_path / "run" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == NUM_SAMPLES == len({r["id"] for r in records})
    assert set(records[0]) == {"id", "prompt", "prediction", "reference", "dialogue_id", "topic", "turn"}
    assert all(r["prompt"].endswith("心理咨询师：") for r in records)
    expected = compute_scores([r["prediction"] for r in records], [r["reference"] for r in records])
    assert metrics["scores"] == pytest.approx(expected, abs=1e-12)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert saved == json.loads(json.dumps(metrics))
    assert saved["model"] == str(checkpoint.resolve()) and saved["data"] == str(prepared_folder.resolve())
    assert saved["split"] == "test" and saved["num_samples"] == NUM_SAMPLES
    assert saved["decoding"] == {"strategy": "greedy", "max_new_tokens": 10}
    assert saved["generation"]["do_sample"] is False and saved["generated"] == NUM_SAMPLES
    table = (tmp_path / "run" / "table.md").read_text(encoding="utf-8").splitlines()
    assert table[0] == "| Model | B-1 | B-2 | B-3 | B-4 | R-1 | R-2 | R-L |"
    assert table[2] == f"| {checkpoint.name} | " + " | ".join(f"{v:.2f}" for v in expected.values()) + " |"


def test_resume_regenerates_only_missing_and_truncated(checkpoint, greedy_generator, prepared_folder, tmp_path):
    config = _config(checkpoint, prepared_folder, tmp_path / "run")
    run_evaluation(config, generator=greedy_generator)
    path = tmp_path / "run" / "predictions.jsonl"
    full = _predictions(tmp_path / "run")
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:5]) + lines[5][:17])  # five complete lines, the sixth killed mid-write
    recorder = RecordingGenerator(greedy_generator)
    metrics = run_evaluation(config, generator=recorder)
    kept = {json.loads(line)["id"] for line in lines[:5]}
    samples = {r["id"]: r["prompt"] for r in read_predictions(path).values()}
    assert sorted(recorder.prompts) == sorted(p for key, p in samples.items() if key not in kept)
    assert metrics["resumed"] == 5 and metrics["generated"] == NUM_SAMPLES - 5
    assert path.read_bytes().startswith(b"".join(lines[:5]))
    assert _predictions(tmp_path / "run") == full
    # A finished run is only re-scored: nothing is generated, the model is not even needed.
    recorder.prompts.clear()
    metrics = run_evaluation(config, generator=recorder)
    assert recorder.prompts == [] and metrics["generated"] == 0 and metrics["resumed"] == NUM_SAMPLES


def test_other_settings_refuse_to_mix_predictions(chatglm_checkpoint, prepared_folder, tmp_path):
    generator = ReplyGenerator.from_pretrained(str(chatglm_checkpoint), greedy=True, max_new_tokens=4)
    config = _config(chatglm_checkpoint, prepared_folder, tmp_path / "run", num_samples=3, max_new_tokens=4)
    run_evaluation(config, generator=generator)
    with pytest.raises(FileExistsError, match="differing: num_samples, seed"):
        run_evaluation(replace(config, num_samples=4, seed=1), generator=generator)
    metrics = run_evaluation(replace(config, num_samples=4, overwrite=True), generator=generator)
    assert metrics["generated"] == 4 and len(_predictions(tmp_path / "run")) == 4
    # The batch size may change between a run and its resumption.
    assert run_evaluation(replace(config, num_samples=4, batch_size=1), generator=generator)["generated"] == 0


def test_sampling_is_seeded(chatglm_checkpoint, prepared_folder, tmp_path):
    generator = ReplyGenerator.from_pretrained(str(chatglm_checkpoint), max_new_tokens=8)
    runs = []
    for name in ("a", "b"):
        config = _config(chatglm_checkpoint, prepared_folder, tmp_path / name, greedy=False, max_new_tokens=8)
        metrics = run_evaluation(config, generator=generator)
        runs.append(_predictions(tmp_path / name))
    assert runs[0] == runs[1]
    assert metrics["decoding"] == {
        "strategy": "sampling",
        "top_p": 0.75,
        "temperature": 0.95,
        "seed": 42,
        "max_new_tokens": 8,
    }
    assert metrics["generation"]["top_p"] == 0.75 and metrics["generation"]["do_sample"] is True


def test_cli_on_a_corpus_file(chatglm_checkpoint, tmp_path):
    args = ["evaluate", "--model", str(chatglm_checkpoint), "--data", str(sample_corpus_path())]
    args += ["--output", str(tmp_path / "run"), "--num-samples", "5", "--greedy", "--max-new-tokens", "6"]
    result = CliRunner().invoke(app, [*args, "--batch-size", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "| Model | B-1 | B-2 | B-3 | B-4 | R-1 | R-2 | R-L |" in result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["split"] == "all" and metrics["num_samples"] == 5 and metrics["batch_size"] == 2
    result = CliRunner().invoke(app, [*args, "--seed", "7", "--no-progress"])
    assert result.exit_code == 2 and "differing: seed" in result.output


def test_resume_refuses_changed_data(chatglm_checkpoint, tmp_path):
    generator = ReplyGenerator.from_pretrained(str(chatglm_checkpoint), greedy=True, max_new_tokens=4)
    data = tmp_path / "corpus.json"
    content = sample_corpus_path().read_bytes()
    data.write_bytes(content)
    config = _config(chatglm_checkpoint, data, tmp_path / "run", num_samples=3, max_new_tokens=4)
    run_evaluation(config, generator=generator)
    run = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    sha256 = hashlib.sha256(content).hexdigest()
    assert run["data_files"] == {"corpus.json": {"size": len(content), "sha256": sha256}}
    changed = content.replace("。".encode(), "！".encode(), 1)  # same ids and length, another reference
    data.write_bytes(changed)
    new_sha256 = hashlib.sha256(changed).hexdigest()
    message = (
        f"the --data changed since the run in {tmp_path / 'run'} started (corpus.json: {len(content)} -> "
        f"{len(changed)} bytes, sha256 {sha256[:12]} -> {new_sha256[:12]})"
    )
    with pytest.raises(FileExistsError) as error:
        run_evaluation(config, generator=generator)
    assert str(error.value).startswith(message)
    metrics = run_evaluation(replace(config, overwrite=True), generator=generator)
    assert metrics["generated"] == 3 and metrics["resumed"] == 0
    run = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert run["data_files"]["corpus.json"]["sha256"] == new_sha256


def test_data_files_of_a_prepared_folder(prepared_folder):
    files = sorted((prepared_folder / "samples").glob("*.parquet"))
    assert len(files) == 2  # test and train
    assert data_files(prepared_folder) == {
        f"samples/{file.name}": {"size": file.stat().st_size, "sha256": hashlib.sha256(file.read_bytes()).hexdigest()}
        for file in files
    }


def test_missing_model_leaves_no_run_file(chatglm_checkpoint, prepared_folder, tmp_path):
    args = ["evaluate", "--data", str(prepared_folder), "--output", str(tmp_path / "run"), "--num-samples", "2"]
    args += ["--greedy", "--max-new-tokens", "4", "--no-progress"]
    missing = tmp_path / "no" / "model"
    result = CliRunner().invoke(app, [*args, "--model", str(missing)])
    assert result.exit_code == 2 and f"error: model folder {missing} not found" in "".join(result.output.split("\n"))
    assert not (tmp_path / "run" / "run.json").exists()
    result = CliRunner().invoke(app, [*args, "--model", "no-such-model-here"])  # a Hub id, offline in the tests
    assert result.exit_code == 2 and "error: model folder no-such-model-here not found" in result.output
    assert isinstance(result.exception, SystemExit)
    result = CliRunner().invoke(app, [*args, "--model", str(chatglm_checkpoint)])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))["settings"]["num_samples"] == 2


def test_corrupt_run_file_is_named(chatglm_checkpoint, prepared_folder, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text('{"settings": ', encoding="utf-8")
    config = _config(chatglm_checkpoint, prepared_folder, tmp_path / "run", num_samples=2, max_new_tokens=4)
    with pytest.raises(ValueError, match=f"^{tmp_path / 'run' / 'run.json'} is corrupt"):
        run_evaluation(config)
    generator = ReplyGenerator.from_pretrained(str(chatglm_checkpoint), greedy=True, max_new_tokens=4)
    assert run_evaluation(replace(config, overwrite=True), generator=generator)["generated"] == 2
