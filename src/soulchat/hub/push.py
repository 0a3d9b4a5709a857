"""Upload a trained model folder or a prepared dataset folder to the Hugging Face Hub in one commit.

A model repository gets what `AutoModel.from_pretrained(repo, trust_remote_code=True)` needs where soulchat is not
installed: `config.json` with its `auto_map`, the safetensors weights, the tokenizer files, the model code files that
`auto_map` names (and the files they import), and the card (README.md). The training state (optimizer, scheduler,
RNG states, `training_args.bin`, `trainer_state.json`, `checkpoint-*/` and every other sub-folder) stays home. A
dataset repository gets the Parquet shards that the card's `configs` name, the card and `report.json`; not
`dropped.jsonl`, which holds the raw content of rejected records.

The token comes from `token=` or from huggingface_hub's usual places (`HF_TOKEN`, `hf auth login`); the endpoint from
`endpoint=` or `HF_ENDPOINT`.
"""

import fnmatch
import json
import logging
from pathlib import Path
from typing import Any

import yaml

from soulchat.data.card import render_card
from soulchat.hub.model_card import is_generated_card, write_model_card

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
TOKENIZER_CONFIG_NAME = "tokenizer_config.json"
# A tokenizer's vocabulary: a fast tokenizer's `tokenizer.json`, or a slow one's SentencePiece model or vocab file.
VOCABULARY_PATTERNS = ("tokenizer.json", "*.model", "vocab.json", "vocab.txt")
# Training state and logs: never part of a model repository.
EXCLUDED_PATTERNS = (
    ".*",
    "*.tmp",
    "*.bin",
    "*.pt",
    "*.pth",
    "trainer_state.json",
    "generated_samples-*.jsonl",
)
DATASET_EXTRA_FILES = ("report.json",)


class IncompleteFolderError(FileNotFoundError):
    """A folder lacks files that its repository needs; `missing` names them."""

    def __init__(self, folder: Path, missing: list[str], hint: str = ""):
        self.folder = folder
        self.missing = missing
        super().__init__(f"{folder} is incomplete, missing: {', '.join(missing)}" + (f" ({hint})" if hint else ""))


def _auto_map_modules(auto_map: dict) -> set[str]:
    """The local module names of an `auto_map` (`{"AutoModel": "modeling_x.XModel", "AutoTokenizer": [slow, fast]}`)."""
    modules = set()
    for value in auto_map.values():
        for reference in value if isinstance(value, list) else [value]:
            # "org/repo--module.Class" points at another repository's code: nothing to ship here.
            if reference and "--" not in reference:
                modules.add(reference.rsplit(".", 1)[0])
    return modules


def code_files(folder: Path, modules: set[str]) -> tuple[list[str], list[str]]:
    """The code files of `modules` and of everything they import relatively, present and missing.

    Args:
        folder (`Path`):
            The model folder.
        modules (`set[str]`):
            Module names (`modeling_chatglm`), as `auto_map` gives them.

    Returns:
        `tuple[list[str], list[str]]`: the files found and the files missing, sorted.
    """
    from transformers.dynamic_module_utils import get_relative_imports

    found, missing, pending = set(), set(), [module.replace(".", "/") + ".py" for module in modules]
    while pending:
        name = pending.pop()
        if name in found or name in missing:
            continue
        if not (folder / name).is_file():
            missing.add(name)
            continue
        found.add(name)
        pending.extend(f"{module}.py" for module in get_relative_imports(str(folder / name)))
    return sorted(found), sorted(missing)


def _read_json_file(folder: Path, name: str) -> dict:
    return json.loads((folder / name).read_text(encoding="utf-8"))


def _weight_files(folder: Path, missing: list[str]) -> None:
    """Appends to `missing` the absent safetensors weights (one file, or an index and its shards)."""
    if (folder / WEIGHTS_INDEX_NAME).is_file():
        shards = sorted(set(_read_json_file(folder, WEIGHTS_INDEX_NAME)["weight_map"].values()))
        missing.extend(name for name in shards if not (folder / name).is_file())
    elif not (folder / WEIGHTS_NAME).is_file():
        missing.append(WEIGHTS_NAME)


