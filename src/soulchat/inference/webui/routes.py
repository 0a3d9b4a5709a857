"""The routes of the web chat page: `GET /` renders the page, `GET /webui/<file>` serves its script and style.

The page is static HTML, JavaScript and CSS shipped as package data (`static/`); it talks to the OpenAI-compatible
API of the same app (`/v1/models`, `/v1/chat/completions` with `stream: true`), so the page, the CLI and the
server share one conversation engine and none of them builds the prompt itself. The server fills in the page title,
the AI disclaimer (`AI_DISCLAIMER`, the one text the safety layer also uses) and the decoding defaults when it
renders the page; nothing is fetched from outside the app, so the page works offline.
"""

import html
import json
from dataclasses import asdict, dataclass
from importlib import resources
from string import Template

from aiohttp import web

from soulchat.inference.engine import ChatEngine, DecodingSettings
from soulchat.inference.safety.responses import AI_DISCLAIMER
from soulchat.inference.server import create_app

DEFAULT_TITLE = "SoulChat 心理陪伴"

# Only these files are served under /webui/; the page template itself is served rendered, at `/`.
_ASSETS = {"webui.js": "text/javascript", "webui.css": "text/css"}
# Everything the page loads comes from the app itself: no CDN, no web fonts, no inline script.
_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": _CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class PageSettings:
    """What the server writes into the page when it renders it.

    Args:
        title (`str`, *optional*, defaults to `"SoulChat 心理陪伴"`): The page title and heading.
        disclaimer (`str`, *optional*, defaults to `AI_DISCLAIMER`): The AI disclaimer shown above the conversation.
        temperature (`float`, *optional*, defaults to 0.95): The initial value of the temperature slider.
        top_p (`float`, *optional*, defaults to 0.75): The initial value of the top-p slider.
        max_new_tokens (`int`, *optional*, defaults to 512): The initial value of the max-new-tokens slider.
        greedy (`bool`, *optional*, defaults to `False`): Whether the greedy box starts ticked.
        max_new_tokens_limit (`int`, *optional*, defaults to 2048): The largest value of the max-new-tokens slider.
    """

    title: str = DEFAULT_TITLE
    disclaimer: str = AI_DISCLAIMER
    temperature: float = 0.95
    top_p: float = 0.75
    max_new_tokens: int = 512
    greedy: bool = False
    max_new_tokens_limit: int = 2048

    def __post_init__(self) -> None:
        if not 1 <= self.max_new_tokens <= self.max_new_tokens_limit:
            raise ValueError(f"max_new_tokens must be in [1, {self.max_new_tokens_limit}], got {self.max_new_tokens}")

    @classmethod
    def from_decoding(
        cls, defaults: DecodingSettings, *, title: str = DEFAULT_TITLE, max_new_tokens_limit: int = 2048
    ) -> "PageSettings":
        """The page settings whose sliders start at the engine's decoding `defaults`."""
        return cls(
            title=title,
            temperature=defaults.temperature,
            top_p=defaults.top_p,
            max_new_tokens=defaults.max_new_tokens,
            greedy=defaults.greedy,
            max_new_tokens_limit=max(max_new_tokens_limit, defaults.max_new_tokens),
        )


def _static_text(name: str) -> str:
    return resources.files("soulchat.inference.webui").joinpath("static", name).read_text(encoding="utf-8")


def render_page(settings: PageSettings) -> str:
    """The HTML of the chat page for `settings`.

    Args:
        settings (`PageSettings`): The title, disclaimer and decoding defaults to write into the page.

    Returns:
        `str`: The page; texts are HTML-escaped and the settings are embedded as a JSON data block that the
        page's script reads (a data block is never executed, so the strict content security policy holds).

    Example:

    ```python
    >>> page = render_page(PageSettings(title="<测试>"))
    >>> "<title>&lt;测试&gt;</title>" in page
    True
    ```
    """
    config = json.dumps(asdict(settings), ensure_ascii=False)
    # `</script>` (or `<!--`) inside the data block would end it early; `\u003c` is the same character to JSON.
    config = config.replace("<", "\\u003c")
    return Template(_static_text("index.html")).substitute(
        title=html.escape(settings.title),
        disclaimer=html.escape(settings.disclaimer),
        config=config,
    )


def add_webui_routes(
    app: web.Application,
    *,
    title: str = DEFAULT_TITLE,
    defaults: DecodingSettings | None = None,
    max_new_tokens_limit: int = 2048,
) -> None:
    """Adds the chat page to an app that serves the OpenAI-compatible API (`soulchat.inference.server.create_app`).

    Adds `GET /` (the page, rendered once here) and `GET /webui/webui.js`, `GET /webui/webui.css`. The page calls
    `GET /v1/models` for the model name and `POST /v1/chat/completions` with `stream: true` for each reply.

    Args:
        app (`aiohttp.web.Application`): The app to add the routes to (before it starts).
        title (`str`, *optional*, defaults to `"SoulChat 心理陪伴"`): The page title and heading.
        defaults (`DecodingSettings`, *optional*): Where the sliders and the greedy box start (pass the engine's
            `defaults`); defaults to `DecodingSettings()`, the paper's top-p 0.75 and temperature 0.95.
        max_new_tokens_limit (`int`, *optional*, defaults to 2048): The largest max new tokens the slider offers
            (raised to `defaults.max_new_tokens` when that is larger).

    Example:

    ```python
    >>> app = web.Application()
    >>> add_webui_routes(app, title="SoulChat")
    >>> sorted(r.resource.canonical for r in app.router.routes() if r.method == "GET")
    ['/', '/webui/{name}']
    ```
    """
    settings = PageSettings.from_decoding(
        defaults or DecodingSettings(), title=title, max_new_tokens_limit=max_new_tokens_limit
    )
    page = render_page(settings)
    assets = {name: _static_text(name) for name in _ASSETS}

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html", charset="utf-8", headers=_SECURITY_HEADERS)

    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in assets:
            raise web.HTTPNotFound()
        return web.Response(
            text=assets[name],
            content_type=_ASSETS[name],
            charset="utf-8",
            headers={**_SECURITY_HEADERS, "Cache-Control": "no-cache"},
        )

    app.router.add_get("/", index)
    app.router.add_get("/webui/{name}", asset)


def create_webui_app(
    engine: ChatEngine, *, model_name: str, title: str = DEFAULT_TITLE, max_new_tokens_limit: int | None = None
) -> web.Application:
    """The OpenAI-compatible server app of `engine` (`create_app`) with the chat page added at `/`.

    Args:
        engine (`ChatEngine`): The conversation engine that answers the page's requests.
        model_name (`str`): The model id the API reports (and the page shows).
        title (`str`, *optional*, defaults to `"SoulChat 心理陪伴"`): The page title.
        max_new_tokens_limit (`int`, *optional*): The largest max new tokens the page offers; defaults to the
            model's longest sequence (`engine.max_length`), else 2048.

    Returns:
        `aiohttp.web.Application`: ready for `aiohttp.web.run_app`; the page's sliders start at `engine.defaults`.
    """
    app = create_app(engine, model_name=model_name)
    limit = max_new_tokens_limit or engine.max_length or 2048
    add_webui_routes(app, title=title, defaults=engine.defaults, max_new_tokens_limit=limit)
    return app


__all__ = ["DEFAULT_TITLE", "PageSettings", "add_webui_routes", "create_webui_app", "render_page"]
