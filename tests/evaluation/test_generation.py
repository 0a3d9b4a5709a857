"""ReplyGenerator: prompt encoding and budget, decoding at EOS, and the models it refuses."""

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from soulchat.evaluation import ReplyGenerator

PROMPTS = [
    "用户：你好\n心理咨询师：你好，请说。\n用户：我最近总觉得自己很焦虑\n心理咨询师：",
    "用户：我睡不着\n心理咨询师：",
]


@pytest.fixture(scope="module")
def chatglm(chatglm_checkpoint: Path) -> ReplyGenerator:
    return ReplyGenerator.from_pretrained(str(chatglm_checkpoint), greedy=True, max_new_tokens=4)


def test_chatglm_prompts_are_left_padded_and_end_with_gmask_sop(chatglm: ReplyGenerator):
    tokenizer = chatglm.tokenizer
    batch = chatglm.encode(PROMPTS)
    ids = batch["input_ids"]
    assert ids.shape[0] == 2 and batch["attention_mask"].dim() == 4 and batch["position_ids"].shape[1] == 2
    tail = [tokenizer.gmask_token_id, tokenizer.bos_token_id]
    assert ids[:, -2:].tolist() == [tail, tail]
    short = tokenizer(PROMPTS[1])["input_ids"]
    assert ids[1, -len(short) :].tolist() == short
    assert set(ids[1, : ids.shape[1] - len(short)].tolist()) == {tokenizer.pad_token_id}


def test_chatglm_long_prompt_keeps_its_end(chatglm: ReplyGenerator):
    full = chatglm.tokenizer(PROMPTS[0])["input_ids"]
    chatglm.max_prompt_tokens = 9
    try:
        ids = chatglm.encode(PROMPTS[:1])["input_ids"][0].tolist()
    finally:
        chatglm.max_prompt_tokens = 1536
    assert ids == full[-9:]


def test_decode_stops_at_the_first_eos(chatglm: ReplyGenerator):
    tokenizer = chatglm.tokenizer
    words = tokenizer("我理解你", add_special_tokens=False)["input_ids"]
    rows = torch.tensor(
        [words + [tokenizer.eos_token_id] + words, words + [tokenizer.pad_token_id] * (len(words) + 1)]
    )
    assert chatglm.decode(rows) == ["我理解你", "我理解你"]


def test_chatglm_replies_are_post_processed(chatglm: ReplyGenerator):
    tokenizer = chatglm.tokenizer
    row = tokenizer(" 好的,我明白 ", add_special_tokens=False)["input_ids"]
    assert chatglm.decode(torch.tensor([row])) == ["好的，我明白"]
    chatglm.postprocess = False
    try:
        assert chatglm.decode(torch.tensor([row])) == ["好的,我明白"]
    finally:
        chatglm.postprocess = True


def test_a_causal_lm_without_chat_template_is_refused(llama_checkpoint: Path):
    tokenizer = AutoTokenizer.from_pretrained(str(llama_checkpoint))
    tokenizer.chat_template = None
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2))  # fmt: skip
    with pytest.raises(ValueError, match="no chat_template"):
        ReplyGenerator(model, tokenizer)


def test_settings_record_the_decoding(llama_checkpoint: Path):
    generator = ReplyGenerator.from_pretrained(str(llama_checkpoint), top_p=0.8, temperature=0.7, max_new_tokens=3)
    settings = generator.settings()
    assert settings["prompt_format"] == "chat_template" and settings["postprocess"] == "strip"
    assert (settings["do_sample"], settings["top_p"], settings["temperature"], settings["top_k"]) == (
        True,
        0.8,
        0.7,
        50,
    )
    assert settings["eos_token_id"] == [generator.tokenizer.eos_token_id]
    assert generator.tokenizer.padding_side == "left"


def test_a_quantised_checkpoint_is_evaluated_like_model_chat(chatglm_checkpoint: Path, tmp_path: Path):
    # `soulchat evaluate` loads through the same loader as the chat engine, so int8/int4 folders work as they are.
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(chatglm_checkpoint)).quantize(8)
    model.save_pretrained(str(tmp_path))
    AutoTokenizer.from_pretrained(str(chatglm_checkpoint)).save_pretrained(str(tmp_path))
    generator = ReplyGenerator.from_pretrained(str(tmp_path), greedy=True, max_new_tokens=6)
    assert generator.model.config.quantization_bit == 8
    assert generator.model.transformer.layers[0].mlp.dense_h_to_4h.weight.dtype == torch.int8
    expected = [
        generator.model.chat(generator.tokenizer, p, history=[], do_sample=False, max_new_tokens=6, max_length=None)[0]
        for p in PROMPTS
    ]
    assert generator.generate(PROMPTS) == expected