def check_model_folder(folder: str | Path) -> list[str]:
    """Checks that `folder` holds a complete model repository and returns the files to upload.

    Complete means: `config.json` with an `auto_map`, safetensors weights (`model.safetensors`, or its index and
    every shard), `tokenizer_config.json` and a vocabulary (`tokenizer.json`, `*.model`, `vocab.json` or
    `vocab.txt`), and the code files that the model's and the tokenizer's `auto_map` name, with the files they
    import. The files to upload are the folder's top-level files, less the training state (see
    `EXCLUDED_PATTERNS`).

    Args:
        folder (`str` or `Path`):
            A folder written by `save_pretrained` (the output folder of `soulchat train`).

    Returns:
        `list[str]`: the names of the files to upload, sorted.

    Raises:
        `IncompleteFolderError`: when a needed file is missing; its message names every one.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"not a folder: {folder}")
    missing: list[str] = []
    modules: set[str] = set()
    for name in ("config.json", TOKENIZER_CONFIG_NAME):
        if (folder / name).is_file():
            modules |= _auto_map_modules(_read_json_file(folder, name).get("auto_map") or {})
        else:
            missing.append(name)
    if (folder / "config.json").is_file() and not _read_json_file(folder, "config.json").get("auto_map"):
        missing.append("config.json:auto_map")
    _weight_files(folder, missing)
    names = {path.name for path in folder.iterdir() if path.is_file()}
    if not any(fnmatch.fnmatch(name, pattern) for name in names for pattern in VOCABULARY_PATTERNS):
        missing.append("tokenizer vocabulary (" + " or ".join(VOCABULARY_PATTERNS) + ")")
    code, absent = code_files(folder, modules)
    missing.extend(absent)
    if missing:
        hint = "save the model and tokenizer with save_pretrained (soulchat's ChatGLM writes auto_map and its code)"
        if (folder / "adapter_config.json").is_file():
            hint += "; a LoRA run keeps its merged model in DIR/merged"
        raise IncompleteFolderError(folder, missing, hint)
    kept = {n for n in names if not any(fnmatch.fnmatch(n, pattern) for pattern in EXCLUDED_PATTERNS)}
    return sorted(kept | set(code))


def check_dataset_folder(folder: str | Path) -> list[str]:
    """Checks that a `soulchat prepare` folder is complete and returns the files to upload (relative paths).

    Complete means: a README.md dataset card whose YAML `configs` name data files, and at least one Parquet file for
    every `data_files` pattern. Uploaded: the card, those Parquet files and `report.json`.

    Args:
        folder (`str` or `Path`):
            The output folder of `soulchat prepare` or `dataset_scripts/build_soulchat_corpus.py`.

    Returns:
        `list[str]`: the relative paths of the files to upload, sorted.

    Raises:
        `IncompleteFolderError`: when the card or a configuration's data files are missing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"not a folder: {folder}")
    card = folder / "README.md"
    if not card.is_file():
        raise IncompleteFolderError(folder, ["README.md"], "the dataset card that soulchat prepare writes")
    text = card.read_text(encoding="utf-8")
    header = yaml.safe_load(text.split("---", 2)[1]) if text.startswith("---") else None
    configs = (header or {}).get("configs") or []
    patterns = [item["path"] for config in configs for item in config.get("data_files", [])]
    if not patterns:
        raise IncompleteFolderError(folder, ["README.md:configs"], "the card's YAML names no data files")
    files = {"README.md", *(name for name in DATASET_EXTRA_FILES if (folder / name).is_file())}
    missing = []
    for pattern in patterns:
        matches = [p.relative_to(folder).as_posix() for p in folder.glob(pattern) if p.is_file()]
        if not matches:
            missing.append(pattern)
        files.update(matches)
    if missing:
        raise IncompleteFolderError(folder, missing, "the data files that the card's configs name")
    return sorted(files)


def _hub_api(token: str | None, endpoint: str | None) -> Any:
    """An `HfApi` for `endpoint` (or `HF_ENDPOINT`) with `token` (or the one stored by huggingface_hub)."""
    from huggingface_hub import HfApi, get_token

    token = token or get_token()
    if not token:
        raise PermissionError("no Hugging Face token: pass --token, set HF_TOKEN or run `hf auth login`")
    return HfApi(endpoint=endpoint, token=token)


