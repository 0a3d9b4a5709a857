"""Fixtures of the benchmark tests: the bundled corpus prepared with a test split, and two tiny random checkpoints.

- a ChatGLM-6B checkpoint with a SentencePiece tokenizer trained here (ChatGLM's options and special pieces);
- a Llama checkpoint with a byte-level BPE tokenizer trained here and a chat template set here.

Both models get larger-than-default random weights, so that greedy choices depend on the whole context (with the
default init a tiny model tends to repeat its last input token, which would hide padding or position errors).
"""

import json
from pathlib import Path

import pytest
import torch

from soulchat.data.bundled import sample_corpus_path
from soulchat.data.pipeline import PipelineOptions
from soulchat.data.prepare import prepare_corpus
from soulchat.evaluation import ReplyGenerator

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
_SPM_CONTROL = ["[MASK]", "[gMASK]", "[sMASK]", "<unused_0>", "<sop>", "<eop>", "<ENC>", "<dBLOCK>"]
_SPM_USER = ["<n>", "<|tab|>"] + [f"<|blank_{n}|>" for n in range(2, 81)]


class RecordingGenerator:
    """Wraps a [`ReplyGenerator`] and records every prompt it is asked for (to check what a resumed run generates)."""

    def __init__(self, inner: ReplyGenerator):
        self.inner = inner
        self.prompts: list[str] = []

    def generate(self, prompts: list[str]) -> list[str]:
        self.prompts.extend(prompts)
        return self.inner.generate(prompts)

    def settings(self) -> dict:
        return self.inner.settings()


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models gain nothing from a second thread, and lose much when the cores are busy (a shared machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def prepared_folder(tmp_path_factory) -> Path:
    """`soulchat prepare` of the bundled 60-dialogue corpus, with a test split of about a fifth."""
    folder = tmp_path_factory.mktemp("prepared") / "data"
    prepare_corpus([sample_corpus_path()], folder, options=PipelineOptions(test_fraction=0.2), progress=False)
    return folder


@pytest.fixture(scope="session")
def corpus_texts() -> list[str]:
    records = json.loads(sample_corpus_path().read_text(encoding="utf-8"))
    texts = []
    for record in records:
        texts.extend(str(value) for value in _strings(record))
    return texts


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _scale_weights(model: torch.nn.Module) -> None:
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 2:
                param.normal_(std=0.3 if "layers" in name else 1.0)


@pytest.fixture(scope="session")
def chatglm_checkpoint(tmp_path_factory, corpus_texts: list[str]) -> Path:
    """A saved tiny random ChatGLM-6B (2 layers, hidden 32) and its SentencePiece tokenizer."""
    import sentencepiece as spm

    from soulchat.models.chatglm import ChatGLMConfig, ChatGLMForConditionalGeneration, ChatGLMTokenizer

    folder = tmp_path_factory.mktemp("chatglm")
    scratch = tmp_path_factory.mktemp("spm")
    (scratch / "corpus.txt").write_text("\n".join(t.replace("\n", "<n>") for t in corpus_texts), encoding="utf-8")
    characters = {c for t in corpus_texts for c in t}
    spm.set_random_generator_seed(0)
    spm.SentencePieceTrainer.train(
        input=str(scratch / "corpus.txt"), model_prefix=str(scratch / "ice_text"), model_type="unigram",
        vocab_size=4 + len(_SPM_CONTROL) + len(_SPM_USER) + 256 + len(characters) + 100, hard_vocab_limit=False,
        byte_fallback=True, split_digits=True, normalization_rule_name="nmt_nfkc", unk_id=0, bos_id=1, eos_id=2,
        pad_id=3, control_symbols=_SPM_CONTROL, user_defined_symbols=_SPM_USER, character_coverage=1.0,
        num_threads=1, minloglevel=2,
    )  # fmt: skip
    tokenizer = ChatGLMTokenizer(vocab_file=str(scratch / "ice_text.model"), num_image_tokens=0)
    config = ChatGLMConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_layers=2, num_attention_heads=2, inner_hidden_size=64,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, mask_token_id=tokenizer.mask_token_id,
        gmask_token_id=tokenizer.gmask_token_id, pad_token_id=tokenizer.pad_token_id, use_cache=True,
        tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(0)
    model = ChatGLMForConditionalGeneration(config)
    _scale_weights(model)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def llama_checkpoint(tmp_path_factory, corpus_texts: list[str]) -> Path:
    """A saved tiny random Llama (2 layers, hidden 32) with a byte-level BPE tokenizer and a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("llama")
    special = ["<s>", "</s>", "<pad>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    backend.train_from_iterator(corpus_texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="<|end|>", pad_token="<pad>", chat_template=CHAT_TEMPLATE
    )
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=4096, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    _scale_weights(model)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder
