"""The chat page in headless Chromium against a scripted OpenAI-style API: the exact requests the page sends.

The API here streams fixed replies at a fixed pace, so the test can check what the page asks for (the history, the
decoding parameters of the sliders and the greedy box), what it shows (every chunk, in order), and what reset and
errors do. The end-to-end test with the real server and a real model is `test_browser_real_server.py`.
"""

import asyncio
import json
from pathlib import Path

from aiohttp import web

from soulchat.inference.safety.responses import AI_DISCLAIMER
from soulchat.inference.server import BackgroundServer
from soulchat.inference.webui import add_webui_routes
from tests.inference.webui.cdp import PageSession
from tests.inference.webui.chat_page import (
    LAST_REPLY_STATE,
    LAST_REPLY_TEXT,
    MESSAGE_COUNT,
    OBSERVE_REPLY,
    send_message,
)

MODEL = "fake-soulchat"
REPLIES = ["听起来你最近真的很辛苦。", "能多说一点让你睡不着的事情吗？"]
ERROR_MARK = "〔error〕"
SLOW_MARK = "〔slow〕"


class ScriptedApi:
    """`/v1/models` and a streaming `/v1/chat/completions` that answers `REPLIES` in turn, two characters a chunk."""

    def __init__(self, *, chunk_delay_s: float = 0.03):
        self.chunk_delay_s = chunk_delay_s
        self.requests: list[dict] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/chat/completions", self.completions)
        add_webui_routes(app, title="SoulChat 测试页")
        return app

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "test"}]})

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        last = body["messages"][-1]["content"]
        if ERROR_MARK in last:
            error = {"message": "max_tokens is too large", "type": "invalid_request_error"}
            return web.json_response({"error": error}, status=400)
        reply = REPLIES[sum(m["role"] == "assistant" for m in body["messages"]) % len(REPLIES)]
        delay = 0.5 if SLOW_MARK in last else self.chunk_delay_s
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        deltas = [{"role": "assistant"}] + [{"content": reply[i : i + 2]} for i in range(0, len(reply), 2)]
        try:
            for delta in deltas:
                await self._event(response, {"index": 0, "delta": delta, "finish_reason": None})
                await asyncio.sleep(delay)
            await self._event(response, {"index": 0, "delta": {}, "finish_reason": "stop"})
            await response.write(b"data: [DONE]\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the page aborted the request (reset)
        return response

    @staticmethod
    async def _event(response: web.StreamResponse, choice: dict) -> None:
        chunk = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "model": MODEL, "choices": [choice]}
        await response.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())


async def _conversation(page: PageSession, api: ScriptedApi, screenshot: Path) -> None:
    assert await page.wait_for(f"document.getElementById('model-name').textContent === {json.dumps(MODEL)}")
    assert await page.evaluate("document.title") == "SoulChat 测试页"
    assert await page.evaluate("document.getElementById('disclaimer').textContent") == AI_DISCLAIMER
    shown = "['temperature-value', 'top-p-value', 'max-new-tokens-value'].map(i => document.getElementById(i).value)"
    assert await page.evaluate(shown) == ["0.95", "0.75", "512"]

    # First turn: typed, sent with Enter, streamed in.
    await page.evaluate(OBSERVE_REPLY)
    await send_message(page, "最近压力很大，晚上睡不着。")
    assert await page.wait_for(f"{LAST_REPLY_STATE} === 'done'")
    assert await page.evaluate(LAST_REPLY_TEXT) == REPLIES[0]
    # Streamed: the reply grew through several partial lengths (a chunk is 2 characters) before the final one.
    lengths = await page.evaluate("window.replyLengths")
    assert lengths == sorted(set(lengths)) and lengths[0] == 0 and lengths[-1] == len(REPLIES[0]), lengths
    assert len(lengths) >= 4 and all(n % 2 == 0 for n in lengths[:-1]), lengths
    assert await page.evaluate("document.getElementById('message').value") == ""
    user_1 = {"role": "user", "content": "最近压力很大，晚上睡不着。"}
    assert api.requests[0] == {
        "model": MODEL, "messages": [user_1], "stream": True, "max_tokens": 512, "temperature": 0.95, "top_p": 0.75
    }  # fmt: skip

    # Second turn: greedy box ticked and the length slider moved; the history goes with the request.
    await page.click("#greedy")
    await page.evaluate(
        "(() => { const s = document.getElementById('max-new-tokens'); s.value = '64';"
        " s.dispatchEvent(new Event('input', {bubbles: true})); return s.value; })()"
    )
    assert await page.evaluate("document.getElementById('temperature').disabled") is True
    await send_message(page, "我总是担心工作做不好。")
    assert await page.wait_for(
        f"document.querySelectorAll('.message.assistant').length === 2 && {LAST_REPLY_STATE} === 'done'"
    )
    user_2 = {"role": "user", "content": "我总是担心工作做不好。"}
    history = [user_1, {"role": "assistant", "content": REPLIES[0]}, user_2]
    assert api.requests[1] == {"model": MODEL, "messages": history, "stream": True, "max_tokens": 64, "temperature": 0}
    assert await page.evaluate(LAST_REPLY_TEXT) == REPLIES[1]
    await page.screenshot(screenshot)

    # Reset clears the page and the history: the next request carries only the new message.
    await page.click("#reset")
    assert await page.evaluate(MESSAGE_COUNT) == 0
    assert await page.evaluate("document.getElementById('welcome').hidden") is False
    await send_message(page, "你好")
    assert await page.wait_for(f"{LAST_REPLY_STATE} === 'done'")
    assert api.requests[2]["messages"] == [{"role": "user", "content": "你好"}]


