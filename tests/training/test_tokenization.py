"""The budget rule: layouts, labels and truncation invariants on real samples and hand-built long dialogues."""

import pytest

from soulchat.data.prompts import fit_prompt, render_prompt, rounds_to_messages, split_rounds
from soulchat.training.tokenization import IGNORE_INDEX, encode_chatglm, encode_chatglm_table
from soulchat.training.workflow import TOKENIZED_FEATURES

CUE = "心理咨询师："


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False)


def _long_dialogue(n_rounds: int, chars: int) -> tuple[list[tuple[str, str]], str]:
    history = [
        (f"第{i}轮我很焦虑" + "睡不着觉" * chars, f"我听到了你的焦虑{i}" + "慢慢说" * chars) for i in range(n_rounds)
    ]
    return history, "今天又失眠了，" + "心里很乱" * chars + "怎么办？"


def test_split_rounds_round_trips_every_sample(sample_rows):
    for row in sample_rows:
        rounds = split_rounds(row["prompt"])
        assert "".join(rounds) == row["prompt"]
        assert len(rounds) == row["turn"]
        assert rounds[-1].endswith(CUE) and all(r.startswith("用户：") for r in rounds)


def test_rounds_to_messages_inverts_render_prompt():
    history = [("你好", "你好，请说。"), ("我睡不着\n很久了", "多久了？")]
    messages = rounds_to_messages(split_rounds(render_prompt(history, "一个月")))
    assert messages == [
        {"role": "user", "content": "你好"},
        {"role": "assistant", "content": "你好，请说。"},
        {"role": "user", "content": "我睡不着\n很久了"},
        {"role": "assistant", "content": "多久了？"},
        {"role": "user", "content": "一个月"},
    ]


def test_short_sample_has_the_original_chatglm_layout(glm_tokenizer):
    prompt, response = render_prompt([("你好", "你好，请说。")], "我睡不着"), "能说说最近发生了什么吗？"
    batch = encode_chatglm([prompt], [response], glm_tokenizer)
    a, b = _ids(glm_tokenizer, prompt), _ids(glm_tokenizer, response)
    expected = a + [glm_tokenizer.gmask_token_id, glm_tokenizer.bos_token_id] + b + [glm_tokenizer.eos_token_id]
    assert batch["input_ids"][0] == expected
    assert expected == glm_tokenizer.build_inputs_with_special_tokens(a, b)
    context = len(a) + 1  # index of <sop>
    assert batch["labels"][0] == [IGNORE_INDEX] * context + expected[context:]
    assert batch["prompt_length"][0] == len(a) + 2 and batch["length"][0] == len(expected)


def _fewest_dropped(tokenizer, rounds: list[str], budget: int) -> int:
    """Brute force: the smallest k with `rounds[k:]` within budget (None if even the last round is too long)."""
    for k in range(len(rounds)):
        if len(_ids(tokenizer, "".join(rounds[k:]))) <= budget:
            return k
    return None


@pytest.mark.parametrize(("n_rounds", "chars", "source"), [(8, 3, 64), (8, 3, 128), (12, 10, 200), (3, 1, 40)])
def test_oldest_rounds_are_dropped_first(glm_tokenizer, n_rounds: int, chars: int, source: int):
    history, query = _long_dialogue(n_rounds, chars)
    prompt, response = render_prompt(history, query), "嗯。"
    rounds = split_rounds(prompt)
    k = _fewest_dropped(glm_tokenizer, rounds, source - 1)
    assert k is not None and k > 0, "the case must need truncation but fit with the last round"
    batch = encode_chatglm([prompt], [response], glm_tokenizer, max_source_length=source, max_target_length=8)
    kept = batch["input_ids"][0][: batch["prompt_length"][0] - 2]
    assert kept == _ids(glm_tokenizer, "".join(rounds[k:]))
    assert len(kept) + 1 <= source  # prompt + [gMASK]
    assert glm_tokenizer.decode(kept).endswith("心理咨询师:")  # NFKC folds the full-width colon


