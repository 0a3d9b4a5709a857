"""The cells of the example notebooks, as `(kind, source)` pairs; `make_notebooks.py` writes them as `.ipynb` files."""

SETUP = """
import logging
import tempfile
from pathlib import Path

import soulchat  # registers ChatGLM with the Auto classes and the `soulchat` dataset builder

logging.basicConfig(level=logging.WARNING)
# Everything this notebook writes goes under one temporary folder.
WORK = Path(tempfile.mkdtemp(prefix="soulchat-{name}-"))
# The shipped example configs, whether the notebook runs from examples/ (Jupyter's default) or the repository root.
CONFIGS = Path("configs") if Path("configs").is_dir() else Path("examples/configs")
print("soulchat", soulchat.__version__, "| working folder:", WORK)
"""

QUICKSTART = [
    (
        "md",
        """
# SoulChat quick start: prepare, train, evaluate, chat

The whole SoulChat pipeline on a laptop CPU in about a minute, on the embedded defaults: the bundled sample corpus
(60 dialogues written for this project, 5 per topic) and a tiny ChatGLM (2 layers, hidden 64) with a tokenizer
trained on the corpus. The steps and the code are the ones used for ChatGLM-6B on the full SoulChatCorpus
(`02_reproduce_paper.ipynb`); only the sizes change.

A model of 0.23 M parameters trained for a few dozen steps does not counsel anyone: its replies are fragments of
counselling phrases. The point is the pipeline.
""",
    ),
    ("code", SETUP.replace("{name}", "quickstart")),
    (
        "md",
        """
## 1. Prepare the corpus

`prepare_corpus` (the `soulchat prepare` command) reads, validates and cleans the dialogues and writes one sample per
counsellor turn: the prompt is the earlier rounds as `用户：…\\n心理咨询师：…` joined by `\\n`, ending with
`用户：<latest>\\n心理咨询师：`; the target is that reply. A tenth of the dialogues go to a test split.
""",
    ),
    (
        "code",
        """
from datasets import load_dataset

from soulchat.data.bundled import sample_corpus_path
from soulchat.data.pipeline import PipelineOptions
from soulchat.data.prepare import prepare_corpus

report = prepare_corpus(
    [sample_corpus_path()], WORK / "data", options=PipelineOptions(test_fraction=0.1), progress=False
)
print({key: report[key] for key in ("records_read", "accepted", "repaired", "rejected", "dialogues", "samples")})
samples = load_dataset(str(WORK / "data"), "samples")
sample = samples["train"][1]
print(sample["prompt"], "→", sample["response"], sep="\\n")
assert sample["prompt"].endswith("心理咨询师：")
""",
    ),
    (
        "md",
        """
## 2. Train a tiny ChatGLM

`examples/configs/tiny.yaml` with a few overrides, exactly as `soulchat train configs/tiny.yaml --max_steps 40 ...`
would take them. The YAML trains through DeepSpeed ZeRO-2 (as `make demo` does); here `--deepspeed ""` switches
it off so the notebook runs in its own process without a distributed set-up.
""",
    ),
    (
        "code",
        """
from soulchat.training import load_sft_config, run_training

overrides = {
    "dataset_path": WORK / "data",
    "output_dir": WORK / "model",
    "max_steps": 40,
    "warmup_steps": 4,
    "logging_steps": 10,
    "deepspeed": "",
    "eval_split": "",
    "save_strategy": "no",
    "disable_tqdm": True,
}
config = load_sft_config(CONFIGS / "tiny.yaml", [item for k, v in overrides.items() for item in (f"--{k}", str(v))])
result = run_training(config)
losses = [entry["loss"] for entry in result.log_history if "loss" in entry]
print("loss every 10 steps:", [round(loss, 3) for loss in losses])
assert losses[-1] < losses[0]
""",
    ),
    (
        "md",
        """
## 3. Evaluate

`run_evaluation` (the `soulchat evaluate` command) draws the test set reproducibly, generates the replies with the
paper's decoding (top-p 0.75, temperature 0.95) and scores them with BLEU-1..4 and ROUGE-1/2/L in the layout of the
paper's Table 1. The paper used 10,000 test samples; here 8.
""",
    ),
    (
        "code",
        """
from IPython.display import Markdown, display

from soulchat.evaluation import EvaluationConfig, run_evaluation

evaluation = run_evaluation(
    EvaluationConfig(
        model=str(WORK / "model"),
        data=str(WORK / "data"),
        output=str(WORK / "evaluation"),
        num_samples=8,
        max_new_tokens=32,
        progress=False,
    )
)
display(Markdown((WORK / "evaluation" / "table.md").read_text(encoding="utf-8")))
assert evaluation["num_samples"] == 8 and set(evaluation["scores"]) >= {"bleu-1", "rouge-l"}
""",
    ),
    (
        "md",
        """
## 4. Chat

The trained folder loads with the plain Auto classes once `soulchat` is imported. The model was trained on
SoulChat prompts, so each turn renders the conversation so far with `render_prompt` (`用户：…\n心理咨询师：…` rounds,
ending with `心理咨询师：`) and hands it to ChatGLM's `chat` with an empty history, as the SoulChat release does
(`chat`'s own history would build ChatGLM-6B's `[Round N]\n问：…\n答：` prompt instead).
""",
    ),
    (
        "code",
        """
import torch
from transformers import AutoModel, AutoTokenizer

from soulchat.data import render_prompt

tokenizer = AutoTokenizer.from_pretrained(str(WORK / "model"))
model = AutoModel.from_pretrained(str(WORK / "model")).eval()
torch.manual_seed(0)
history = []  # (user, counsellor) rounds
for query in ["我最近总是睡不着，怎么办？", "谢谢你，我会试试的。"]:
    prompt = render_prompt(history, query)
    reply, _ = model.chat(tokenizer, prompt, history=[], max_length=256, top_p=0.75, temperature=0.95)
    history.append((query, reply))
    print("用户：", query, "\\n心理咨询师：", reply, sep="")
assert len(history) == 2
""",
    ),
    (
        "md",
        """
## Next

- The same steps from the command line: `soulchat prepare`, `soulchat train`, `soulchat evaluate`, then
  `soulchat chat --model DIR` (see the README).
- `02_reproduce_paper.ipynb`: the full recipe (ChatGLM-6B, SoulChatCorpus, 8 GPUs).
- `03_metrics.ipynb`: the metric convention, compared with sacrebleu and rouge-score.
- `04_build_your_corpus.ipynb`: build a multi-turn corpus from single-turn QA with an LLM endpoint.
""",
    ),
]

