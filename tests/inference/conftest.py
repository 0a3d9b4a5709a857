"""Fixtures of the inference tests: a tiny random ChatGLM-6B checkpoint with a SentencePiece tokenizer trained on the
bundled sample corpus (the same builders as the training tests), saved once per session."""

import json
from pathlib import Path

import pytest
import torch

from soulchat.data.bundled import sample_corpus_path
from soulchat.models.chatglm import ChatGLMConfig, ChatGLMForConditionalGeneration
from soulchat.training.tokenizer_training import train_chatglm_tokenizer


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models gain nothing from a second thread, and lose much when the cores are busy (a shared machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def corpus_texts() -> list[str]:
    """Every user and counsellor message of the bundled sample corpus."""
    records = json.loads(sample_corpus_path().read_text(encoding="utf-8"))
    return [m["content"] for record in records for m in record["messages"]]


def tiny_chatglm(tokenizer, **overrides) -> ChatGLMForConditionalGeneration:
    """A 2-layer, 32-wide random ChatGLM-6B for `tokenizer`, with weights large enough that greedy choices depend
    on the whole context (the default init mostly repeats the last input token, hiding padding or position errors)."""
    values = dict(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_layers=2, num_attention_heads=2, inner_hidden_size=64,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        mask_token_id=tokenizer.mask_token_id, gmask_token_id=tokenizer.gmask_token_id,
        pad_token_id=tokenizer.pad_token_id, use_cache=True, tie_word_embeddings=False, max_sequence_length=2048,
    )  # fmt: skip
    values.update(overrides)
    torch.manual_seed(0)
    model = ChatGLMForConditionalGeneration(ChatGLMConfig(**values))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 2:
                param.normal_(std=0.3 if "layers" in name else 1.0)
    return model.eval()


def save_tiny_checkpoint(folder: Path) -> Path:
    """Saves a tiny random ChatGLM-6B checkpoint and its tokenizer (trained on the sample corpus) into `folder`."""
    tokenizer = train_chatglm_tokenizer(corpus_texts(), folder, vocab_size=2000)
    tiny_chatglm(tokenizer).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def chatglm_dir(tmp_path_factory) -> Path:
    """A saved tiny random ChatGLM-6B checkpoint and its trained tokenizer."""
    return save_tiny_checkpoint(tmp_path_factory.mktemp("chatglm"))


@pytest.fixture(scope="session")
def chat_model(chatglm_dir: Path):
    """The tiny checkpoint loaded for chat: `(model, tokenizer)`."""
    from soulchat.models.loading import load_model_for_generation

    return load_model_for_generation(chatglm_dir, device="cpu")


@pytest.fixture(scope="session")
def conversations() -> list[tuple[list[tuple[str, str]], str]]:
    """Six conversations of different lengths (so that batches are padded), taken from the sample corpus."""
    records = json.loads(sample_corpus_path().read_text(encoding="utf-8"))
    result = []
    for record, rounds in zip(records, (0, 1, 2, 0, 3, 1), strict=False):
        texts = [m["content"] for m in record["messages"]]
        history = list(zip(texts[: 2 * rounds : 2], texts[1 : 2 * rounds : 2], strict=True))
        result.append((history, texts[2 * rounds]))
    return result
