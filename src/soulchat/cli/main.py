"""Entry point of the `soulchat` console command: one Typer app, one module per subcommand."""

import logging

import typer

from soulchat import __version__
from soulchat.cli import card, cehs, chat, construct, convert, demo, prepare, push, score, serve, train, webui
from soulchat.cli import evaluate as evaluate_cli

app = typer.Typer(
    name="soulchat",
    help="Build empathetic Chinese counselling language models the SoulChat way.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.command(name="prepare")(prepare.prepare_command)
app.command(name="construct")(construct.construct_command)
app.command(name="demo")(demo.demo_command)
app.command(name="convert-checkpoint")(convert.convert_checkpoint_command)
app.command(name="score")(score.score_command)
app.command(name="evaluate")(evaluate_cli.evaluate_command)
app.command(name="train", context_settings=train.CONTEXT_SETTINGS)(train.train_command)
app.command(name="chat")(chat.chat_command)
app.command(name="serve")(serve.serve_command)
app.command(name="webui")(webui.webui_command)
app.command(name="card")(card.card_command)
app.command(name="push")(push.push_command)
app.add_typer(cehs.app, name="cehs")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"soulchat {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
