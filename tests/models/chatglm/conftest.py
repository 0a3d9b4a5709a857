"""Fixtures of the ChatGLM tests: the reference oracle (`../shared`), tiny random models and a tiny tokenizer."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from soulchat.models.chatglm import ChatGLMTokenizer


@pytest.fixture(scope="session")
def reference_dir(shared_dir: Path) -> Path:
    return shared_dir / "reference" / "chatglm6b"


@pytest.fixture(scope="session")
def small_cases(reference_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(reference_dir / "small" / "cases.safetensors")


@pytest.fixture(scope="session")
def full_cases(reference_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(reference_dir / "full" / "cases.safetensors")


@pytest.fixture(scope="session")
def ice_tokenizer(reference_dir: Path) -> ChatGLMTokenizer:
    """The real `ice_text.model` with the final tokenizer configuration (num_image_tokens=0)."""
    return ChatGLMTokenizer(vocab_file=str(reference_dir / "tokenizer" / "ice_text.model"), num_image_tokens=0)


_CORPUS_WORDS = [
    "你好",
    "世界",
    "今天",
    "天气",
    "怎么样",
    "我",
    "最近",
    "总",
    "觉得",
    "自己",
    "很",
    "焦虑",
    "心理",
    "咨询",
    "帮助",
    "谢谢",
    "hello",
    "world",
    "how",
    "are",
    "you",
    "today",
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "counselling",
    "empathy",
]


@pytest.fixture(scope="session")
def tiny_sp_model(tmp_path_factory) -> Path:
    """A small SentencePiece unigram model trained offline with ChatGLM's options and special pieces.

    Ids: 0 <unk>, 1 <s>, 2 </s>, 3 <pad>, 4 <n>, then [MASK] [gMASK] [sMASK] <unused_0> <sop> <eop> <ENC> <dBLOCK>
    (control), <|tab|> and <|blank_2|>..<|blank_80|> (user defined), then learned pieces and byte fallbacks.
    """
    import random

    import sentencepiece as spm

    folder = tmp_path_factory.mktemp("spm")
    rng = random.Random(0)
    lines = [" ".join(rng.choice(_CORPUS_WORDS) for _ in range(rng.randint(3, 12))) for _ in range(400)]
    lines += ["数字123456和English混合ABCdef", "全角字符：ＡＢＣ１２３，半角: ABC123,"]
    (folder / "corpus.txt").write_text("\n".join(lines), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(folder / "corpus.txt"),
        model_prefix=str(folder / "ice_text"),
        model_type="unigram",
        vocab_size=600,
        hard_vocab_limit=False,
        byte_fallback=True,
        split_digits=True,
        normalization_rule_name="nmt_nfkc",
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=3,
        control_symbols=["[MASK]", "[gMASK]", "[sMASK]", "<unused_0>", "<sop>", "<eop>", "<ENC>", "<dBLOCK>"],
        user_defined_symbols=["<n>", "<|tab|>"] + [f"<|blank_{n}|>" for n in range(2, 81)],
        character_coverage=1.0,
        minloglevel=2,
    )
    return folder / "ice_text.model"


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_sp_model: Path) -> ChatGLMTokenizer:
    return ChatGLMTokenizer(vocab_file=str(tiny_sp_model), num_image_tokens=0)
