"""The engine's model input is the training input: same prompt, same budget rule (`soulchat.data.prompts`)."""

import pytest

from soulchat.data.prompts import fit_prompt, render_prompt, split_rounds
from soulchat.inference.engine import PromptEncoder
from soulchat.training.tokenization import encode_chatglm


@pytest.fixture(scope="module")
def long_conversation(conversations):
    """Twelve rounds from the sample corpus, so that small budgets drop rounds."""
    history = [round_ for history, _ in conversations for round_ in history]
    history += [(message, "嗯，我在听。") for _, message in conversations]
    return history, "我还是很难受，不知道该怎么办。"


@pytest.mark.parametrize("budget", [2048, 300, 120, 40, 12])
def test_chatglm_input_equals_the_training_source(chat_model, long_conversation, budget):
    _, tokenizer = chat_model
    history, message = long_conversation
    encoded = PromptEncoder(tokenizer, is_chatglm=True, max_source_length=budget).encode(history, message)
    prompt = render_prompt(history, message)
    training = encode_chatglm([prompt], ["好的。"], tokenizer, max_source_length=budget)
    assert encoded.input_ids == training["input_ids"][0][: training["prompt_length"][0]]
    assert encoded.input_ids[-2:] == [tokenizer.gmask_token_id, tokenizer.bos_token_id]
    assert len(encoded.input_ids) - 1 <= budget  # the source is the prompt and [gMASK]
    assert encoded.text.endswith("不知道该怎么办。\n心理咨询师：") or budget == 12


def test_rounds_are_dropped_oldest_first_as_data_prompts_does(chat_model, long_conversation):
    _, tokenizer = chat_model
    history, message = long_conversation
    encoded = PromptEncoder(tokenizer, is_chatglm=True, max_source_length=200).encode(history, message)
    prompt = render_prompt(history, message)
    rounds = split_rounds(prompt)

    def render(text: str) -> list[int]:
        return tokenizer([text], add_special_tokens=False)["input_ids"][0]

    text, ids = fit_prompt(rounds, render, 199, round_costs=[len(render(r)) for r in rounds])
    assert (encoded.text, encoded.input_ids[:-2]) == (text, ids)
    assert 0 < encoded.rounds_dropped < len(history) and prompt.endswith(encoded.text)
    kept = PromptEncoder(tokenizer, is_chatglm=True).encode(history, message)
    assert kept.rounds_dropped == 0 and kept.text == prompt


def test_the_current_message_is_cut_from_its_start_never_dropped(chat_model):
    _, tokenizer = chat_model
    message = "我" * 50 + "最后一句很重要"
    encoded = PromptEncoder(tokenizer, is_chatglm=True, max_source_length=20).encode([("你好", "你好。")], message)
    assert encoded.text.startswith("用户：") and encoded.text.endswith("最后一句很重要\n心理咨询师：")
    assert len(encoded.input_ids) - 1 <= 20
