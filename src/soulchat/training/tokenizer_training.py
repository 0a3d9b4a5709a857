"""A small ChatGLM-6B-style SentencePiece tokenizer trained on a corpus, for tiny models (demo, tests, CPU runs)."""

import tempfile
from collections.abc import Iterable
from pathlib import Path

from soulchat.models.chatglm import ChatGLMTokenizer

# ChatGLM-6B's piece layout (see the spec, section (d)): the first ids, the control pieces, the whitespace pieces.
_CONTROL_SYMBOLS = ["[MASK]", "[gMASK]", "[sMASK]", "<unused_0>", "<sop>", "<eop>", "<ENC>", "<dBLOCK>"]
_USER_SYMBOLS = ["<n>", "<|tab|>"] + [f"<|blank_{n}|>" for n in range(2, 81)]


def train_chatglm_tokenizer(
    texts: Iterable[str], output_dir: str | Path, *, vocab_size: int = 2000, seed: int = 0
) -> ChatGLMTokenizer:
    """Trains a SentencePiece unigram model with ChatGLM-6B's options and special pieces, and saves the tokenizer.

    The options are those of `ice_text.model` (`byte_fallback`, `split_digits`, `nmt_nfkc`, ids 0-3 for
    `<unk> <s> </s> <pad>`, control pieces `[MASK] [gMASK] ... <sop> <eop>`, user-defined `<n> <|tab|> <|blank_n|>`);
    `vocab_size` is a soft limit: the corpus may support fewer pieces, and it is raised to hold every character of
    the corpus plus the special and byte pieces (Chinese text needs a piece per character). Newlines are turned into `<n>` first, as the
    tokenizer does before SentencePiece.

    Args:
        texts (`Iterable[str]`):
            The training texts (prompts and responses).
        output_dir (`str` or `Path`):
            Where the tokenizer is saved (`ice_text.model`, `tokenizer_config.json`, ...).
        vocab_size (`int`, *optional*, defaults to 2000):
            The wished number of pieces.
        seed (`int`, *optional*, defaults to 0):
            SentencePiece's random seed (training is deterministic for a given seed and corpus).

    Returns:
        [`ChatGLMTokenizer`]: the trained tokenizer, loaded from `output_dir` (`num_image_tokens=0`).
    """
    import sentencepiece as spm

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "corpus.txt"
        characters: set[str] = set()
        with corpus.open("w", encoding="utf-8") as handle:
            for text in texts:
                line = text.replace("\n", "<n>")
                characters.update(line)
                handle.write(line + "\n")
        # SentencePiece also requires its whitespace symbol U+2581 as a character piece.
        characters.add("\u2581")
        # 4 leading pieces, the control and user-defined ones, 256 byte pieces, then at least one per character.
        minimum = 4 + len(_CONTROL_SYMBOLS) + len(_USER_SYMBOLS) + 256 + len(characters)
        vocab_size = max(vocab_size, minimum)
        spm.set_random_generator_seed(seed)
        spm.SentencePieceTrainer.train(
            input=str(corpus),
            model_prefix=str(Path(scratch) / "ice_text"),
            model_type="unigram",
            vocab_size=vocab_size,
            hard_vocab_limit=False,
            byte_fallback=True,
            split_digits=True,
            normalization_rule_name="nmt_nfkc",
            unk_id=0,
            bos_id=1,
            eos_id=2,
            pad_id=3,
            control_symbols=_CONTROL_SYMBOLS,
            user_defined_symbols=_USER_SYMBOLS,
            character_coverage=1.0,
            num_threads=1,
            minloglevel=2,
        )
        tokenizer = ChatGLMTokenizer(vocab_file=str(Path(scratch) / "ice_text.model"), num_image_tokens=0)
        tokenizer.save_pretrained(str(output_dir))
    return ChatGLMTokenizer.from_pretrained(str(output_dir))


__all__ = ["train_chatglm_tokenizer"]
