"""`soulchat push`: upload a trained model (`--checkpoint DIR`) or a prepared dataset (`--dataset DIR`) to the Hub.

One commit per push. A model repository gets the card (README.md, written by `soulchat card` when the folder has
none), `config.json`, the safetensors weights, the tokenizer files and the model code files that `auto_map` names,
so that `AutoModel.from_pretrained(repo, trust_remote_code=True)` works without soulchat; an incomplete folder is
refused with the missing files named. The token comes from `--token`, `HF_TOKEN` or `hf auth login`; the endpoint from
`--endpoint` or `HF_ENDPOINT`.
"""

from pathlib import Path

import typer
from rich.console import Console


def push_command(
    checkpoint: Path = typer.Option(
        None, "--checkpoint", exists=True, file_okay=False, help="A trained model folder (a model repository)."
    ),
    dataset: Path = typer.Option(
        None, "--dataset", exists=True, file_okay=False, help="A `soulchat prepare` folder (a dataset repository)."
    ),
    repo_id: str = typer.Option(..., "--repo-id", help="The repository, ORG/NAME (created when absent)."),
    private: bool = typer.Option(False, "--private", help="Create the repository as private."),
    token: str = typer.Option(None, "--token", help="A write token (default: HF_TOKEN or the stored login)."),
    endpoint: str = typer.Option(None, "--endpoint", help="The Hub URL (default: HF_ENDPOINT or huggingface.co)."),
    commit_message: str = typer.Option(None, "--commit-message", help="The commit's title."),
    revision: str = typer.Option(None, "--revision", help="The branch to commit to (created when absent)."),
    base_model: str = typer.Option(None, "--base-model", help="Model card: the base model's Hub id."),
    dataset_id: str = typer.Option(None, "--dataset-id", help="Model card: the training dataset's Hub id."),
    metrics: Path = typer.Option(None, "--metrics", dir_okay=False, help="Model card: soulchat evaluate's metrics."),
) -> None:
    """Upload a model or dataset folder to the Hugging Face Hub in one commit; print the commit URL."""
    import yaml
    from huggingface_hub.errors import HfHubHTTPError

    from soulchat.hub.push import IncompleteFolderError, push_dataset, push_model

    if (checkpoint is None) == (dataset is None):
        raise typer.BadParameter("give exactly one of --checkpoint and --dataset")
    common = {
        "token": token,
        "endpoint": endpoint,
        "private": True if private else None,
        "revision": revision,
        "commit_message": commit_message,
    }
    console = Console(stderr=True)
    try:
        if checkpoint is not None:
            card = {"base_model": base_model, "dataset_id": dataset_id, "metrics_path": metrics}
            url = push_model(checkpoint, repo_id, **common, **card)
        else:
            url = push_dataset(dataset, repo_id, **common)
    except (IncompleteFolderError, PermissionError, HfHubHTTPError) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from error
    except (ValueError, yaml.YAMLError) as error:  # an invalid repo id, a card or metrics file that cannot be read
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error
    except Exception as error:
        if not _is_network_error(error):
            raise
        console.print(f"[red]error:[/red] cannot reach the Hub at {endpoint or 'https://huggingface.co'}: {error}")
        raise typer.Exit(1) from error
    typer.echo(url)


def _is_network_error(error: Exception) -> bool:
    """Whether `error` is the HTTP client's failure to connect or to get an answer (huggingface_hub's client is an
    httpx fork, not a dependency of its own here, so its classes are recognised by module and name)."""
    return isinstance(error, ConnectionError) or any(
        cls.__module__.split(".")[0].startswith(("httpx", "requests", "urllib3")) and cls.__name__ == "TransportError"
        for cls in type(error).__mro__
    )


__all__ = ["push_command"]
