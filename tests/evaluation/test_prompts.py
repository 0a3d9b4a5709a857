"""Chat-template prompts: the SoulChat prompt back to messages, rendering, and the prompt budget."""

import json
from pathlib import Path

from transformers import AutoTokenizer

from soulchat.data.bundled import sample_corpus_path
from soulchat.data.expansion import expand_dialogue
from soulchat.data.schema import Dialogue, Message
from soulchat.evaluation import chat_template_ids, prompt_messages


def _dialogues() -> list[Dialogue]:
    records = json.loads(sample_corpus_path().read_text(encoding="utf-8"))
    return [Dialogue(str(r["id"]), r["topic"], [Message(**m) for m in r["messages"]]) for r in records]


def test_messages_are_the_dialogue_turns_before_each_reply():
    checked = 0
    for dialogue in _dialogues():
        for sample in expand_dialogue(dialogue):
            before = dialogue.messages[: 2 * sample["turn"] - 1]
            assert prompt_messages(sample["prompt"]) == [{"role": m.role, "content": m.content} for m in before]
            checked += 1
    assert checked > 300


def test_single_turn_prompt():
    assert prompt_messages("用户：我睡不着\n心理咨询师：") == [{"role": "user", "content": "我睡不着"}]


def test_chat_template_rendering_and_oldest_rounds_dropped(llama_checkpoint: Path):
    tokenizer = AutoTokenizer.from_pretrained(str(llama_checkpoint))
    prompt = "用户：你好\n心理咨询师：你好，请说。\n用户：我最近总觉得自己很焦虑\n心理咨询师："
    ids = chat_template_ids(tokenizer, prompt, max_tokens=1000, system_prompt="你是心理咨询师。")
    expected = (
        "<s><|system|>\n你是心理咨询师。<|end|>\n<|user|>\n你好<|end|>\n<|assistant|>\n你好，请说。<|end|>\n"
        "<|user|>\n我最近总觉得自己很焦虑<|end|>\n<|assistant|>\n"
    )
    assert tokenizer.decode(ids) == expected
    last_round = "<s><|user|>\n我最近总觉得自己很焦虑<|end|>\n<|assistant|>\n"
    budget = len(tokenizer(last_round, add_special_tokens=False)["input_ids"])
    assert tokenizer.decode(chat_template_ids(tokenizer, prompt, max_tokens=budget)) == last_round
    # The trainer's rule: the latest turn's text is cut from its start, keeping its label and the cue.
    cut = chat_template_ids(tokenizer, prompt, max_tokens=budget - 3)
    text = tokenizer.decode(cut)
    assert (
        len(cut) <= budget - 3 and text.startswith("<s><|user|>\n") and text.endswith("焦虑<|end|>\n<|assistant|>\n")
    )
