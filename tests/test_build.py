"""The release artefacts: `python -m build` makes an sdist and a wheel that install and work outside the checkout.

The wheel goes into a fresh virtual environment with `--no-deps`; its dependencies (torch, transformers, ...) come
from this environment through a `.pth` file that appends this environment's site-packages to `sys.path`. A `.pth`
line that is a path is not scanned for further `.pth` files, so the editable install of the checkout stays out of
it, and the fresh environment's own site-packages comes first: `soulchat` is the wheel's (checked through
`soulchat.__file__`). Also here: the documentation site builds offline without warnings.
"""

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

import soulchat

ROOT = Path(__file__).resolve().parents[1]

# Package data the library reads at run time: it must ship in both artefacts.
PACKAGE_DATA = [
    "soulchat/data/corpus/soulchat_sample.json",
    "soulchat/metrics/soulchat_bleu_rouge/soulchat_bleu_rouge.py",
    "soulchat/metrics/soulchat_bleu_rouge/README.md",
    "soulchat/training/configs/ds_zero2.json",
    "soulchat/training/configs/ds_zero3.json",
    "soulchat/training/configs/ds_zero3_offload.json",
    "soulchat/construction/templates/empathy.yaml",
    "soulchat/inference/safety/rules/suicide.yaml",
    "soulchat/hub/templates/model_card.md",
    "soulchat/inference/webui/static/index.html",
    "soulchat/inference/webui/static/webui.js",
    "soulchat/inference/webui/static/webui.css",
]

# Run inside the fresh environment: where soulchat comes from, its package data, and a tiny ChatGLM forward pass
# through the Auto classes that `import soulchat` registers.
SMOKE = """
import json, os
import soulchat, torch
from transformers import AutoConfig, AutoModelForCausalLM
from soulchat.data.bundled import sample_corpus_path
from soulchat.metrics import evaluate_module_path
from soulchat.training import deepspeed_config_path
config = AutoConfig.for_model("chatglm", vocab_size=256, hidden_size=32, num_layers=2, num_attention_heads=2,
    inner_hidden_size=64, mask_token_id=250, gmask_token_id=251, bos_token_id=254, eos_token_id=255, pad_token_id=3)
torch.manual_seed(0)
model = AutoModelForCausalLM.from_config(config).eval()
ids = torch.tensor([[5, 6, 7, 251, 254, 8]])
with torch.no_grad():
    logits = model(input_ids=ids).logits
print(json.dumps({
    "file": soulchat.__file__, "version": soulchat.__version__, "model": type(model).__name__,
    "shape": list(logits.shape), "finite": bool(torch.isfinite(logits).all()),
    "data": [sample_corpus_path().is_file(), os.path.isfile(os.path.join(evaluate_module_path(), "README.md")),
             deepspeed_config_path("zero2").is_file()],
}))
"""


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["HF_HUB_OFFLINE"] = "1"
    return env


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> dict[str, Path]:
    """The sdist and the wheel built from it (`python -m build` builds the wheel from the unpacked sdist)."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        # --skip-dependency-check: setuptools >= 70.1 builds wheels itself, the `wheel` package of pyproject.toml is not needed
        [sys.executable, "-m", "build", "--no-isolation", "--skip-dependency-check", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        env=_clean_env(),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (sdist,) = out.glob("soulchat-*.tar.gz")
    (wheel,) = out.glob("soulchat-*.whl")
    return {"sdist": sdist, "wheel": wheel}


@pytest.mark.slow
def test_artefacts_carry_the_version_and_the_package_data(artefacts):
    assert artefacts["sdist"].name == f"soulchat-{soulchat.__version__}.tar.gz"
    assert artefacts["wheel"].name.startswith(f"soulchat-{soulchat.__version__}-py3-none-any")
    with tarfile.open(artefacts["sdist"]) as tar:
        sdist_names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for required in ["setup.py", "pyproject.toml", "README.md", "LICENSE"]:
        assert required in sdist_names, required
    wheel_names = set(zipfile.ZipFile(artefacts["wheel"]).namelist())
    for path in PACKAGE_DATA:
        assert f"src/{path}" in sdist_names, path
        assert path in wheel_names, path
    assert not any(name.startswith(("tests/", "soulchat/tests")) for name in wheel_names)


@pytest.mark.slow
def test_wheel_installs_in_a_fresh_environment_and_runs(artefacts, tmp_path):
    env_dir = tmp_path / "fresh"
    venv.create(env_dir, with_pip=False, symlinks=True)
    python = env_dir / "bin" / "python"
    fresh_site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(artefacts["wheel"])],
        capture_output=True,
        text=True,
        timeout=300,
        env=_clean_env(),
    )
    assert install.returncode == 0, install.stderr[-3000:]
    (fresh_site / "soulchat_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = _clean_env()

    help_run = subprocess.run(
        [str(env_dir / "bin" / "soulchat"), "--help"], capture_output=True, text=True, timeout=300, env=env
    )
    assert help_run.returncode == 0, help_run.stderr[-3000:]
    for command in ["prepare", "train", "evaluate", "score", "construct", "demo"]:
        assert command in help_run.stdout, command

    smoke = subprocess.run(
        [str(python), "-c", SMOKE], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path
    )
    assert smoke.returncode == 0, smoke.stderr[-3000:]
    report = json.loads(smoke.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).resolve().is_relative_to(fresh_site.resolve()), report["file"]
    assert report["version"] == soulchat.__version__
    assert report["model"] == "ChatGLMForConditionalGeneration"
    assert report["shape"] == [1, 6, 256] and report["finite"]
    assert all(report["data"])


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs is not installed (the docs extra)")
def test_docs_build_offline_without_warnings(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=_clean_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "WARNING" not in result.stderr
    for page in ["index.html", "api/metrics/index.html", "api/chatglm/index.html", "training/index.html"]:
        assert (tmp_path / "site" / page).is_file(), page
    assert "evaluate_module_path" in (tmp_path / "site" / "api/metrics/index.html").read_text(encoding="utf-8")