REPRODUCE = [
    (
        "md",
        """
# Reproducing SoulChat: ChatGLM-6B on SoulChatCorpus with 8 GPUs

The paper's recipe: full fine-tuning of ChatGLM-6B on SoulChatCorpus (258,354 multi-turn dialogues), global batch
80, 30,000 steps, DeepSpeed ZeRO-2 with WarmupDecayLR (1,000 warm-up steps up to a learning rate of 5e-5), at most
1536 source and 512 target tokens, fp16, 8 GPUs (about 79 hours); then replies generated for 10,000 test samples
with top-p 0.75 and temperature 0.95, scored with character BLEU and jieba ROUGE.

The cells that need the real corpus, the base model or GPUs are guarded: without them they say what they would do
and print the command. Set the paths in the next cell, and `RUN_TRAINING = True` only when you mean to start a run
of several days.
""",
    ),
    ("code", SETUP.replace("{name}", "reproduce")),
    (
        "code",
        """
import torch

CORPUS = Path("SoulChatCorpus-sft-multi-Turn.json")  # the released corpus file (a JSON array)
BASE_MODEL = "THUDM/chatglm-6b"  # a Hub id or a local folder with the original checkpoint
DATA = WORK / "soulchat"  # the prepared dataset folder
OUTPUT = WORK / "soulchat-chatglm6b"  # the training run
RUN_TRAINING = False  # about 79 hours on 8 GPUs

gpus = torch.cuda.device_count()
print(f"corpus present: {CORPUS.is_file()}; GPUs: {gpus}")
""",
    ),
    (
        "md",
        """
## The configuration

`examples/configs/paper_chatglm6b.yaml` holds the recipe; every field is a Hugging Face training argument or one of
soulchat's model and data options, and any of them can be overridden on the command line.
""",
    ),
    (
        "code",
        """
from soulchat.training import load_sft_config

paper_yaml = CONFIGS / "paper_chatglm6b.yaml"
print(paper_yaml.read_text(encoding="utf-8"))
config = load_sft_config(paper_yaml)
global_batch = config.per_device_train_batch_size * 8 * config.gradient_accumulation_steps
print(f"global batch on 8 GPUs: {global_batch}; DeepSpeed ZeRO stage {config.deepspeed['zero_optimization']['stage']}")
assert global_batch == 80 and config.max_steps == 30000 and config.learning_rate == 5e-5
""",
    ),
    (
        "md",
        """
## 1. Prepare SoulChatCorpus

One sample per counsellor turn, a 1% test split. The corpus is streamed, never loaded whole (about 40 s and under
1 GB of memory for the full release).
""",
    ),
    (
        "code",
        """
from soulchat.data.pipeline import PipelineOptions
from soulchat.data.prepare import prepare_corpus

if CORPUS.is_file():
    report = prepare_corpus([CORPUS], DATA, options=PipelineOptions(test_fraction=0.01))
    print({key: report[key] for key in ("records_read", "accepted", "repaired", "rejected", "samples")})
else:
    print(f"{CORPUS} not found: this cell would run")
    print(f"  soulchat prepare {CORPUS} --output {DATA} --test-fraction 0.01")
""",
    ),
    (
        "md",
        """
## 2. Train on 8 GPUs

The same `soulchat train` command under a launcher. On two nodes of 8 GPUs, halve the per-device batch to keep the
global batch at 80.
""",
    ),
    (
        "code",
        """
import shutil
import subprocess

train = f"$(which soulchat) train {paper_yaml} --model_name_or_path {BASE_MODEL} --dataset_path {DATA} --output_dir {OUTPUT}"
commands = {
    "one node, 8 GPUs (the paper)": f"deepspeed --num_gpus 8 --no_local_rank {train}",
    "two nodes, 8 GPUs each (run on every node)": (
        "torchrun --nnodes 2 --nproc_per_node 8 --node_rank $NODE_RANK --master_addr $MASTER_ADDR "
        f"--master_port 29500 {train} --per_device_train_batch_size 5"
    ),
}
for title, command in commands.items():
    print(f"# {title}\\n{command}\\n")

ready = RUN_TRAINING and gpus >= 8 and DATA.is_dir() and shutil.which("deepspeed") is not None
if ready:
    subprocess.run(commands["one node, 8 GPUs (the paper)"], shell=True, check=True)
else:
    print(f"not started (RUN_TRAINING={RUN_TRAINING}, GPUs {gpus}/8, prepared data: {DATA.is_dir()})")
""",
    ),
    (
        "md",
        """
## 3. Evaluate on 10,000 test samples

Generation with the paper's decoding, resumable (an interrupted run continues where it stopped), written as
`predictions.jsonl`, `metrics.json` and `table.md`.
""",
    ),
    (
        "code",
        """
from soulchat.evaluation import EvaluationConfig, run_evaluation

evaluation_config = EvaluationConfig(
    model=str(OUTPUT),
    data=str(DATA),
    output=str(WORK / "evaluation"),
    num_samples=10000,
    seed=42,
    top_p=0.75,
    temperature=0.95,
    dtype="float16",
)
if (OUTPUT / "config.json").is_file() and gpus >= 1:
    run_evaluation(evaluation_config)
    print((WORK / "evaluation" / "table.md").read_text(encoding="utf-8"))
else:
    print("no trained model here: this cell would run")
    print(
        f"  soulchat evaluate --model {OUTPUT} --data {DATA} --output {WORK / 'evaluation'} "
        "--num-samples 10000 --seed 42 --top-p 0.75 --temperature 0.95"
    )
""",
    ),
    (
        "md",
        """
## 4. What to expect: the paper's Table 1

Table 1 of Chen et al. (2023) reports B-1, B-2, B-3, B-4, R-1, R-2 and R-L (×100, macro mean over 10,000 test
samples) for ChatGLM-6B, ChatGPT, MeChat and SoulChat. **The figures are not copied into this repository**, so
this notebook does not state them: compare your `table.md` with Table 1 of the paper itself. The scores are
computed under the paper's convention (`03_metrics.ipynb`), so they are comparable with it, and sampling makes
them vary a little from run to run.

What the repository does state is a check of the metric itself: on the project's 1,000 public reference pairs
the metric gives B-1 38.11, B-2 33.25, B-3 30.85, B-4 29.30, R-1 52.61, R-2 40.30, R-L 47.35, identical to the
reference recipe (the evaluate module's card). The empty table below has the layout your run fills in.
""",
    ),
    (
        "code",
        """
from IPython.display import Markdown, display

from soulchat.metrics import TABLE_COLUMNS

header = "| Model | " + " | ".join(TABLE_COLUMNS.values()) + " |"
rows = [f"| {name} | " + " | ".join("see paper" for _ in TABLE_COLUMNS) + " |" for name in ("ChatGLM-6B", "SoulChat")]
display(Markdown("\\n".join([header, "|---" * (len(TABLE_COLUMNS) + 1) + "|", *rows])))
""",
    ),
]

