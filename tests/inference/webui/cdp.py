"""A small Chrome DevTools Protocol client for the browser tests: headless Chromium driven over aiohttp's websocket.

`HeadlessChromium` starts Debian's `chromium` in its own process group with `--remote-debugging-port=0` and reads the
port it picked from `<user-data-dir>/DevToolsActivePort`; `PageSession` connects to a page target and sends commands
(`Page.navigate`, `Runtime.evaluate`, `Input.insertText`, `Input.dispatchKeyEvent`, `Page.captureScreenshot`, ...).
"""

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    """The path of a Chromium binary: `$SOULCHAT_CHROMIUM`, else the first of `CHROMIUM_NAMES` on the PATH."""
    explicit = os.environ.get("SOULCHAT_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class CdpError(RuntimeError):
    """A command answered with an error, or the page raised an exception in `Runtime.evaluate`."""


class HeadlessChromium:
    """Headless Chromium in its own process group, killed as a group on `close()`.

    Args:
        binary (`str`): The Chromium executable (Debian's `/usr/bin/chromium` is a shell wrapper; the group kill
            reaches the browser and all its helper processes alike).
        window_size (`tuple[int, int]`, *optional*, defaults to `(1280, 860)`): The window size, in CSS pixels.
        startup_timeout_s (`float`, *optional*, defaults to 30.0): How long to wait for `DevToolsActivePort`.
    """

    def __init__(self, binary: str, *, window_size: tuple[int, int] = (1280, 860), startup_timeout_s: float = 30.0):
        self.profile = Path(tempfile.mkdtemp(prefix="soulchat-chromium-"))
        self.log_path = self.profile / "chromium.log"
        command = [
            binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
            f"--user-data-dir={self.profile / 'profile'}", f"--window-size={window_size[0]},{window_size[1]}",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
            "--disable-background-networking", "--disable-component-update", "--hide-scrollbars",
            "--force-color-profile=srgb", "--lang=zh-CN", "about:blank",
        ]  # fmt: skip
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            self.port = self._wait_for_port(startup_timeout_s)
        except BaseException:
            self.close()
            raise

    def _wait_for_port(self, timeout_s: float) -> int:
        active_port = self.profile / "profile" / "DevToolsActivePort"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}: {self.log_tail()}")
            # The file is written whole once the port is open: the port, then the browser target's path.
            lines = active_port.read_text().splitlines() if active_port.is_file() else []
            if len(lines) >= 2 and lines[0].isdigit():
                return int(lines[0])
            time.sleep(0.05)
        raise TimeoutError(f"chromium wrote no DevToolsActivePort in {timeout_s} s: {self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.is_file() else ""

    def close(self) -> None:
        """Kills the whole process group (SIGTERM, then SIGKILL after 5 s) and removes the profile."""
        if self.process.poll() is None:
            for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(self.process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.process.wait(timeout=wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # Helpers left behind by the browser are in the same group: make sure none survives.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "HeadlessChromium":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class PageSession:
    """One DevTools websocket connection to a page target; use `async with PageSession.open(port) as page:`.

    Responses are matched to commands by id; events are kept in arrival order for `wait_event`.
    """

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self._http = http
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._events: list[dict[str, Any]] = []
        self._event_signal = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, port: int) -> "PageSession":
        """Connects to the first page target of the browser listening on `port` (opening one if none is left)."""
        http = aiohttp.ClientSession()
        try:
            base = f"http://127.0.0.1:{port}"
            async with http.get(f"{base}/json/list") as response:
                targets = [t for t in await response.json() if t["type"] == "page"]
            if not targets:
                async with http.put(f"{base}/json/new?about:blank") as response:
                    targets = [await response.json()]
            # Screenshots arrive as one large message: no size limit.
            ws = await http.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=0)
        except BaseException:
            await http.close()
            raise
        return cls(http, ws)

    async def __aenter__(self) -> "PageSession":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._reader.cancel()
        await self._ws.close()
        await self._http.close()

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
            else:
                self._events.append(data)
                self._event_signal.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("the DevTools connection closed"))

    async def send(self, method: str, timeout_s: float = 30.0, **params: Any) -> dict[str, Any]:
        """Sends one command and returns its `result`; raises `CdpError` on an error answer."""
        command_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[command_id] = future
        await self._ws.send_str(json.dumps({"id": command_id, "method": method, "params": params}))
        answer = await asyncio.wait_for(future, timeout_s)
        if "error" in answer:
            raise CdpError(f"{method}: {answer['error']}")
        return answer["result"]

    async def wait_event(self, method: str, *, after: int = 0, timeout_s: float = 30.0) -> dict[str, Any]:
        """The first event named `method` among those received from index `after` on; waits for it if needed."""
        deadline = time.monotonic() + timeout_s
        while True:
            for event in self._events[after:]:
                if event["method"] == method:
                    return event["params"]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {method} event in {timeout_s} s")
            self._event_signal.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._event_signal.wait(), remaining)

    async def navigate(self, url: str, *, timeout_s: float = 30.0, viewport: tuple[int, int] = (1280, 860)) -> None:
        """Loads `url` in a `viewport` (width, height) and waits for its `load` event."""
        await self.set_viewport(*viewport)
        await self.send("Page.enable")
        mark = len(self._events)
        result = await self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise CdpError(f"navigation to {url} failed: {result['errorText']}")
        await self.wait_event("Page.loadEventFired", after=mark, timeout_s=timeout_s)

    async def set_viewport(self, width: int, height: int) -> None:
        """Makes the page's viewport `width` x `height` CSS pixels at scale 1 (screenshots of a fixed size)."""
        await self.send(
            "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False
        )

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise CdpError(f"{expression!r} raised: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, *, timeout_s: float = 20.0, interval_s: float = 0.02) -> Any:
        """Polls `expression` until it is truthy and returns that value."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression!r} stayed falsy for {timeout_s} s")
            await asyncio.sleep(interval_s)

    async def type_text(self, text: str) -> None:
        """Types `text` into the focused element, the way an input method commits it."""
        await self.send("Input.insertText", text=text)

    async def press_enter(self) -> None:
        """Presses and releases the Enter key."""
        key = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13}
        await self.send("Input.dispatchKeyEvent", type="keyDown", text="\r", unmodifiedText="\r", **key)
        await self.send("Input.dispatchKeyEvent", type="keyUp", **key)

    async def click(self, selector: str) -> None:
        """Clicks the middle of the element matching the CSS `selector` with the left mouse button."""
        box = await self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left", clickCount=1)

    async def screenshot(self, path: Path) -> Path:
        """Saves a PNG of the viewport to `path`."""
        result = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(result["data"]))
        return path