def test_latest_turn_alone_too_long_is_cut_from_its_start(glm_tokenizer):
    history, query = _long_dialogue(2, 40)
    prompt = render_prompt(history, query)
    budget = 30
    batch = encode_chatglm([prompt], ["好的。"], glm_tokenizer, max_source_length=budget + 1, max_target_length=8)
    kept = batch["input_ids"][0][: batch["prompt_length"][0] - 2]
    assert len(kept) <= budget
    cut = next(c for c in range(len(query)) if len(_ids(glm_tokenizer, f"用户：{query[c:]}\n{CUE}")) <= budget)
    assert kept == _ids(glm_tokenizer, f"用户：{query[cut:]}\n{CUE}")
    text = glm_tokenizer.decode(kept)
    assert text.startswith("用户:") and text.endswith("怎么办?\n心理咨询师:")


def test_response_keeps_its_first_tokens_and_eop(glm_tokenizer):
    response = "你愿意多说一些吗？" * 20
    batch = encode_chatglm(["用户：嗯\n" + CUE], [response], glm_tokenizer, max_source_length=64, max_target_length=12)
    ids, labels, start = batch["input_ids"][0], batch["labels"][0], batch["prompt_length"][0]
    assert labels[start - 1 :] == ids[start - 1 :]
    assert ids[start:] == _ids(glm_tokenizer, response)[:10] + [glm_tokenizer.eos_token_id]
    assert len(ids) - start + 1 == 12  # <sop> + 10 response ids + <eop>


@pytest.mark.parametrize(("source", "target"), [(48, 16), (96, 24), (1536, 512)])
def test_budgets_cue_and_labels_on_every_sample(glm_tokenizer, sample_rows, source: int, target: int):
    prompts, responses = [r["prompt"] for r in sample_rows], [r["response"] for r in sample_rows]
    batch = encode_chatglm(prompts, responses, glm_tokenizer, max_source_length=source, max_target_length=target)
    gmask, sop, eop = glm_tokenizer.gmask_token_id, glm_tokenizer.bos_token_id, glm_tokenizer.eos_token_id
    cue = _ids(glm_tokenizer, "\n" + CUE)[-3:]
    for ids, labels, start in zip(batch["input_ids"], batch["labels"], batch["prompt_length"], strict=True):
        assert start - 1 <= source and len(ids) - start + 1 <= target and len(ids) <= source + target
        assert ids[start - 2 : start] == [gmask, sop] and ids[-1] == eop
        assert ids[start - 2 - len(cue) : start - 2] == cue  # the prompt always ends with the cue
        assert labels[: start - 1] == [IGNORE_INDEX] * (start - 1) and labels[start - 1 :] == ids[start - 1 :]
    if source == 1536:  # nothing of the sample corpus is cut at the paper's budgets
        assert batch["input_ids"][0][: batch["prompt_length"][0] - 2] == _ids(glm_tokenizer, prompts[0])


def test_batched_equals_one_by_one(glm_tokenizer, sample_rows):
    rows = sample_rows[:40]
    kwargs = dict(max_source_length=64, max_target_length=16)
    batch = encode_chatglm([r["prompt"] for r in rows], [r["response"] for r in rows], glm_tokenizer, **kwargs)
    for i, row in enumerate(rows):
        single = encode_chatglm([row["prompt"]], [row["response"]], glm_tokenizer, **kwargs)
        assert {k: v[0] for k, v in single.items()} == {k: v[i] for k, v in batch.items()}


