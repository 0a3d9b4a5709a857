"""Running the API app: in the foreground (`soulchat serve`) or on a background thread (tests, benchmarks, notebooks)."""

import asyncio
import logging
import threading

from aiohttp import web

logger = logging.getLogger(__name__)


class BackgroundServer:
    """Serves an aiohttp app on its own event loop in a daemon thread, on loopback by default.

    Args:
        app (`aiohttp.web.Application`): The app (for instance from [`create_app`]).
        host (`str`, *optional*, defaults to `"127.0.0.1"`): The address to bind.
        port (`int`, *optional*, defaults to 0): The port; 0 picks a free one (see `port` once started).

    Example:

    ```python
    >>> import openai
    >>> from soulchat.inference.server import BackgroundServer, create_app
    >>> # engine: a ChatEngine (see soulchat.inference.engine)
    >>> with BackgroundServer(create_app(engine, model_name="soulchat")) as server:
    ...     client = openai.OpenAI(base_url=server.url + "/v1", api_key="-")
    ```
    """

    def __init__(self, app: web.Application, *, host: str = "127.0.0.1", port: int = 0):
        self.app = app
        self.host = host
        self.port = port
        self.loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, handle_signals=False)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="soulchat-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.host, self.port)
            self.loop.run_until_complete(site.start())
            self.port = self._runner.addresses[0][1]
        except BaseException as error:  # reported to the constructor's caller
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._runner.cleanup())
        self.loop.close()

    def close(self) -> None:
        """Stops serving and joins the thread."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(30)

    def __enter__(self) -> "BackgroundServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = ["BackgroundServer"]
