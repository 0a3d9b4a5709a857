"""Chinese BLEU-1..4 and ROUGE-1/2/L under the "chatglm" convention, as an `evaluate` metric module.

Load it offline with ``evaluate.load(soulchat.metrics.evaluate_module_path())``, or import
[`SoulchatBleuRouge`] from ``soulchat.metrics.soulchat_bleu_rouge``. The arithmetic lives in
[`soulchat.metrics.scoring`], shared with the trainer and the ``soulchat score`` command.
"""

# evaluate reads this file's imports to find its dependencies: one import per line.
import datasets
import evaluate

from soulchat.metrics.scoring import compute_scores

_CITATION = """\
@inproceedings{chen-etal-2023-soulchat,
    title = "{S}oul{C}hat: Improving {LLM}s' Empathy, Listening, and Comfort Abilities through Fine-tuning with Multi-turn Empathy Conversations",
    author = "Chen, Yirong and Xing, Xiaofen and Lin, Jingkai and Zheng, Huimin and Wang, Zhenyu and Liu, Qi and Xu, Xiangmin",
    booktitle = "Findings of the Association for Computational Linguistics: EMNLP 2023",
    year = "2023",
    pages = "1170--1183",
}
@inproceedings{papineni-etal-2002-bleu,
    title = "{B}leu: a Method for Automatic Evaluation of Machine Translation",
    author = "Papineni, Kishore and Roukos, Salim and Ward, Todd and Zhu, Wei-Jing",
    booktitle = "Proceedings of the 40th Annual Meeting of the Association for Computational Linguistics",
    year = "2002",
    pages = "311--318",
}
@inproceedings{lin-2004-rouge,
    title = "{ROUGE}: A Package for Automatic Evaluation of Summaries",
    author = "Lin, Chin-Yew",
    booktitle = "Text Summarization Branches Out",
    year = "2004",
    pages = "74--81",
}
@inproceedings{chen-cherry-2014-systematic,
    title = "A Systematic Comparison of Smoothing Techniques for Sentence-Level {BLEU}",
    author = "Chen, Boxing and Cherry, Colin",
    booktitle = "Proceedings of the Ninth Workshop on Statistical Machine Translation",
    year = "2014",
    pages = "362--367",
}
"""

_DESCRIPTION = """\
BLEU-1..4 and ROUGE-1/2/L for Chinese responses, computed exactly as in the SoulChat paper, ChatGLM-6B's p-tuning
script and LLaMA-Factory (the "chatglm" convention): BLEU on characters with nltk's method3 (NIST geometric)
smoothing, ROUGE F on jieba words with rouge_chinese's arithmetic, each per-sample score x 100 rounded to 4 decimals,
then the plain mean over samples. Texts are used as they are (no stripping, lower-casing or width folding).
Same numbers as the reference recipe (jieba + nltk + rouge_chinese), computed about 29x faster on 10,000 pairs (benchmarks/bench_metrics.py).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[str]`): the generated responses, one string each.
    references (`list[str]`): one reference response per prediction.
    empty (`str`, *optional*, defaults to `"zero"`): a pair whose prediction or reference is empty or whitespace-only
        (where rouge_chinese raises). `"zero"`: its ROUGE scores are 0, its BLEU is computed, and it counts in the
        mean (LLaMA-Factory). `"raise"`: raise `ValueError`, as the original script does. `"skip"`: drop the pair
        from every score.
    ngram_weights (`str`, *optional*, defaults to `"cumulative"`): `"cumulative"` BLEU-n (uniform weights over
        orders 1..n, the common convention) or `"individual"` (the n-gram order n alone). BLEU-1 is the same in both.
    num_proc (`int`, *optional*): number of processes; by default all available CPUs from 2,000 pairs on.
Returns:
    bleu-1 (`float`), bleu-2, bleu-3, bleu-4: macro-averaged character BLEU, in [0, 100].
    rouge-1 (`float`), rouge-2, rouge-l: macro-averaged ROUGE F on jieba words, in [0, 100) (an exact match
        scores 99.99999...); NaN when `empty="skip"` leaves no pair.
Examples:

    >>> import evaluate
    >>> from soulchat.metrics import evaluate_module_path
    >>> metric = evaluate.load(evaluate_module_path())
    >>> results = metric.compute(predictions=["我理解你的感受。"], references=["我能理解你的感受。"])
    >>> {key: round(value, 2) for key, value in results.items()}
    {'bleu-1': 88.25, 'bleu-2': 81.7, 'bleu-3': 78.89, 'bleu-4': 76.73, 'rouge-1': 83.33, 'rouge-2': 80.0, 'rouge-l': 83.33}

    An empty prediction counts as zero ROUGE by default, and can be skipped instead:

    >>> predictions = ["抱抱你，辛苦了！", " "]
    >>> references = ["抱抱你，你辛苦了。", "慢慢来，一切都会好起来的。"]
    >>> round(metric.compute(predictions=predictions, references=references)["rouge-1"], 2)
    41.67
    >>> round(metric.compute(predictions=predictions, references=references, empty="skip")["rouge-1"], 2)
    83.33
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SoulchatBleuRouge(evaluate.Metric):
    """Chinese BLEU-1..4 and ROUGE-1/2/L under the "chatglm" convention of the SoulChat paper."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            codebase_urls=[
                "https://github.com/THUDM/ChatGLM-6B/blob/main/ptuning/main.py",
                "https://github.com/Isaac-JL-Chen/rouge_chinese",
            ],
            reference_urls=["https://aclanthology.org/2023.findings-emnlp.83/"],
        )

    def _compute(
        self,
        predictions: list[str],
        references: list[str],
        empty: str = "zero",
        ngram_weights: str = "cumulative",
        num_proc: int | None = None,
    ) -> dict[str, float]:
        return compute_scores(predictions, references, empty=empty, ngram_weights=ngram_weights, num_proc=num_proc)


__all__ = ["SoulchatBleuRouge"]
