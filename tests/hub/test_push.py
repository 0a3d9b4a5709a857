"""`soulchat push` against a fake Hub on 127.0.0.1, through the real huggingface_hub client: the uploaded file sets,
the card, one commit per push, refusal of incomplete folders, and loading the pushed model without soulchat."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml
from typer.testing import CliRunner

from soulchat.cli.main import app
from soulchat.hub.push import IncompleteFolderError, check_model_folder, push_dataset, push_model
from tests.hub.conftest import TABLE_ROW

MODEL_FILES = {
    "README.md",
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer_config.json",
    "ice_text.model",
    "train_results.json",
}
# At least these code files; `save_pretrained` copies every module that the model's code imports.
CODE_FILES = {
    "tokenization_chatglm.py",
    "configuration_chatglm.py",
    "modeling_chatglm.py",
    "masking_chatglm.py",
    "chat_chatglm.py",
}
DATASET_FILES = {
    "README.md",
    "report.json",
    "samples/train-00000-of-00001.parquet",
    "samples/test-00000-of-00001.parquet",
    "dialogues/train-00000-of-00001.parquet",
    "dialogues/test-00000-of-00001.parquet",
}
PROMPTS = ["用户：最近总是失眠。\n心理咨询师：", "用户：我和家人吵架了，很难过。\n心理咨询师："]


@pytest.fixture
def model_copy(run_folder, tmp_path):
    return shutil.copytree(run_folder, tmp_path / "tiny-soulchat")


def _header(text: str) -> dict:
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_push_model_uploads_the_repository_in_one_commit(fake_hub, model_copy):
    url = push_model(model_copy, "org/tiny-soulchat", token=fake_hub.token, endpoint=fake_hub.url, dataset_id="o/d")
    repo = fake_hub.repo("org/tiny-soulchat")
    assert url == f"{fake_hub.url}/org/tiny-soulchat/commit/{repo.heads['main']}" and len(repo.commits) == 1
    files = fake_hub.files("org/tiny-soulchat")
    code = {path.name for path in model_copy.glob("*.py")}
    assert code >= CODE_FILES and set(files) == MODEL_FILES | code
    assert {name for name, stored in files.items() if stored.lfs} == {"model.safetensors", "ice_text.model"}
    for name in set(files) - {"README.md"}:
        assert files[name].data == (model_copy / name).read_bytes(), name
    # The weights and the tokenizer model went through the git-LFS batch API, the rest inline in the commit.
    assert sum(method == "PUT" for method, _ in fake_hub.requests) == 2
    card = files["README.md"].data.decode()
    assert card == (model_copy / "README.md").read_text(encoding="utf-8")  # written into the folder, then uploaded
    assert {"language", "license", "datasets", "pipeline_tag", "tags"} <= _header(card).keys()
    assert TABLE_ROW in card and 'from_pretrained("org/tiny-soulchat", trust_remote_code=True' in card
    assert not repo.private

    # Pushing again: nothing changed, so no new commit; the same URL comes back.
    assert push_model(model_copy, "org/tiny-soulchat", token=fake_hub.token, endpoint=fake_hub.url, dataset_id="o/d")
    assert len(repo.commits) == 1


def test_a_hand_written_card_is_kept(fake_hub, model_copy):
    (model_copy / "README.md").write_text("---\nlicense: mit\n---\n# Mine\n", encoding="utf-8")
    push_model(model_copy, "org/m", token=fake_hub.token, endpoint=fake_hub.url, private=True, revision="dev")
    repo = fake_hub.repo("org/m")
    assert repo.private and fake_hub.files("org/m") == {}  # the commit went to the new branch `dev`
    assert fake_hub.files("org/m", revision="dev")["README.md"].data == b"---\nlicense: mit\n---\n# Mine\n"


def test_push_refuses_incomplete_folders(fake_hub, model_copy):
    (model_copy / "masking_chatglm.py").unlink()
    with pytest.raises(IncompleteFolderError, match=r"missing: masking_chatglm\.py"):
        push_model(model_copy, "org/m", token=fake_hub.token, endpoint=fake_hub.url)
    (model_copy / "model.safetensors").unlink()
    with pytest.raises(IncompleteFolderError) as error:
        check_model_folder(model_copy)
    assert error.value.missing == ["model.safetensors", "masking_chatglm.py"]
    config = json.loads((model_copy / "config.json").read_text())
    del config["auto_map"]
    (model_copy / "config.json").write_text(json.dumps(config))
    (model_copy / "ice_text.model").unlink()
    with pytest.raises(IncompleteFolderError) as error:
        check_model_folder(model_copy)
    assert error.value.missing == [
        "config.json:auto_map",
        "model.safetensors",
        "tokenizer vocabulary (tokenizer.json or *.model or vocab.json or vocab.txt)",
    ]
    assert fake_hub.requests == [] and not (model_copy / "README.md").exists()


def test_push_needs_a_valid_token(fake_hub, model_copy, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    result = CliRunner().invoke(
        app, ["push", "--checkpoint", str(model_copy), "--repo-id", "org/m", "--endpoint", fake_hub.url]
    )
    assert result.exit_code == 1 and "401" in result.output and fake_hub.repos == {}


def test_push_dataset_command(fake_hub, prepared_data, tmp_path):
    folder = shutil.copytree(prepared_data, tmp_path / "data")
    args = ["push", "--dataset", str(folder), "--repo-id", "org/soulchat-sample", "--endpoint", fake_hub.url]
    result = CliRunner().invoke(app, [*args, "--token", fake_hub.token, "--commit-message", "Add the sample"])
    assert result.exit_code == 0, result.output
    repo = fake_hub.repo("org/soulchat-sample", "dataset")
    assert result.stdout.strip() == f"{fake_hub.url}/datasets/org/soulchat-sample/commit/{repo.heads['main']}"
    assert repo.commits[0]["summary"] == "Add the sample"
    files = fake_hub.files("org/soulchat-sample", "dataset")
    assert set(files) == DATASET_FILES  # not dropped.jsonl, which holds the raw rejected records
    for name in DATASET_FILES:
        assert files[name].data == (folder / name).read_bytes(), name

    import datasets

    exported = fake_hub.export("org/soulchat-sample", tmp_path / "clone", "dataset")
    samples = datasets.load_dataset(str(exported), "samples")
    report = json.loads((folder / "report.json").read_text())
    assert {split: samples[split].num_rows for split in samples} == report["samples"]

    (folder / "samples" / "test-00000-of-00001.parquet").unlink()
    with pytest.raises(IncompleteFolderError, match=r"missing: samples/test-\*\.parquet"):
        push_dataset(folder, "org/x", token=fake_hub.token, endpoint=fake_hub.url)


_NO_SOULCHAT = textwrap.dedent(
    """
    import importlib.util, json, sys
    from pathlib import Path
    sys.path = [p for p in sys.path if not (Path(p or ".") / "soulchat").exists()]
    assert importlib.util.find_spec("soulchat") is None, "soulchat is visible"
    import torch
    from transformers import AutoModel, AutoTokenizer
    model = AutoModel.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(sys.argv[1], trust_remote_code=True)
    assert "soulchat" not in sys.modules
    inputs = tokenizer(json.loads(sys.argv[2]), padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    print(json.dumps({"model": type(model).__module__, "logits": logits[:, -1, :20].tolist(),
                      "ids": inputs["input_ids"].tolist()}))
    """
)


@pytest.mark.slow
def test_pushed_model_loads_from_the_hub_without_soulchat(fake_hub, model_copy, tmp_path):
    """A user without soulchat: `AutoModel.from_pretrained("org/name", trust_remote_code=True)` from the (fake) Hub."""
    push_model(model_copy, "org/tiny-soulchat", token=fake_hub.token, endpoint=fake_hub.url)
    env = {
        **os.environ,
        "HF_ENDPOINT": fake_hub.url,
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "PYTHONPATH": "",
    }
    env.pop("HF_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-c", _NO_SOULCHAT, "org/tiny-soulchat", json.dumps(PROMPTS, ensure_ascii=False)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads(result.stdout.strip().splitlines()[-1])
    assert remote["model"].startswith("transformers_modules.")  # the repository's code, not soulchat's
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(model_copy)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_copy))
    inputs = tokenizer(PROMPTS, padding=True, return_tensors="pt")
    assert remote["ids"] == inputs["input_ids"].tolist()
    with torch.no_grad():
        logits = model(**inputs).logits
    assert remote["logits"] == logits[:, -1, :20].tolist()


def test_push_errors_are_one_line(fake_hub, model_copy, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_fake_write_token")
    base = ["push", "--checkpoint", str(model_copy), "--token", "hf_fake_write_token"]
    result = CliRunner().invoke(app, [*base, "--repo-id", "org/m", "--endpoint", "http://127.0.0.1:9"])
    assert result.exit_code == 1 and "cannot reach the Hub at http://127.0.0.1:9" in " ".join(result.output.split())
    result = CliRunner().invoke(app, [*base, "--repo-id", "bad id!!", "--endpoint", fake_hub.url])
    assert result.exit_code == 2 and "Repo id must" in result.output and fake_hub.repos == {}
