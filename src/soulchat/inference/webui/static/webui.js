// The SoulChat chat page: keeps the conversation in the browser and asks the app's OpenAI-compatible API for each
// reply with `stream: true`, showing the counsellor's reply as its chunks arrive. The server builds the prompt.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("soulchat-config").textContent);
  const $ = (id) => document.getElementById(id);
  const ui = {
    conversation: $("conversation"),
    welcome: $("welcome"),
    composer: $("composer"),
    message: $("message"),
    send: $("send"),
    reset: $("reset"),
    status: $("status"),
    modelName: $("model-name"),
    temperature: $("temperature"),
    topP: $("top-p"),
    maxNewTokens: $("max-new-tokens"),
    greedy: $("greedy"),
    restoreDefaults: $("restore-defaults"),
  };

  // The finished turns, as OpenAI chat messages; a reply joins only once it is complete.
  let history = [];
  let model = null;
  let controller = null;

  function setStatus(text) {
    ui.status.textContent = text;
  }

  function showValues() {
    $("temperature-value").textContent = Number(ui.temperature.value).toFixed(2);
    $("top-p-value").textContent = Number(ui.topP.value).toFixed(2);
    $("max-new-tokens-value").textContent = ui.maxNewTokens.value;
    // Greedy decoding ignores temperature and top-p; say so by disabling them.
    ui.temperature.disabled = ui.greedy.checked;
    ui.topP.disabled = ui.greedy.checked;
  }

  function restoreDefaults() {
    ui.maxNewTokens.max = String(config.max_new_tokens_limit);
    ui.temperature.value = String(config.temperature);
    ui.topP.value = String(config.top_p);
    ui.maxNewTokens.value = String(config.max_new_tokens);
    ui.greedy.checked = config.greedy;
    showValues();
  }

  function decodingParameters() {
    const parameters = { max_tokens: Number(ui.maxNewTokens.value) };
    if (ui.greedy.checked) {
      // OpenAI's convention: temperature 0 asks for the most likely token at every step.
      parameters.temperature = 0;
    } else {
      parameters.temperature = Number(ui.temperature.value);
      parameters.top_p = Number(ui.topP.value);
    }
    return parameters;
  }

  function addMessage(role, text) {
    ui.welcome.hidden = true;
    const item = document.createElement("div");
    item.className = "message " + role;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = role === "user" ? "我" : "心理咨询师";
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.textContent = text;
    item.append(who, bubble);
    ui.conversation.append(item);
    ui.conversation.scrollTop = ui.conversation.scrollHeight;
    return item;
  }

  function setBusy(busy) {
    ui.send.disabled = busy;
  }

  async function loadModel() {
    try {
      const response = await fetch("/v1/models");
      if (!response.ok) throw new Error("HTTP " + response.status);
      const body = await response.json();
      model = body.data[0].id;
      ui.modelName.textContent = model;
    } catch (error) {
      ui.modelName.textContent = "不可用";
      setStatus("无法连接到模型服务：" + error.message);
    }
  }

  // Reads a server-sent event stream and calls `onDelta` with each piece of reply text.
  async function readEvents(response, onDelta) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return false;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data:")) continue;
          const data = line.slice(5).trim();
          if (data === "[DONE]") return true;
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message || "生成失败");
          const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
          if (delta && delta.content) onDelta(delta.content);
        }
      }
    }
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      if (body.error && body.error.message) return body.error.message;
    } catch (error) {
      // Not JSON: the status line says enough.
    }
    return "HTTP " + response.status;
  }

  async function send() {
    const text = ui.message.value.trim();
    if (!text || controller) return;
    if (!model) await loadModel();
    if (!model) return;
    ui.message.value = "";
    addMessage("user", text);
    const reply = addMessage("assistant", "");
    const bubble = reply.querySelector(".bubble");
    reply.dataset.state = "streaming";
    // Screen readers announce the reply once it is complete, not at every chunk.
    reply.setAttribute("aria-busy", "true");
    const messages = history.concat([{ role: "user", content: text }]);
    const ownController = new AbortController();
    controller = ownController;
    setBusy(true);
    setStatus("心理咨询师正在输入…");
    let content = "";
    try {
      const response = await fetch("/v1/chat/completions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ model, messages, stream: true, ...decodingParameters() }),
        signal: ownController.signal,
      });
      if (!response.ok) throw new Error(await errorText(response));
      const finished = await readEvents(response, (piece) => {
        content += piece;
        bubble.textContent = content;
        ui.conversation.scrollTop = ui.conversation.scrollHeight;
      });
      if (!finished) throw new Error("连接在回复结束前断开了");
      history = messages.concat([{ role: "assistant", content }]);
      reply.dataset.state = "done";
      setStatus("");
    } catch (error) {
      if (ownController.signal.aborted) return; // reset: the conversation is already gone
      reply.dataset.state = "error";
      bubble.textContent = content + (content ? "\n\n" : "") + "（出错了：" + error.message + "）";
      setStatus("回复失败，可以再发一次。");
    } finally {
      reply.removeAttribute("aria-busy");
      if (controller === ownController) {
        controller = null;
        setBusy(false);
      }
    }
  }

  function reset() {
    if (controller) controller.abort();
    controller = null;
    setBusy(false);
    history = [];
    for (const item of ui.conversation.querySelectorAll(".message")) item.remove();
    ui.welcome.hidden = false;
    setStatus("对话已清空。");
    ui.message.focus();
  }

  ui.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  ui.message.addEventListener("keydown", (event) => {
    // Enter sends; Shift+Enter breaks the line; Enter that confirms an input-method candidate does neither.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      send();
    }
  });
  ui.reset.addEventListener("click", reset);
  ui.restoreDefaults.addEventListener("click", restoreDefaults);
  for (const input of [ui.temperature, ui.topP, ui.maxNewTokens, ui.greedy]) {
    input.addEventListener("input", showValues);
  }

  restoreDefaults();
  loadModel();
  ui.message.focus();
})();
