"""`soulchat card --checkpoint DIR`: write the model card (README.md) of a training run.

The card is filled from the run's training arguments (`DIR/train.yaml`, the Trainer's `DIR/training_args.bin` or
`DIR/../train.yaml`, or `--config`), `trainer_state.json`, `train_results.json` and the `metrics.json` of
`soulchat evaluate` (`DIR/metrics.json` or `DIR/*/metrics.json`, or `--metrics`), which gives the paper's Table 1.
"""

from pathlib import Path

import typer

from soulchat.cli.startup import fail


def card_command(
    checkpoint: Path = typer.Option(
        ..., "--checkpoint", exists=True, file_okay=False, help="The training run's output folder."
    ),
    output: Path = typer.Option(None, "--output", "-o", help="Where to write the card (default: DIR/README.md)."),
    base_model: str = typer.Option(
        None, "--base-model", help="The base model's Hub id (default: the run's model_name_or_path, if a Hub id)."
    ),
    dataset_id: str = typer.Option(None, "--dataset-id", help="The training dataset's Hub id, e.g. ORG/NAME."),
    repo_id: str = typer.Option(None, "--repo-id", help="The model's Hub repository, for the loading examples."),
    model_name: str = typer.Option(None, "--model-name", help="The card's title (default: the repository's name)."),
    license: str = typer.Option("other", "--license", help="Hub licence id (other: non-commercial research)."),
    config: Path = typer.Option(None, "--config", dir_okay=False, help="The training YAML, when not in the run."),
    metrics: Path = typer.Option(None, "--metrics", dir_okay=False, help="soulchat evaluate's metrics.json."),
) -> None:
    """Write the model card of a training run: YAML metadata, intended use, safety, hyper-parameters, Table 1."""
    from soulchat.hub.model_card import write_model_card

    if not (checkpoint / "config.json").is_file():
        fail(f"{checkpoint} has no config.json: not a model folder")
    options = {"base_model": base_model, "dataset_id": dataset_id, "repo_id": repo_id, "license": license}
    if model_name:
        options["model_name"] = model_name
    try:
        path = write_model_card(checkpoint, output, config_path=config, metrics_path=metrics, **options)
    except FileNotFoundError as error:
        raise typer.BadParameter(str(error)) from error
    except ValueError as error:  # a metrics or config file that cannot be read
        fail(error)
    typer.echo(f"Wrote {path}")


__all__ = ["card_command"]