async def _reset_and_errors(page: PageSession, api: ScriptedApi, screenshot: Path) -> None:
    assert await page.wait_for(f"document.getElementById('model-name').textContent === {json.dumps(MODEL)}")
    # Reset in the middle of a reply: the reply stops and nothing of it comes back later.
    await send_message(page, f"{SLOW_MARK}我想聊聊")
    assert await page.wait_for(f"({LAST_REPLY_TEXT}).length > 0")
    await page.click("#reset")
    await asyncio.sleep(0.8)
    assert await page.evaluate(MESSAGE_COUNT) == 0
    assert await page.evaluate("document.getElementById('send').disabled") is False

    # An error answer is shown in the reply, and the conversation goes on afterwards.
    await send_message(page, f"{ERROR_MARK}你好")
    assert await page.wait_for(f"{LAST_REPLY_STATE} === 'error'")
    assert await page.evaluate(LAST_REPLY_TEXT) == "（出错了：max_tokens is too large）"
    assert await page.evaluate("document.getElementById('status').textContent") == "回复失败，可以再发一次。"
    await send_message(page, "再试一次")
    assert await page.wait_for(f"{LAST_REPLY_STATE} === 'done'")
    # The failed turn is not part of the history.
    assert api.requests[-1]["messages"] == [{"role": "user", "content": "再试一次"}]

    # On a phone-sized screen the settings go below the chat and nothing is wider than the screen.
    await page.set_viewport(390, 844)
    assert await page.wait_for("document.documentElement.scrollWidth <= window.innerWidth")
    above = "document.querySelector('.chat').getBoundingClientRect().bottom"
    assert await page.evaluate(f"{above} <= document.querySelector('.settings').getBoundingClientRect().top")
    await page.screenshot(screenshot)


def test_page_streams_replies_and_sends_the_sliders(chromium, tmp_path):
    api = ScriptedApi()
    with BackgroundServer(api.app()) as server:
        base_url = server.url

        async def scenario() -> None:
            async with await PageSession.open(chromium.port) as page:
                await page.navigate(f"{base_url}/")
                await _conversation(page, api, tmp_path / "webui-fake-api.png")

        asyncio.run(scenario())
    assert (tmp_path / "webui-fake-api.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reset_stops_a_reply_and_errors_are_shown(chromium, tmp_path):
    api = ScriptedApi()
    with BackgroundServer(api.app()) as server:
        base_url = server.url

        async def scenario() -> None:
            async with await PageSession.open(chromium.port) as page:
                await page.navigate(f"{base_url}/")
                await _reset_and_errors(page, api, tmp_path / "webui-narrow.png")

        asyncio.run(scenario())
