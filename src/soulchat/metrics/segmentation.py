"""Word segmentation for ROUGE: jieba's accurate mode (HMM on, default dictionary), memoised per block.

jieba cuts a text into *blocks* with one regular expression (runs of Chinese characters, Latin letters, digits and
``+#&._%-``, and the rest) and segments each block on its own. The segmentation of a block therefore depends on that
block only, so it can be memoised: model outputs and counselling references repeat the same clauses again and again,
and the memo turns most of jieba's work (DAG search and HMM) into a dictionary lookup. The output is token for token
what ``list(jieba.cut(text))`` gives with the default dictionary.
"""

import logging
import warnings
from pathlib import Path

from huggingface_hub import constants

with warnings.catch_warnings():
    # jieba 0.42 imports pkg_resources, which setuptools deprecates loudly; nothing a user of soulchat can act on.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    import jieba

logger = logging.getLogger(__name__)

# jieba's own block patterns, so that a jieba upgrade that changes them is followed here.
_RE_HAN = jieba.re_han_default
_RE_SKIP = jieba.re_skip_default
# A bound on the memo: about 100 MB for the longest blocks seen in practice; cleared whole when full.
_BLOCK_CACHE_LIMIT = 200_000

_TOKENIZER: jieba.Tokenizer | None = None
_BLOCK_CACHE: dict[str, tuple[str, ...]] = {}


def jieba_cache_dir() -> Path:
    """The folder where jieba's prefix-dictionary cache is written: ``$HF_HOME/soulchat``.

    jieba would otherwise write a 9 MB ``jieba.cache`` into the system temporary folder.
    """
    return Path(constants.HF_HOME) / "soulchat"


def get_jieba_tokenizer() -> jieba.Tokenizer:
    """The private, initialised jieba tokenizer used for ROUGE (default dictionary).

    A private instance, not the global ``jieba.dt``, so that words a user adds to the global tokenizer
    (``jieba.add_word``) cannot change the scores: the convention is the *default* dictionary. The first call loads
    the dictionary (about 0.5 s, from the cache in [`jieba_cache_dir`]).

    Returns:
        `jieba.Tokenizer`: the tokenizer, initialised.
    """
    global _TOKENIZER
    if _TOKENIZER is None:
        tokenizer = jieba.Tokenizer()
        cache_dir = jieba_cache_dir()
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            tokenizer.tmp_dir = str(cache_dir)
        except OSError:  # a read-only home: fall back to jieba's default (the temporary folder)
            logger.debug("cannot create %s; jieba caches its dictionary in the temporary folder", cache_dir)
        # jieba announces every dictionary load at DEBUG on its own stderr handler; keep scoring quiet.
        level = jieba.default_logger.level
        jieba.setLogLevel(logging.WARNING)
        try:
            tokenizer.initialize()
        finally:
            jieba.setLogLevel(level)
        _TOKENIZER = tokenizer
    return _TOKENIZER


def _segment_block(block: str) -> tuple[str, ...]:
    words = _BLOCK_CACHE.get(block)
    if words is None:
        # `cut` on a text that is one block yields exactly jieba's segmentation of that block.
        words = tuple(get_jieba_tokenizer().cut(block, cut_all=False, HMM=True))
        if len(_BLOCK_CACHE) >= _BLOCK_CACHE_LIMIT:
            _BLOCK_CACHE.clear()
        _BLOCK_CACHE[block] = words
    return words


def segment(text: str) -> list[str]:
    """Segment a text into words exactly as ``list(jieba.cut(text))`` does with the default dictionary.

    Args:
        text (`str`):
            The text, used as is (no normalisation).

    Returns:
        `list[str]`: the words, whitespace and punctuation included; their concatenation is ``text``.

    Example:

    ```python
    >>> from soulchat.metrics.segmentation import segment
    >>> segment("我最近总觉得自己很焦虑")
    ['我', '最近', '总', '觉得', '自己', '很', '焦虑']
    ```
    """
    words: list[str] = []
    # The loop of `jieba.Tokenizer.cut` in accurate mode, with the per-block memo. Splitting on a pattern with one
    # group alternates non-matching and matching pieces, so odd positions are the blocks jieba segments.
    for index, block in enumerate(_RE_HAN.split(text)):
        if index % 2:
            words.extend(_segment_block(block))
        elif "\r\n" in block:
            # Outside blocks jieba yields every character alone, except that "\r\n" stays one token.
            for position, piece in enumerate(_RE_SKIP.split(block)):
                if position % 2:
                    words.append(piece)
                else:
                    words.extend(piece)
        else:
            words.extend(block)
    return words


def clear_segmentation_cache() -> None:
    """Forget the memoised block segmentations (for benchmarks, or after changing jieba's global state)."""
    _BLOCK_CACHE.clear()


__all__ = ["clear_segmentation_cache", "get_jieba_tokenizer", "jieba_cache_dir", "segment"]