METRICS = [
    (
        "md",
        """
# The metrics: SoulChat's BLEU/ROUGE convention against sacrebleu and rouge-score

The paper's Table 1 (and most Chinese fine-tuning reports built on ChatGLM-6B's p-tuning script) score each pair
with BLEU-1..4 on characters (nltk's method-3 smoothing) and ROUGE-1/2/L F on jieba words (rouge_chinese), ×100,
then average over pairs. soulchat ships that convention as an `evaluate` module that loads offline. Other tools
compute other numbers on the same pairs; this notebook shows how far apart they are, and why.
""",
    ),
    ("code", SETUP.replace("{name}", "metrics")),
    (
        "code",
        """
REFERENCES = [
    "我能理解你的感受，失眠真的很折磨人。你愿意说说最近发生了什么吗？",
    "抱抱你，你已经很努力了。考试的结果并不能决定你的价值。",
    "听起来你和妈妈之间有很多误会。你们平时会坦诚地聊天吗？",
    "分手之后难过是很正常的，给自己一些时间慢慢来。",
    "工作压力大的时候，可以试着每天留出30分钟做自己喜欢的事。",
    "你说你每天只睡4个小时，这样身体会吃不消的。",
]
PREDICTIONS = [
    "我理解你的感受，失眠真的很难受。最近发生了什么事情吗？",
    "抱抱你，你已经很努力了，结果并不代表你的全部。",
    "你和妈妈之间可能有一些误会，可以试着和她聊一聊。",
    "难过是很正常的，难过是很正常的，慢慢来。",
    "压力大的时候，每天留出30分钟放松一下会有帮助。",
    "每天只睡4个小时太少了，要注意休息。",
]
""",
    ),
    (
        "md",
        """
## The convention, through `evaluate`

`evaluate.load(soulchat.metrics.evaluate_module_path())` loads the module from inside the installed package;
nothing is downloaded. The same implementation backs `soulchat score` and the trainer's `compute_metrics`.
""",
    ),
    (
        "code",
        """
import evaluate

from soulchat.metrics import evaluate_module_path, score_pairs

metric = evaluate.load(evaluate_module_path())
ours = metric.compute(predictions=PREDICTIONS, references=REFERENCES)
individual = metric.compute(predictions=PREDICTIONS, references=REFERENCES, ngram_weights="individual")
print({key: round(value, 2) for key, value in ours.items()})
print("individual n-gram BLEU:", {key: round(individual[key], 2) for key in ("bleu-1", "bleu-2", "bleu-3", "bleu-4")})
per_pair = score_pairs(PREDICTIONS, REFERENCES)  # un-rounded, in [0, 1]
print("per-pair BLEU-4:", [round(100 * pair["bleu-4"], 2) for pair in per_pair])
assert ours["bleu-1"] == individual["bleu-1"]
""",
    ),
    (
        "md",
        """
## sacrebleu on the same pairs

sacrebleu computes *corpus* BLEU (n-gram counts summed over all pairs before the precisions), not the mean of
sentence scores; its `zh` tokenizer splits Chinese characters but keeps numbers and Latin words whole; its sentence
BLEU smooths with `exp`. It reports BLEU-4 only.
""",
    ),
    (
        "code",
        """
import sacrebleu

corpus_bleu = sacrebleu.corpus_bleu(PREDICTIONS, [REFERENCES], tokenize="zh").score
sentence_bleu = sum(
    sacrebleu.sentence_bleu(p, [r], tokenize="zh").score for p, r in zip(PREDICTIONS, REFERENCES, strict=True)
) / len(PREDICTIONS)
print(f"BLEU-4: soulchat {ours['bleu-4']:.2f}, sacrebleu corpus {corpus_bleu:.2f}, sentence mean {sentence_bleu:.2f}")
""",
    ),
    (
        "md",
        """
## rouge-score on the same pairs

Google's `rouge_score` (behind `evaluate.load("rouge")`) keeps only `[a-z0-9]` tokens by default, so Chinese text
scores zero: only the digits survive, so the two pairs that share a number (30, 4) score 100 and the four others
0. Given the same jieba words it comes close, but still differs: it
counts n-grams with their multiplicity and computes F without the 1e-8, where the convention uses n-gram sets.
""",
    ),
    (
        "code",
        """
from rouge_score import rouge_scorer

from soulchat.metrics import rouge_words


class JiebaWords:
    \"\"\"The tokenizer interface rouge_score expects, giving the convention's jieba words.\"\"\"

    def tokenize(self, text):
        return [word for word in rouge_words(text) or [] if word]


def mean_rouge(scorer):
    scores = [scorer.score(r, p) for p, r in zip(PREDICTIONS, REFERENCES, strict=True)]  # score(target, prediction)
    return {key: 100 * sum(s[key].fmeasure for s in scores) / len(scores) for key in ("rouge1", "rouge2", "rougeL")}


rouge_default = mean_rouge(rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"]))
rouge_jieba = mean_rouge(rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=JiebaWords()))
print("rouge-score, default tokenizer:", {k: round(v, 2) for k, v in rouge_default.items()})
print("rouge-score, jieba words:      ", {k: round(v, 2) for k, v in rouge_jieba.items()})
print("soulchat:                      ", {k: round(ours[k], 2) for k in ("rouge-1", "rouge-2", "rouge-l")})
assert round(rouge_default["rouge1"], 2) == 33.33 and rouge_default["rouge2"] == 0  # 2 of 6 pairs: digits only
assert rouge_jieba["rouge1"] < ours["rouge-1"]  # sets: the repeated clause of pair 4 costs no precision
""",
    ),
    (
        "md",
        """
## Side by side
""",
    ),
    (
        "code",
        """
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from IPython.display import Image, display

nan = math.nan
columns = ["BLEU-4", "ROUGE-1", "ROUGE-2", "ROUGE-L"]
series = {
    "soulchat (paper convention)": [ours["bleu-4"], ours["rouge-1"], ours["rouge-2"], ours["rouge-l"]],
    "sacrebleu corpus (zh)": [corpus_bleu, nan, nan, nan],
    "sacrebleu sentence mean (zh)": [sentence_bleu, nan, nan, nan],
    "rouge-score default": [nan, rouge_default["rouge1"], rouge_default["rouge2"], rouge_default["rougeL"]],
    "rouge-score + jieba": [nan, rouge_jieba["rouge1"], rouge_jieba["rouge2"], rouge_jieba["rougeL"]],
}
figure, axes = plt.subplots(figsize=(9, 4))
width = 0.16
for index, (label, values) in enumerate(series.items()):
    positions = [column + (index - 2) * width for column in range(len(columns))]
    axes.bar(positions, [0 if math.isnan(v) else v for v in values], width, label=label)
axes.set_xticks(range(len(columns)), columns)
axes.set_ylabel("score (×100)")
axes.set_title("The same 6 pairs under five conventions")
axes.legend(fontsize=8)
figure.tight_layout()
figure.savefig(WORK / "conventions.png", dpi=100)
plt.close(figure)
display(Image(filename=str(WORK / "conventions.png")))
""",
    ),
    (
        "md",
        """
Report which convention a number comes from: a BLEU-4 from sacrebleu and one from the paper's script are not the
same quantity. The metric card (`src/soulchat/metrics/soulchat_bleu_rouge/README.md`) lists every difference.
""",
    ),
]

