"""Other base models: a tiny random Qwen2 (transformers-native) with a chat template set in the test; the loss covers
only the counsellor's reply; SoulChatTrainer trains it and evaluates by generation with the project's metrics."""

from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from soulchat.data.expansion import render_prompt
from soulchat.data.prompts import split_rounds
from soulchat.training.sft_config import SoulChatSFTConfig
from soulchat.training.tokenization import IGNORE_INDEX, encode_chat_template
from soulchat.training.workflow import run_training

# Qwen2.5's ChatML layout, reduced to what the test needs.
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="module")
def chatml_tokenizer(tmp_path_factory, sample_rows) -> PreTrainedTokenizerFast:
    """A character-level tokenizer over the sample corpus, with ChatML special tokens and template."""
    characters = sorted(
        {c for row in sample_rows for c in row["prompt"] + row["response"]} | set("systemuserassistant")
    )
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<unk>"]
    vocab = {token: i for i, token in enumerate(specials + characters)}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = CHATML
    folder = tmp_path_factory.mktemp("chatml")
    tokenizer.save_pretrained(str(folder))
    return PreTrainedTokenizerFast.from_pretrained(str(folder))


def test_loss_only_on_the_counsellors_reply(chatml_tokenizer):
    prompt, reply = render_prompt([("你好", "你好，请说。")], "我睡不着"), "多久了？"
    batch = encode_chat_template([prompt], [reply], chatml_tokenizer, system_prompt="你是心理咨询师。")
    ids, labels, start = batch["input_ids"][0], batch["labels"][0], batch["prompt_length"][0]
    expected_prompt = (
        "<|im_start|>system\n你是心理咨询师。<|im_end|>\n<|im_start|>user\n你好<|im_end|>\n"
        "<|im_start|>assistant\n你好，请说。<|im_end|>\n<|im_start|>user\n我睡不着<|im_end|>\n<|im_start|>assistant\n"
    )
    assert chatml_tokenizer.decode(ids[:start]) == expected_prompt
    assert labels[:start] == [IGNORE_INDEX] * start
    assert chatml_tokenizer.decode(labels[start:]) == "多久了？<|im_end|>\n"
    assert labels[start:] == ids[start:]


def test_chat_template_budgets_drop_oldest_rounds(chatml_tokenizer, sample_rows):
    long_rows = [r for r in sample_rows if r["turn"] >= 4][:10]
    batch = encode_chat_template(
        [r["prompt"] for r in long_rows],
        [r["response"] for r in long_rows],
        chatml_tokenizer,
        max_source_length=120,
        max_target_length=20,
    )
    for row, ids, start in zip(long_rows, batch["input_ids"], batch["prompt_length"], strict=True):
        assert start <= 120 and len(ids) - start <= 20
        text = chatml_tokenizer.decode(ids[:start])
        assert text.endswith("<|im_start|>assistant\n")
        latest = split_rounds(row["prompt"])[-1].removeprefix("用户：").removesuffix("\n心理咨询师：")
        assert latest[-10:] + "<|im_end|>\n<|im_start|>assistant\n" in text  # the current question's end is kept


def test_tiny_qwen2_trains_and_evaluates_by_generation(tmp_path: Path, chatml_tokenizer, eight_samples: Path):
    torch.manual_seed(0)
    model_dir = tmp_path / "base"
    config = Qwen2Config(
        vocab_size=len(chatml_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=chatml_tokenizer.eos_token_id,
        pad_token_id=chatml_tokenizer.pad_token_id,
    )
    Qwen2ForCausalLM(config).save_pretrained(str(model_dir))
    chatml_tokenizer.save_pretrained(str(model_dir))
    args = SoulChatSFTConfig(
        output_dir=str(tmp_path / "run"),
        model_name_or_path=str(model_dir),
        dataset_path=str(eight_samples),
        eval_split="train",
        max_eval_samples=4,
        max_source_length=96,
        max_target_length=24,
        use_cpu=True,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        learning_rate=1e-2,
        max_steps=15,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        generation_max_new_tokens=8,
        disable_tqdm=True,
    )
    result = run_training(args)
    curve = [e["loss"] for e in result.log_history if "loss" in e]
    assert len(curve) == 15 and curve[-1] < curve[0] - 1.0
    assert {"eval_loss", "eval_bleu-4", "eval_rouge-l"} <= set(result.metrics)
    samples = (tmp_path / "run" / "generated_samples-15.jsonl").read_text().splitlines()
    assert len(samples) == 2 and '"prediction"' in samples[0]