class _OneByOne:
    """The tokenizer behind the one-by-one path: `encode(text, add_special_tokens=False)` per text, no batch API."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.gmask_token_id, self.bos_token_id = tokenizer.gmask_token_id, tokenizer.bos_token_id
        self.eos_token_id = tokenizer.eos_token_id

    def __call__(self, texts: list[str], add_special_tokens: bool) -> dict[str, list[list[int]]]:
        return {"input_ids": [self.tokenizer.encode(t, add_special_tokens=add_special_tokens) for t in texts]}


@pytest.mark.parametrize(("source", "target"), [(48, 16), (160, 24), (1536, 512)])
def test_vectorised_batch_equals_one_by_one_encode(glm_tokenizer, sample_rows, source: int, target: int):
    history, query = _long_dialogue(6, 4)
    prompts = [r["prompt"] for r in sample_rows[:60]] + [render_prompt(history, query), CUE]
    responses = [r["response"] for r in sample_rows[:60]] + ["好的。", ""]
    kwargs = dict(max_source_length=source, max_target_length=target)
    batch = encode_chatglm(prompts, responses, glm_tokenizer, **kwargs)
    assert batch == encode_chatglm(prompts, responses, _OneByOne(glm_tokenizer), **kwargs)
    table = encode_chatglm_table(prompts, responses, glm_tokenizer, **kwargs)
    assert table.to_pydict() == batch
    assert table.schema.equals(TOKENIZED_FEATURES.arrow_schema)  # what `datasets.map` writes, as is
    assert encode_chatglm([], [], glm_tokenizer) == {"input_ids": [], "labels": [], "prompt_length": [], "length": []}


def test_prompt_long_in_characters_but_within_budget_is_kept_whole(glm_tokenizer):
    # Runs of spaces are one id per 80 characters: far more characters than ids, yet within the budget.
    history = [("我" + " " * 400 + "睡不着", "嗯" + " " * 400 + "说说看")] * 3
    prompt, budget = render_prompt(history, "还是睡不着"), 120
    assert len(prompt) > 3 * budget and len(_ids(glm_tokenizer, prompt)) <= budget - 1
    batch = encode_chatglm([prompt], ["好的。"], glm_tokenizer, max_source_length=budget, max_target_length=8)
    assert batch["input_ids"][0][: batch["prompt_length"][0] - 2] == _ids(glm_tokenizer, prompt)


def test_fit_prompt_needs_room_for_the_cue():
    with pytest.raises(ValueError, match="cannot hold"):
        fit_prompt(["用户：很长\n" + CUE], lambda text: list(range(len(text))), 3, round_costs=[9])


def test_tokenize_split_with_processes_matches_and_is_cached(glm_tokenizer, prepared_corpus, sample_rows):
    from types import SimpleNamespace

    import datasets

    from soulchat.training.workflow import tokenize_split

    split = datasets.load_dataset(str(prepared_corpus), "samples")["train"]
    config = SimpleNamespace(max_source_length=96, max_target_length=32, preprocessing_num_workers=2)
    first = tokenize_split(split, glm_tokenizer, config, prompt_format="chatglm")
    expected = encode_chatglm(
        split["prompt"], split["response"], glm_tokenizer, max_source_length=96, max_target_length=32
    )
    assert first.column_names == ["input_ids", "labels", "prompt_length", "length"]
    assert first["input_ids"] == expected["input_ids"] and first["labels"] == expected["labels"]
    again = tokenize_split(split, glm_tokenizer, config, prompt_format="chatglm")
    assert again.cache_files == first.cache_files  # the second run reads the cached result


def test_tokenization_fingerprint_tracks_what_changes_the_ids(glm_tokenizer, prepared_corpus, tmp_path):
    import datasets

    from soulchat.training.tokenizer_training import train_chatglm_tokenizer
    from soulchat.training.workflow import tokenization_fingerprint

    split = datasets.load_dataset(str(prepared_corpus), "samples")["train"]
    options = {"tokenizer": glm_tokenizer, "max_source_length": 96, "max_target_length": 32}
    key = tokenization_fingerprint(split, glm_tokenizer, "chatglm", options)
    assert key == tokenization_fingerprint(split, glm_tokenizer, "chatglm", dict(options))  # deterministic
    other_tokenizer = train_chatglm_tokenizer(split["prompt"][:50], tmp_path / "other", vocab_size=300)
    changed = [
        tokenization_fingerprint(split.select(range(10)), glm_tokenizer, "chatglm", options),
        tokenization_fingerprint(split, glm_tokenizer, "chatglm", {**options, "max_source_length": 95}),
        tokenization_fingerprint(split, glm_tokenizer, "chat_template", options),
        tokenization_fingerprint(split, other_tokenizer, "chatglm", options),
    ]
    assert len({key, *changed}) == 5
