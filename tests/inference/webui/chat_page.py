"""What the browser tests know about the chat page: JavaScript probes of its state, and typing a message."""

from tests.inference.webui.cdp import PageSession

# Records the lengths of the newest reply's text after every change of the conversation, inside the page, so that
# no intermediate state is missed however fast the chunks come.
OBSERVE_REPLY = """(() => {
  window.replyLengths = [];
  new MutationObserver(() => {
    const bubble = document.querySelector("#conversation .message.assistant:last-of-type .bubble");
    const n = bubble ? bubble.textContent.length : -1;
    if (window.replyLengths[window.replyLengths.length - 1] !== n) window.replyLengths.push(n);
  }).observe(document.getElementById("conversation"), {subtree: true, childList: true, characterData: true});
  return true;
})()"""
LAST_REPLY_STATE = "(document.querySelector('#conversation .message.assistant:last-of-type')?.dataset.state ?? null)"
LAST_REPLY_TEXT = "document.querySelector('#conversation .message.assistant:last-of-type .bubble').textContent"
MESSAGE_COUNT = "document.querySelectorAll('#conversation .message').length"


async def send_message(page: PageSession, text: str) -> None:
    """Focuses the message box, types `text` and presses Enter, as a user does."""
    await page.evaluate("document.getElementById('message').focus()")
    await page.type_text(text)
    await page.press_enter()
