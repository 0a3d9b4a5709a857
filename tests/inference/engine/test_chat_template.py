"""The engine with a chat-template causal LM (a tiny random Llama): the template prompt within budget, batching."""

import pytest
import torch

from soulchat.data.prompts import fit_template_prompt, render_prompt
from soulchat.inference.engine import ChatEngine, DecodingSettings, PromptEncoder

TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
GREEDY = DecodingSettings(greedy=True, max_new_tokens=12)


@pytest.fixture(scope="module")
def llama():
    """A 2-layer, 32-wide random Llama with a byte-level BPE tokenizer trained on the sample corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from tests.inference.conftest import corpus_texts

    special = ["<s>", "<pad>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    backend.train_from_iterator(corpus_texts(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="<|end|>", pad_token="<pad>", chat_template=TEMPLATE
    )
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=4096, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 2:
                param.normal_(std=0.3 if "layers" in name else 1.0)
    return model, tokenizer


def test_template_prompt_is_fit_by_data_prompts(llama, conversations):
    _, tokenizer = llama
    history = [r for h, _ in conversations for r in h]
    encoder = PromptEncoder(tokenizer, is_chatglm=False, max_source_length=150, system_prompt="你是心理咨询师。")
    encoded = encoder.encode(history, "我还是很难受")
    prompt = render_prompt(history, "我还是很难受")
    _, ids = fit_template_prompt(tokenizer, prompt, 150, system_prompt="你是心理咨询师。")
    assert encoded.input_ids == ids and len(ids) <= 150 and encoded.rounds_dropped > 0


def test_batched_replies_equal_single_ones_and_generate(llama, conversations):
    model, tokenizer = llama
    with ChatEngine(model, tokenizer, defaults=GREEDY, max_batch_size=1) as alone:
        singles = [alone.reply(h, m) for h, m in conversations]
    with ChatEngine(model, tokenizer, defaults=GREEDY, max_batch_size=8) as batched:
        batched.scheduler.pause()
        streams = [batched.start(h, m) for h, m in conversations]
        batched.scheduler.resume()
        together = [s.result() for s in streams]
        assert batched.scheduler.batches == 1
    assert together == singles
    history, message = conversations[2]
    ids = PromptEncoder(tokenizer, is_chatglm=False).encode(history, message).input_ids
    output = model.generate(
        torch.tensor([ids]), do_sample=False, max_new_tokens=12, eos_token_id=tokenizer.eos_token_id
    )
    new = output[0, len(ids) :].tolist()
    new = new[: new.index(tokenizer.eos_token_id)] if tokenizer.eos_token_id in new else new
    assert singles[2].text == tokenizer.decode(new, skip_special_tokens=True).strip()
