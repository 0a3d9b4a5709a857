"""Inference: what runs when someone talks to a trained counselling model.

- `engine`: the conversation engine (the SoulChat prompt within budget, batched streaming decoding of many
  conversations at once, the safety layer around every turn) and the checkpoint loader (quantised ChatGLM included);
- `server`: the OpenAI-compatible HTTP API over the engine (`soulchat serve`);
- `safety`: the crisis screen, the screen for generated replies and the fixed supportive texts;
- `webui`: the web chat page served by the same app.
"""
