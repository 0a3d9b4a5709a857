"""Seeded random counselling-like Chinese texts for comparing soulchat's metrics with nltk and rouge_chinese.

The texts mix dictionary words, out-of-vocabulary character runs (jieba's HMM path), Latin words, digits,
punctuation that splits sentences for rouge_chinese (。！？? …… ...... and closing quotes), spaces, tabs, newlines and
ideographic spaces, plus some blank and empty texts.
"""

import random

_WORD_LIST = (
    "我 你 他 她 我们 觉得 最近 总是 有点 非常 焦虑 压力 失眠 难过 开心 工作 学习 考研 父母 孩子 朋友 同事 "
    "男朋友 女朋友 理解 感受 心情 情绪 抑郁 辛苦 抱抱 加油 陪着 倾诉 运动 睡眠 呼吸 放松 冥想 建议 "
    "可以 试着 每天 一下 时候 事情 问题 自己 一直 没有 不是 什么 怎么 为什么 真的 好的 嗯嗯 谢谢"
)
WORDS = tuple(_WORD_LIST.split(" "))
RARE_CHARS = "龘靐齉爩鱻麤猋骉羴"
LATIN = ("CBT", "OK", "app", "ok", "Take", "care", "12356", "2024", "3.5", "+1", "a-b", "100%")
PUNCTUATION = ("，", "。", "！", "？", "?", "、", "……", "......", "“", "”", "’", "：", "~", "😊")
SPACES = (" ", "  ", "\t", "\n", "\n\n", "\r\n", "\u3000")
BLANKS = ("", " ", "\n", "\t \u3000")


def random_text(rng: random.Random, max_pieces: int = 40) -> str:
    """One random text of up to ``max_pieces`` pieces; about 3% are empty or blank."""
    if rng.random() < 0.03:
        return rng.choice(BLANKS)
    pieces = []
    for _ in range(rng.randint(1, max_pieces)):
        roll = rng.random()
        if roll < 0.62:
            pieces.append(rng.choice(WORDS))
        elif roll < 0.67:
            pieces.append("".join(rng.choices(RARE_CHARS, k=rng.randint(1, 3))))
        elif roll < 0.74:
            pieces.append(rng.choice(LATIN))
        elif roll < 0.93:
            pieces.append(rng.choice(PUNCTUATION))
        else:
            pieces.append(rng.choice(SPACES))
    return "".join(pieces)


def random_pairs(seed: int, count: int, max_pieces: int = 40) -> tuple[list[str], list[str]]:
    """``count`` (prediction, reference) pairs; a quarter of the predictions are edits of their reference."""
    rng = random.Random(seed)
    predictions, references = [], []
    for _ in range(count):
        reference = random_text(rng, max_pieces)
        if rng.random() < 0.25 and reference:
            cut = rng.randint(0, len(reference))
            prediction = reference[:cut] + random_text(rng, 5) + reference[cut:]
        else:
            prediction = random_text(rng, max_pieces)
        predictions.append(prediction)
        references.append(reference)
    return predictions, references
