"""Near-duplicate detection across the constructed corpus with MinHash LSH (`datasketch`).

A dialogue is reduced to the set of character n-grams of its utterances joined by newlines (n = 5 by default,
which suits Chinese text without a word segmenter); two dialogues whose estimated Jaccard similarity reaches the
threshold are near-duplicates, and the later one is rejected. The permutations are drawn once per index and shared
by every MinHash, and shingles are hashed with numpy in one batch, so that a dialogue costs well under a
millisecond. The index keeps `num_perm` 4-byte hash values a dialogue (512 bytes at 128) plus the LSH buckets.
"""

from collections.abc import Iterable

import numpy as np
from datasketch import MinHash, MinHashLSH

_SCHEME = "affine32"


_BASE = np.uint64(0x100000001B3)  # the FNV-64 prime, as the base of the polynomial n-gram hash


def shingle_hashes(texts: Iterable[str], n: int) -> np.ndarray:
    """32-bit hashes of the character `n`-grams of the texts, joined by newlines, computed with numpy.

    Each n-gram's code points are combined by a polynomial hash modulo 2**64 and mixed with the SplitMix64
    finaliser; the low 32 bits are kept. A text shorter than `n` characters is one shingle. The result does not
    depend on the process (unlike Python's `hash`), so a resumed run finds the same near-duplicates.
    """
    text = "\n".join(texts)
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    width = min(n, len(codes))
    if width == 0:
        return np.zeros(1, dtype=np.uint32)
    count = len(codes) - width + 1
    h = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(width):
            h = h * _BASE + codes[j : j + count]
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return (h & np.uint64(0xFFFFFFFF)).astype(np.uint32)


class NearDuplicateIndex:
    """Remembers the dialogues kept so far and finds a near-duplicate of a new one.

    Args:
        threshold (`float`, *optional*, defaults to 0.8):
            The estimated Jaccard similarity from which two dialogues are near-duplicates.
        num_perm (`int`, *optional*, defaults to 128):
            MinHash permutations; more is more precise and slower.
        shingle_chars (`int`, *optional*, defaults to 5):
            The length of the character n-grams.

    Example:

    ```python
    >>> index = NearDuplicateIndex()
    >>> index.add("a", ["我最近总是睡不着，心里很烦。", "能和我说说是什么让你心烦吗？"])
    >>> index.query(["我最近总是睡不着，心里很烦。", "能和我说说是什么让你心烦吗？"])
    'a'

    ```
    """

    def __init__(self, *, threshold: float = 0.8, num_perm: int = 128, shingle_chars: int = 5):
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if shingle_chars < 1:
            raise ValueError(f"shingle_chars must be positive, got {shingle_chars}")
        self.num_perm = num_perm
        self.shingle_chars = shingle_chars
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._permutations = MinHash(num_perm=num_perm, scheme=_SCHEME).permutations
        # Only the hash values are kept (num_perm 4-byte integers a dialogue), not the MinHash objects.
        self._sketches: dict[str, np.ndarray] = {}
        self.threshold = threshold

    def __len__(self) -> int:
        return len(self._sketches)

    def sketch(self, texts: Iterable[str]) -> MinHash:
        """The MinHash of the shingles of `texts`."""
        m = MinHash(num_perm=self.num_perm, permutations=self._permutations, scheme=_SCHEME, hashfunc=int)
        # The shingles are already hashed (vectorised); `int` passes each hash through to datasketch.
        m.update_batch(shingle_hashes(texts, self.shingle_chars).tolist())
        return m

    def query(self, texts: Iterable[str], *, sketch: MinHash | None = None) -> str | None:
        """The key of a kept dialogue that `texts` nearly duplicates (the most similar one), or `None`."""
        sketch = sketch if sketch is not None else self.sketch(texts)
        best, best_score = None, -1.0
        for key in self._lsh.query(sketch):
            # LSH candidates can fall just short of the threshold; confirm with the estimated similarity.
            score = float(np.count_nonzero(sketch.hashvalues == self._sketches[key])) / self.num_perm
            if score >= self.threshold and score > best_score:
                best, best_score = key, score
        return best

    def add(self, key: str, texts: Iterable[str], *, sketch: MinHash | None = None) -> None:
        """Remember a kept dialogue under `key` (a key already present is ignored)."""
        if key in self._sketches:
            return
        sketch = sketch if sketch is not None else self.sketch(texts)
        self._lsh.insert(key, sketch, check_duplication=False)
        self._sketches[key] = sketch.hashvalues

    def check_and_add(self, key: str, texts: list[str]) -> str | None:
        """The key of a near-duplicate of `texts`, or `None` after remembering them under `key`."""
        sketch = self.sketch(texts)
        duplicate = self.query(texts, sketch=sketch)
        if duplicate is None:
            self.add(key, texts, sketch=sketch)
        return duplicate


__all__ = ["NearDuplicateIndex", "shingle_hashes"]
