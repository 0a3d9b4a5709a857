"""One-line errors for the commands, and the start-up checks of `chat`, `serve` and `webui` (bad options are refused
before the model loads)."""

import socket
from typing import NoReturn

import typer


def fail(message: object, code: int = 2) -> NoReturn:
    """Prints `error: message` on standard error and exits with `code`."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def check_at_least(minimum: int, **values: int) -> None:
    """Each `--option` value is at least `minimum` (option names with `_` are shown with `-`)."""
    for name, value in values.items():
        if value < minimum:
            fail(f"--{name.replace('_', '-')} must be at least {minimum}, got {value}")


def check_port_free(host: str, port: int) -> None:
    """Fails at once when `host:port` cannot be listened on (in use, or not an address of this machine), rather than
    after the model has loaded."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        fail(f"cannot listen on {host}:{port}: {error}")
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            fail(f"cannot listen on {host}:{port}: {error.strerror or error}")


__all__ = ["check_at_least", "check_port_free", "fail"]
