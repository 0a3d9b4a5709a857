"""generate() with the KV cache (greedy, sampling, beam search), left-padded batches, chat() and stream_chat()."""

import pytest
import torch
from chatglm_helpers import tiny_config_for

from soulchat.models.chatglm import ChatGLMForConditionalGeneration, build_chat_prompt, process_response
from soulchat.models.chatglm.chat_chatglm import InvalidScoreLogitsProcessor

PROMPTS = ["你好", "hello world, how are you today?", "我 最近 总 觉得 自己 很 焦虑"]


@pytest.fixture(scope="module")
def model(tiny_tokenizer):
    torch.manual_seed(0)
    config = tiny_config_for(tiny_tokenizer, attn_implementation="sdpa", tie_word_embeddings=False)
    model = ChatGLMForConditionalGeneration(config).eval()
    # Larger random weights (and an untied head) make greedy choices depend on the context, so that a wrong
    # position, mask or cache changes the ids (with the default init every step repeats the last input token).
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 2:
                param.normal_(std=0.3 if "layers" in name else 1.0)
    return model


def _single(tokenizer, text: str) -> torch.LongTensor:
    return tokenizer([text], return_tensors="pt")["input_ids"]


def test_cached_steps_feed_one_token(model, tiny_tokenizer):
    input_ids = _single(tiny_tokenizer, PROMPTS[1])
    lengths = []
    handle = model.transformer.word_embeddings.register_forward_hook(
        lambda m, args, out: lengths.append(args[0].shape[1])
    )
    try:
        output = model.generate(input_ids, max_new_tokens=6, min_new_tokens=6, do_sample=False)
    finally:
        handle.remove()
    assert output.shape[1] == input_ids.shape[1] + 6
    assert lengths == [input_ids.shape[1]] + [1] * 5


@pytest.mark.parametrize("num_beams", [1, 3])
def test_generate_with_cache_equals_without(model, tiny_tokenizer, num_beams):
    input_ids = _single(tiny_tokenizer, PROMPTS[2])
    kwargs = dict(max_new_tokens=8, min_new_tokens=8, do_sample=False, num_beams=num_beams)
    with_cache = model.generate(input_ids, **kwargs)
    without_cache = model.generate(input_ids, use_cache=False, **kwargs)
    assert torch.equal(with_cache, without_cache)


def test_greedy_ids_follow_argmax_of_full_forward(model, tiny_tokenizer):
    input_ids = _single(tiny_tokenizer, PROMPTS[0])
    output = model.generate(input_ids, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    for length in range(input_ids.shape[1], output.shape[1]):
        with torch.no_grad():
            logits = model(output[:, :length]).logits
        assert logits[0, -1].argmax().item() == output[0, length].item()


def test_sampling_is_seeded_and_top_k_1_is_greedy(model, tiny_tokenizer):
    input_ids = _single(tiny_tokenizer, PROMPTS[1])
    torch.manual_seed(1)
    first = model.generate(input_ids, max_new_tokens=8, do_sample=True, top_p=0.7, temperature=0.95)
    torch.manual_seed(1)
    second = model.generate(input_ids, max_new_tokens=8, do_sample=True, top_p=0.7, temperature=0.95)
    assert torch.equal(first, second)
    greedy = model.generate(input_ids, max_new_tokens=8, do_sample=False)
    assert torch.equal(model.generate(input_ids, max_new_tokens=8, do_sample=True, top_k=1), greedy)


@pytest.mark.parametrize("mask_kind", ["tokenizer", "inferred"])
def test_left_padded_batch_matches_single_prompts(model, tiny_tokenizer, mask_kind):
    batch = tiny_tokenizer(PROMPTS, padding=True, return_tensors="pt")
    kwargs = dict(max_new_tokens=6, min_new_tokens=6, do_sample=False)
    if mask_kind == "tokenizer":  # the original p-tuning evaluation passes the 4D mask and 2D positions
        output = model.generate(**batch, **kwargs)
    else:  # generate() infers the padding mask from the pad id and the model builds positions and mask
        output = model.generate(batch["input_ids"], **kwargs)
    assert len({tuple(row[-6:]) for row in output.tolist()}) == len(PROMPTS)
    for row, text in enumerate(PROMPTS):
        single = model.generate(_single(tiny_tokenizer, text), **kwargs)
        assert output[row, -6:].tolist() == single[0, -6:].tolist()


def test_beam_search_on_padded_batch(model, tiny_tokenizer):
    batch = tiny_tokenizer(PROMPTS[:2], padding=True, return_tensors="pt")
    kwargs = dict(max_new_tokens=5, min_new_tokens=5, do_sample=False, num_beams=3, num_return_sequences=2)
    output = model.generate(**batch, **kwargs)
    assert output.shape == (4, batch["input_ids"].shape[1] + 5)
    single = model.generate(_single(tiny_tokenizer, PROMPTS[1]), **kwargs)
    assert output[2:, -5:].tolist() == single[:, -5:].tolist()


def test_chat_and_stream_chat(model, tiny_tokenizer):
    history = [("你好", "你好 world")]
    response, new_history = model.chat(tiny_tokenizer, "how are you", history=history, do_sample=False, max_length=80)
    assert new_history == history + [("how are you", response)]
    prompt_ids = _single(tiny_tokenizer, build_chat_prompt("how are you", history))
    output = model.generate(prompt_ids, do_sample=False, max_length=80)
    assert response == process_response(tiny_tokenizer.decode(output[0, prompt_ids.shape[1] :].tolist()))
    streamed = list(model.stream_chat(tiny_tokenizer, "how are you", history=history, do_sample=False, max_length=80))
    assert len(streamed) == output.shape[1] - prompt_ids.shape[1] >= 2
    assert streamed[-1] == (response, new_history)
    assert model.process_response("好,的") == process_response("好,的") == "好，的"


def test_stream_generate_sampling_matches_generate(model, tiny_tokenizer):
    input_ids = _single(tiny_tokenizer, PROMPTS[0])
    kwargs = dict(do_sample=True, top_p=0.7, temperature=0.95, max_length=input_ids.shape[1] + 6)
    torch.manual_seed(3)
    *_, streamed = model.stream_generate(input_ids, **kwargs)
    torch.manual_seed(3)
    generated = model.generate(input_ids, **kwargs)
    assert torch.equal(streamed, generated)
    *_, greedy = model.stream_generate(input_ids, do_sample=False, max_new_tokens=4)
    assert torch.equal(greedy, model.generate(input_ids, do_sample=False, max_new_tokens=4))


def test_build_chat_prompt():
    assert build_chat_prompt("你好") == "你好"
    assert (
        build_chat_prompt("还好吗", [("你好", "你好！")])
        == "[Round 0]\n问：你好\n答：你好！\n[Round 1]\n问：还好吗\n答："
    )


def test_process_response():
    assert process_response("  今天是[[训练时间]],你好!OK, fine: yes?  ") == "今天是2023年，你好！OK, fine: yes?"
    assert process_response("问题:答案;结束?") == "问题：答案；结束？"


def test_invalid_score_processor():
    scores = torch.tensor([[0.5, float("nan"), 1.0, 2.0, 3.0, 4.0, 5.0]])
    fixed = InvalidScoreLogitsProcessor()(torch.zeros(1, 1, dtype=torch.long), scores.clone())
    assert fixed.tolist() == [[0.0, 0.0, 0.0, 0.0, 0.0, 5e4, 0.0]]
    finite = torch.tensor([[0.5, 1.0]])
    assert torch.equal(InvalidScoreLogitsProcessor()(torch.zeros(1, 1, dtype=torch.long), finite.clone()), finite)
