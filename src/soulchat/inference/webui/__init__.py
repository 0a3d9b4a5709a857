"""The web chat page: a static page (HTML, JavaScript, CSS in `static/`) on top of the OpenAI-compatible server.

`add_webui_routes(app)` adds the page to an app built by `soulchat.inference.server.create_app`, and
`create_webui_app(engine, model_name=...)` builds both at once; the page streams each reply from that app's
`/v1/chat/completions`, so it shares the server's conversation engine.
"""

from soulchat.inference.webui.routes import (
    DEFAULT_TITLE,
    PageSettings,
    add_webui_routes,
    create_webui_app,
    render_page,
)

__all__ = ["DEFAULT_TITLE", "PageSettings", "add_webui_routes", "create_webui_app", "render_page"]
