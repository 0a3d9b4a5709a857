import random

import numpy as np
import pytest

from soulchat.construction.dedup import NearDuplicateIndex, shingle_hashes


def random_dialogue(seed: int, n: int = 12) -> list[str]:
    rng = random.Random(seed)
    return ["".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(40)) for _ in range(n)]


def test_shingle_hashes_are_deterministic_and_count_the_ngrams():
    h = shingle_hashes(["你好世界啊呀", "再见"], 5)
    assert h.dtype == np.uint32 and len(h) == len("你好世界啊呀\n再见") - 5 + 1
    assert np.array_equal(h, shingle_hashes(["你好世界啊呀", "再见"], 5))
    assert len(shingle_hashes(["短"], 5)) == 1 and len(shingle_hashes([""], 5)) == 1
    # Different n-grams hash differently (no collision among these 8).
    assert len(set(shingle_hashes(["一二三四五六七八九十百千"], 5).tolist())) == 8


def test_near_duplicates_are_found_and_distinct_dialogues_are_not():
    index = NearDuplicateIndex(threshold=0.8)
    originals = [random_dialogue(i) for i in range(50)]
    for i, d in enumerate(originals):
        assert index.check_and_add(f"d{i}", d) is None
    assert len(index) == 50
    edited = list(originals[17])
    edited[3] = edited[3][:-4] + "改了几字"  # a few characters differ
    assert index.check_and_add("copy", edited) == "d17"
    assert index.check_and_add("again", originals[17]) == "d17"
    assert len(index) == 50  # duplicates are not remembered
    assert index.check_and_add("new", random_dialogue(999)) is None


def test_half_overlapping_dialogues_are_below_the_threshold():
    index = NearDuplicateIndex(threshold=0.8)
    a, b = random_dialogue(1), random_dialogue(2)
    index.add("a", a)
    assert index.query(a[:6] + b[6:]) is None
    assert NearDuplicateIndex(threshold=0.3).check_and_add("x", a) is None


def test_invalid_settings():
    with pytest.raises(ValueError):
        NearDuplicateIndex(threshold=0.0)
    with pytest.raises(ValueError):
        NearDuplicateIndex(shingle_chars=0)
