"""The wheel ships the package data the library reads at run time (a missing glob only shows after `pip install .`)."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_the_package_data(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("soulchat-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in [
        "soulchat/data/corpus/soulchat_sample.json",
        "soulchat/metrics/soulchat_bleu_rouge/soulchat_bleu_rouge.py",
        "soulchat/metrics/soulchat_bleu_rouge/README.md",
        "soulchat/training/configs/ds_zero2.json",
        "soulchat/training/configs/ds_zero3.json",
        "soulchat/training/configs/ds_zero3_offload.json",
        "soulchat/construction/templates/empathy.yaml",
        "soulchat/inference/safety/rules/suicide.yaml",
        "soulchat/models/chatglm/modeling_chatglm.py",
    ]:
        assert required in names, required
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "soulchat = soulchat.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
