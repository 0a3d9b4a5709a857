"""ROUGE and segmentation: the re-implementation against rouge_chinese and jieba, float for float."""

import random

import jieba
import pytest
from rouge_chinese import Rouge

from soulchat.metrics import segmentation
from soulchat.metrics.rouge import lcs_length, rouge_f_scores, rouge_words, split_sentences
from soulchat.metrics.segmentation import clear_segmentation_cache, segment
from tests.metrics.generated import random_pairs, random_text


def rouge_chinese_f(prediction: str, reference: str) -> tuple[float, float, float] | None:
    """The reference recipe: F values of rouge_chinese on space-joined jieba words; None where it raises."""
    try:
        scores = Rouge().get_scores(" ".join(jieba.cut(prediction)), " ".join(jieba.cut(reference)))[0]
    except ValueError:
        return None
    return scores["rouge-1"]["f"], scores["rouge-2"]["f"], scores["rouge-l"]["f"]


def dp_lcs(first: list, second: list) -> int:
    previous = [0] * (len(second) + 1)
    for x in first:
        current = [0]
        for j, y in enumerate(second):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def test_segment_equals_jieba_cut():
    rng = random.Random(5)
    texts = [random_text(rng) for _ in range(300)] + ["", "   ", "我最近总觉得自己很焦虑", "a\r\nb\u3000c"]
    clear_segmentation_cache()
    for _ in range(2):  # the second pass is served from the block memo
        for text in texts:
            assert segment(text) == list(jieba.cut(text))
    assert segment("我最近总觉得自己很焦虑") == ["我", "最近", "总", "觉得", "自己", "很", "焦虑"]


def test_segmentation_memo_is_bounded(monkeypatch):
    monkeypatch.setattr(segmentation, "_BLOCK_CACHE_LIMIT", 3)
    clear_segmentation_cache()
    texts = ["我很焦虑，压力很大。", "最近总是失眠，怎么办？", "谢谢你陪着我！"]
    for text in texts * 2:
        assert segment(text) == list(jieba.cut(text))
        assert len(segmentation._BLOCK_CACHE) <= 3
    clear_segmentation_cache()
    assert not segmentation._BLOCK_CACHE


def test_split_sentences_equals_rouge_chinese_cut_sent():
    rng = random.Random(6)
    texts = [" ".join(jieba.cut(random_text(rng))) for _ in range(300)]
    texts += ["他说：“我很累。”然后就走了。", "嗯......我明白......", "好。 ？ 吗", "。。好", "", "  \n"]
    for text in texts:
        assert split_sentences(text) == Rouge().cut_sent(text)


def test_lcs_length_equals_dynamic_programming():
    rng = random.Random(7)
    for _ in range(300):
        first = rng.choices("abcde", k=rng.randint(0, 70))
        second = rng.choices("abcdef", k=rng.randint(0, 70))
        assert lcs_length(first, second) == dp_lcs(first, second)
    assert lcs_length(list("ABCBDAB"), list("BDCABA")) == 4


def test_rouge_equals_rouge_chinese_on_generated_pairs():
    predictions, references = random_pairs(seed=13, count=300)
    raised = 0
    for prediction, reference in zip(predictions, references, strict=True):
        expected = rouge_chinese_f(prediction, reference)
        prediction_words, reference_words = rouge_words(prediction), rouge_words(reference)
        if expected is None:
            raised += 1
            assert prediction_words is None or reference_words is None
        else:
            assert rouge_f_scores(prediction_words, reference_words) == expected
    assert raised > 0  # the generated pairs do exercise the empty sides


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", None),
        (" \t\u3000\n", None),
        ("你好。\n\n我在", ["你好", "。", "", "", "我", "在"]),  # each blank piece left by the cut is one empty word
        ("真的吗?真的吗？", ["真的", "吗", "?", "真的", "吗", "？"]),
    ],
)
def test_rouge_words(text, words):
    assert rouge_words(text) == words


def test_rouge_f_scores_quirks():
    # A repeated word counts once (set semantics), and an exact match scores 1 - 5e-9, not 1.
    assert rouge_f_scores(["好", "好", "好"], ["好"])[0] == 2.0 * (1.0 / (2.0 + 1e-8))
    assert rouge_f_scores(["好", "的"], ["好", "的"]) == (2.0 * (1.0 / (2.0 + 1e-8)),) * 3
    # A one-word prediction has no bigram: its ROUGE-2 precision is 0 by rouge_chinese's convention.
    assert rouge_f_scores(["好"], ["好"])[1] == 0.0