CONSTRUCTION = [
    (
        "md",
        """
# Building your own corpus: single-turn QA to multi-turn dialogues

SoulChatCorpus was built by asking an LLM to rewrite single-turn counselling answers into multi-turn empathetic
dialogues. `soulchat.construction` does that against any OpenAI-compatible chat-completions endpoint, with bounded
concurrency, retries, validation, the paper's content filter, PII scrubbing, near-duplicate removal and a journal
that makes a restarted run skip what is done.

This notebook runs it against soulchat's **fake endpoint**, a local server on 127.0.0.1 that answers with random
Chinese text shaped like a rewrite (no model, no network). Swap its URL for a real one (`https://host/v1` and an
`OPENAI_API_KEY`) to build a real corpus.
""",
    ),
    ("code", SETUP.replace("{name}", "construction")),
    (
        "code",
        """
import json

QUESTIONS = [
    ("成长发展", "快考试了，我每天都很焦虑，晚上睡不着。", "考前焦虑很常见，可以试着把复习计划拆小，每天完成一点。"),
    ("家庭", "我和父母总是吵架，他们不理解我。", "被最亲的人误解会很难受，也许可以找一个平静的时机谈谈你的想法。"),
    ("婚恋", "分手三个月了，我还是走不出来。", "走出一段感情需要时间，允许自己难过，也试着重新安排自己的生活。"),
    ("职场", "工作压力太大，我觉得自己快撑不住了。", "试着和上级沟通工作量，也给自己留一些休息时间。"),
    ("人际关系", "我在宿舍里总是被孤立。", "被孤立的感觉很孤单，你可以先找一两个愿意交流的同学慢慢建立关系。"),
    ("情绪", "最近什么都不想做，提不起兴趣。", "这种状态持续多久了？如果超过两周，建议找专业的心理咨询师聊一聊。"),
]
qa_path = WORK / "qa.jsonl"
with qa_path.open("w", encoding="utf-8") as f:
    for index, (topic, question, answer) in enumerate(QUESTIONS):
        record = {"id": f"q{index}", "topic": topic, "question": question, "answer": answer}
        f.write(json.dumps(record, ensure_ascii=False) + "\\n")
print(qa_path.read_text(encoding="utf-8"))
""",
    ),
    (
        "md",
        """
## A local endpoint

`FakeChatServer` serves `POST /v1/chat/completions` from a background thread; from a shell,
`python -m soulchat.construction.fake_server` does the same and prints its URL.
""",
    ),
    (
        "code",
        """
from soulchat.construction.fake_server import FakeChatServer

server = FakeChatServer(latency_s=0.05).start()
print("endpoint:", server.base_url)
""",
    ),
    (
        "md",
        """
## Run the construction

`Constructor(config).run()` is what `soulchat construct` runs (`construct_corpus(config)` outside a running event
loop; a notebook already has one, hence `await`). The command line equivalent:

```bash
soulchat construct --input qa.jsonl --output dialogues.jsonl --base-url http://127.0.0.1:PORT/v1 --model fake
```
""",
    ),
    (
        "code",
        """
from soulchat.construction import ClientConfig, ConstructionConfig, Constructor

construction = ConstructionConfig(
    input=qa_path,
    output=WORK / "dialogues.jsonl",
    client=ClientConfig(base_url=server.base_url, model="fake", concurrency=4),
    template="empathy",
)
report = await Constructor(construction).run()
print({key: report["run"][key] for key in ("records", "done", "rejected", "failed", "requests")})
assert report["total"]["done"] + report["total"]["rejected"] == len(QUESTIONS)
first = json.loads((WORK / "dialogues.jsonl").read_text(encoding="utf-8").splitlines()[0])
print(first["id"], first["topic"], len(first["messages"]), "messages; first two:")
for message in first["messages"][:2]:
    print(f"  {message['role']}: {message['content'][:40]}…")
""",
    ),
    (
        "md",
        """
## Restarting is free

Running the same configuration again reads the journal and sends no request for a record that is already done.
""",
    ),
    (
        "code",
        """
requests_before = sum(server.requests.values())
await Constructor(construction).run()
print("requests before:", requests_before, "| after a second run:", sum(server.requests.values()))
assert sum(server.requests.values()) == requests_before
server.stop()
""",
    ),
    (
        "md",
        """
## Prepare the new corpus for training

The output is SoulChatCorpus JSON Lines, so `prepare_corpus` (`soulchat prepare`) turns it into training samples
like any other corpus.
""",
    ),
    (
        "code",
        """
from datasets import load_dataset

from soulchat.data.pipeline import PipelineOptions
from soulchat.data.prepare import prepare_corpus

prepared = prepare_corpus([WORK / "dialogues.jsonl"], WORK / "data", options=PipelineOptions(), progress=False)
samples = load_dataset(str(WORK / "data"), "samples")["train"]
print(f"{prepared['dialogues']} dialogues -> {len(samples)} samples; the first prompt ends with:")
print(samples[0]["prompt"][-30:])
assert len(samples) > len(QUESTIONS)
""",
    ),
]

NOTEBOOKS = {
    "01_quickstart": QUICKSTART,
    "02_reproduce_paper": REPRODUCE,
    "03_metrics": METRICS,
    "04_build_your_corpus": CONSTRUCTION,
}