def upload_files(
    folder: Path,
    files: list[str],
    repo_id: str,
    *,
    repo_type: str,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str,
) -> str:
    """Creates the repository (when absent) and the branch `revision` (when absent), then uploads `files` in one
    commit; returns the commit's URL."""
    from huggingface_hub import CommitOperationAdd

    api = _hub_api(token, endpoint)
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    if revision and revision != "main":
        api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name)) for name in files]
    logger.info("uploading %d files of %s to %s (%s)", len(files), folder, repo_id, repo_type)
    commit = api.create_commit(
        repo_id, operations, commit_message=commit_message, repo_type=repo_type, revision=revision
    )
    return commit.commit_url


def push_model(
    folder: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
    **card_options: Any,
) -> str:
    """Uploads a trained model folder, with its model card, to a model repository in one commit.

    The card (README.md) is written first when the folder has none, and written again when it is one that
    `soulchat card` rendered (so that it names `repo_id`); a hand-written card is uploaded as it is.

    Args:
        folder (`str` or `Path`):
            The model folder (see [`check_model_folder`] for what it must hold).
        repo_id (`str`):
            The repository, `ORG/NAME`; created when absent.
        token (`str`, *optional*):
            A Hub token with write access; huggingface_hub's stored token by default.
        endpoint (`str`, *optional*):
            The Hub's URL; `HF_ENDPOINT` or `https://huggingface.co` by default.
        private (`bool`, *optional*):
            Create the repository as private (an existing repository keeps its visibility).
        revision (`str`, *optional*):
            The branch to commit to (created from `main` when absent); `main` by default.
        commit_message (`str`, *optional*):
            The commit's title.
        card_options:
            Keyword arguments of [`write_model_card`] (`base_model`, `dataset_id`, `license`, `config_path`,
            `metrics_path`).

    Returns:
        `str`: the URL of the commit.
    """
    folder = Path(folder)
    check_model_folder(folder)  # before the card is written: an incomplete folder is left as it was
    card = folder / "README.md"
    if not card.is_file() or is_generated_card(card.read_text(encoding="utf-8")):
        write_model_card(folder, repo_id=repo_id, **card_options)
    files = check_model_folder(folder)
    return upload_files(
        folder, files, repo_id, repo_type="model", token=token, endpoint=endpoint, private=private,
        revision=revision, commit_message=commit_message or "Upload SoulChat model with soulchat",
    )  # fmt: skip


def push_dataset(
    folder: str | Path,
    repo_id: str,
    *,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
) -> str:
    """Uploads a prepared dataset folder to a dataset repository in one commit.

    A folder without README.md but with `report.json` gets its card rendered from the report first.

    Args:
        folder (`str` or `Path`):
            The prepared folder (see [`check_dataset_folder`]).
        repo_id (`str`):
            The dataset repository, `ORG/NAME`; created when absent.
        token (`str`, *optional*):
            A Hub token with write access; huggingface_hub's stored token by default.
        endpoint (`str`, *optional*):
            The Hub's URL; `HF_ENDPOINT` or `https://huggingface.co` by default.
        private (`bool`, *optional*):
            Create the repository as private.
        revision (`str`, *optional*):
            The branch to commit to; `main` by default.
        commit_message (`str`, *optional*):
            The commit's title.

    Returns:
        `str`: the URL of the commit.
    """
    folder = Path(folder)
    report = folder / "report.json"
    if not (folder / "README.md").is_file() and report.is_file():
        card = render_card(json.loads(report.read_text(encoding="utf-8")))
        (folder / "README.md").write_text(card, encoding="utf-8")
    files = check_dataset_folder(folder)
    return upload_files(
        folder, files, repo_id, repo_type="dataset", token=token, endpoint=endpoint, private=private,
        revision=revision, commit_message=commit_message or "Upload SoulChat dataset with soulchat",
    )  # fmt: skip


__all__ = [
    "EXCLUDED_PATTERNS",
    "IncompleteFolderError",
    "check_dataset_folder",
    "check_model_folder",
    "code_files",
    "push_dataset",
    "push_model",
    "upload_files",
]
