"""End to end: headless Chromium types into the page served by the real server over a tiny random ChatGLM-6B.

The page, the server (`create_app`) and the engine are the ones `soulchat webui` runs; only the model is tiny. With
the greedy box ticked the page's replies must be exactly the engine's own greedy replies to the same conversation,
which checks the whole path: the page's request, the server's history handling (the disclaimer of the first reply is
not fed back to the model), the streamed chunks and the page's rendering of them.
"""

import asyncio
import json
import time

import pytest

from soulchat.inference.engine import ChatEngine, DecodingSettings
from soulchat.inference.safety import AI_DISCLAIMER
from soulchat.inference.server import BackgroundServer
from soulchat.inference.webui import create_webui_app
from tests.inference.webui.cdp import PageSession
from tests.inference.webui.chat_page import (
    LAST_REPLY_STATE,
    LAST_REPLY_TEXT,
    MESSAGE_COUNT,
    OBSERVE_REPLY,
    send_message,
)

MODEL = "soulchat-tiny"
MAX_NEW_TOKENS = 64
FIRST = "最近压力很大，晚上总是睡不着。"
SECOND = "我也不知道该跟谁说。"


# Each decoding step of the tiny model takes a few milliseconds, so a whole reply can reach the page in one network
# read; pacing the steps makes every chunk a separate read, so the page's streaming is observable on any machine.
STEP_PAUSE_S = 0.03


@pytest.fixture(scope="module")
def engine(chat_model):
    model, tokenizer = chat_model
    pause = model.register_forward_pre_hook(lambda module, args: time.sleep(STEP_PAUSE_S))
    try:
        with ChatEngine(model, tokenizer, defaults=DecodingSettings(max_new_tokens=MAX_NEW_TOKENS)) as engine:
            yield engine
    finally:
        pause.remove()


async def _conversation(page: PageSession, engine: ChatEngine, base_url: str, screenshot) -> None:
    await page.navigate(f"{base_url}/")
    assert await page.wait_for(f"document.getElementById('model-name').textContent === {json.dumps(MODEL)}")
    assert await page.evaluate("document.getElementById('disclaimer').textContent") == AI_DISCLAIMER
    assert await page.evaluate("document.getElementById('max-new-tokens').value") == str(MAX_NEW_TOKENS)
    await page.click("#greedy")
    assert await page.evaluate("document.getElementById('greedy').checked") is True

    # First turn: streamed into the page chunk by chunk.
    await page.evaluate(OBSERVE_REPLY)
    await send_message(page, FIRST)
    assert await page.wait_for(f"{LAST_REPLY_STATE} === 'done'", timeout_s=60)
    greedy = DecodingSettings(greedy=True, max_new_tokens=MAX_NEW_TOKENS)
    expected_1 = await asyncio.to_thread(engine.reply, [], FIRST, settings=greedy)
    shown_1 = await page.evaluate(LAST_REPLY_TEXT)
    assert shown_1 == expected_1.text and shown_1.startswith(AI_DISCLAIMER)
    lengths = await page.evaluate("window.replyLengths")
    partial = [n for n in lengths if 0 < n < len(shown_1)]
    assert lengths == sorted(set(lengths)) and lengths[-1] == len(shown_1), lengths
    assert len(partial) >= 2, f"no streaming seen: lengths {lengths}"

    # Second turn: the history goes back to the server, which leaves the disclaimer out of the prompt.
    await send_message(page, SECOND)
    done_2 = f"document.querySelectorAll('.message.assistant').length === 2 && {LAST_REPLY_STATE} === 'done'"
    assert await page.wait_for(done_2, timeout_s=60)
    expected_2 = await asyncio.to_thread(engine.reply, [(FIRST, expected_1.content)], SECOND, settings=greedy)
    assert await page.evaluate(LAST_REPLY_TEXT) == expected_2.text
    assert await page.evaluate("document.getElementById('send').disabled") is False
    await page.screenshot(screenshot)

    # Reset: the conversation is gone, and the next reply is a first reply again (with the disclaimer).
    await page.click("#reset")
    assert await page.evaluate(MESSAGE_COUNT) == 0
    await send_message(page, FIRST)
    assert await page.wait_for(f"{LAST_REPLY_STATE} === 'done'", timeout_s=60)
    assert await page.evaluate(LAST_REPLY_TEXT) == expected_1.text


def test_typed_message_gets_the_engines_streamed_reply(chromium, engine, tmp_path, keep_screenshot):
    screenshot = tmp_path / "webui.png"
    with BackgroundServer(create_webui_app(engine, model_name=MODEL)) as server:

        async def scenario() -> None:
            async with await PageSession.open(chromium.port) as page:
                await _conversation(page, engine, server.url, screenshot)

        asyncio.run(scenario())
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep_screenshot(screenshot, "webui.png")
    assert engine.scheduler.waiting == 0 and engine.scheduler.running == 0
