"""The web page's routes over a real socket: the rendered page, its assets, its headers; no browser needed."""

import html
import json
import re
import urllib.error
import urllib.request

import pytest
from aiohttp import web

from soulchat.inference.engine import DecodingSettings
from soulchat.inference.safety.responses import AI_DISCLAIMER
from soulchat.inference.server import BackgroundServer
from soulchat.inference.webui import DEFAULT_TITLE, PageSettings, add_webui_routes, render_page


def _get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode("utf-8", errors="replace")


def _config(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="soulchat-config">(.*?)</script>', page, re.S)
    assert match, "the page has no config block"
    return json.loads(match.group(1))


def test_page_and_assets_are_served_with_a_strict_policy():
    app = web.Application()
    add_webui_routes(app, defaults=DecodingSettings(temperature=0.7, max_new_tokens=256))
    with BackgroundServer(app) as server:
        base_url = server.url
        status, headers, page = _get(f"{base_url}/")
        assert status == 200
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert f"<title>{DEFAULT_TITLE}</title>" in page
        assert f'<p id="disclaimer" class="disclaimer" role="note">{html.escape(AI_DISCLAIMER)}</p>' in page
        assert _config(page) == {
            "title": DEFAULT_TITLE, "disclaimer": AI_DISCLAIMER, "temperature": 0.7, "top_p": 0.75,
            "max_new_tokens": 256, "greedy": False, "max_new_tokens_limit": 2048,
        }  # fmt: skip

        # Everything the page loads is served by the app itself; nothing comes from another origin.
        loaded = re.findall(r'(?:src|href)="([^"#]+)"', page)
        assert sorted(loaded) == ["/webui/webui.css", "/webui/webui.js"]
        for path, kind in (("/webui/webui.js", "text/javascript"), ("/webui/webui.css", "text/css")):
            status, headers, body = _get(base_url + path)
            assert (status, headers["Content-Type"]) == (200, f"{kind}; charset=utf-8")
            assert "://" not in body and "@import" not in body
        assert "://" not in page.replace("http://www.w3.org", "")

        # Only the two assets: not the page template, not other package files.
        for path in ("/webui/index.html", "/webui/..%2Froutes.py", "/webui/", "/webui/webui.jsx"):
            assert _get(base_url + path)[0] == 404, path


def test_page_text_is_escaped_and_the_config_block_cannot_be_closed():
    title = '</script><script>alert("x")</script> & 你好'
    page = render_page(PageSettings(title=title))
    assert f"<title>{html.escape(title)}</title>" in page
    assert page.count("</script>") == 2  # the config block and the script tag; none from the title
    assert _config(page)["title"] == title


def test_page_settings_follow_the_engine_defaults():
    settings = PageSettings.from_decoding(DecodingSettings(greedy=True, max_new_tokens=4096), title="t")
    assert (settings.title, settings.greedy, settings.max_new_tokens, settings.max_new_tokens_limit) == (
        "t", True, 4096, 4096,
    )  # fmt: skip
    assert (settings.temperature, settings.top_p) == (0.95, 0.75)
    with pytest.raises(ValueError, match="max_new_tokens must be in"):
        PageSettings(max_new_tokens=3000, max_new_tokens_limit=2048)
