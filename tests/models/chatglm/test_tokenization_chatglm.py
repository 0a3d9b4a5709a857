"""The ChatGLM-6B tokenizer against the original's recorded outputs, plus its batch path, padding and saving."""

import json

import numpy as np
import pytest
import torch

from soulchat.models.chatglm import ChatGLMTokenizer


@pytest.fixture(scope="module")
def tokenizer_cases(reference_dir):
    return json.loads((reference_dir / "tokenizer_cases.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("index", range(22))
def test_reference_case(ice_tokenizer, tokenizer_cases, index):
    case = tokenizer_cases["cases"][index]
    text = case["text"]
    assert ice_tokenizer.preprocess_text(text) == case["sp_preprocessed"]
    assert ice_tokenizer.tokenize(text) == case["tokens"]
    assert ice_tokenizer.encode(text) == case["encode"]
    assert ice_tokenizer.encode(text, add_special_tokens=False) == case["encode_no_special"]
    assert ice_tokenizer(text)["input_ids"] == case["encode"]
    assert ice_tokenizer.decode(case["encode_no_special"]) == case["decode_encode_no_special"]
    assert ice_tokenizer.decode(case["encode"]) == case["decode_encode"]


def test_reference_case_count(tokenizer_cases):
    assert len(tokenizer_cases["cases"]) == 22


def test_reference_batch_and_padding(ice_tokenizer, tokenizer_cases):
    texts = [case["text"] for case in tokenizer_cases["cases"]]
    assert ice_tokenizer(texts)["input_ids"] == [case["encode"] for case in tokenizer_cases["cases"]]
    padding = tokenizer_cases["batch_padding"]
    batch = ice_tokenizer(padding["texts"], padding=True)
    assert batch["input_ids"] == padding["input_ids"]
    assert np.array_equal(np.array(batch["attention_mask"]).astype(int), np.array(padding["attention_mask"]))
    assert np.array_equal(np.array(batch["position_ids"]), np.array(padding["position_ids"]))
    tensors = ice_tokenizer(padding["texts"], padding=True, return_tensors="pt")
    assert tensors["attention_mask"].dtype == torch.bool and tensors["attention_mask"].shape == (3, 1, 14, 14)
    assert tensors["position_ids"].tolist() == padding["position_ids"]


def test_reference_truncation_target_and_specials(ice_tokenizer, tokenizer_cases):
    info = tokenizer_cases["info"]
    truncation = info["truncation_example"]
    text = "这是一个很长的句子，需要被截断，以便测试截断功能。"
    assert [ice_tokenizer(text, max_length=8, truncation=True)["input_ids"]] == truncation["input_ids"]
    assert [ice_tokenizer([text], max_length=8, truncation=True)["input_ids"][0]] == truncation["input_ids"]
    target = info["text_target_example"]
    assert [ice_tokenizer(text_target=target["text"])["input_ids"]] == target["input_ids"]
    assert list(ice_tokenizer("你好").keys()) == info["single_call_keys"]
    assert ice_tokenizer.all_special_tokens == info["all_special_tokens"]
    assert ice_tokenizer.vocab_size == info["vocab_size"] == len(ice_tokenizer)
    ids = info["special_ids"]
    assert ice_tokenizer.bos_token_id == ids["bos(<sop>)"] and ice_tokenizer.eos_token_id == ids["eos(<eop>)"]
    assert ice_tokenizer.pad_token_id == ids["pad(<pad>)"] and ice_tokenizer.unk_token_id == ids["unk(<unk>)"]
    assert ice_tokenizer.mask_token_id == ids["mask([MASK])"] and ice_tokenizer.gmask_token_id == ids["gmask([gMASK])"]
    assert ice_tokenizer.end_token_id == ids["end(</s>)"]
    assert ice_tokenizer.convert_tokens_to_ids(["<n>", "<|tab|>", "<|blank_2|>", "<|blank_80|>"]) == [
        ids["<n>"],
        ids["<|tab|>"],
        ids["<|blank_2|>"],
        ids["<|blank_80|>"],
    ]


TEXTS = [
    "你好 world",
    "  two leading spaces\tand a tab\n新行",
    "<sop> special <eop>  and [MASK]\n  [gMASK] text",
    "",
    "a" + " " * 85 + "b",
    "数字123和全角：ＡＢＣ",
]


def test_batch_path_equals_single_calls(tiny_tokenizer):
    assert tiny_tokenizer(TEXTS)["input_ids"] == [tiny_tokenizer.encode(text) for text in TEXTS]
    assert tiny_tokenizer(TEXTS, add_special_tokens=False)["input_ids"] == [
        tiny_tokenizer.encode(text, add_special_tokens=False) for text in TEXTS
    ]
    for side in ("right", "left"):
        tiny_tokenizer.truncation_side = side
        try:
            batch = tiny_tokenizer(TEXTS, max_length=5, truncation=True)["input_ids"]
            assert batch == [tiny_tokenizer(text, max_length=5, truncation=True)["input_ids"] for text in TEXTS]
        finally:
            tiny_tokenizer.truncation_side = "right"
    padded = tiny_tokenizer(TEXTS, padding="max_length", max_length=40, return_tensors="pt")
    assert padded["input_ids"].shape == (len(TEXTS), 40) and padded["position_ids"].shape == (len(TEXTS), 2, 40)
    single = tiny_tokenizer(TEXTS[0], padding="max_length", max_length=40)
    assert padded["input_ids"][0].tolist() == single["input_ids"]
    assert np.array_equal(padded["attention_mask"][0].numpy(), single["attention_mask"])


def test_padding_masks_and_positions(tiny_tokenizer):
    batch = tiny_tokenizer(["你好", "hello world"], padding=True, pad_to_multiple_of=8)
    length = len(batch["input_ids"][0])
    assert length % 8 == 0
    first = tiny_tokenizer.encode("你好")
    pads = length - len(first)
    assert batch["input_ids"][0] == [tiny_tokenizer.pad_token_id] * pads + first
    mask, positions = np.array(batch["attention_mask"][0])[0], np.array(batch["position_ids"][0])
    assert mask[:pads].all() and mask[:, :pads].all()  # pads are hidden and see nothing
    real = len(first)
    expected_visible = np.tril(np.ones((real, real), dtype=bool))
    expected_visible[:, : real - 1] = True  # everything before <sop> is the bidirectional context
    assert np.array_equal(~mask[pads:, pads:], expected_visible)
    assert positions[:, pads:].tolist() == [list(range(real - 1)) + [real - 2], [0] * (real - 1) + [1]]
    with pytest.raises(ValueError, match="left"):
        tiny_tokenizer(["a", "bb"], padding=True, padding_side="right")


def test_pairs_decode_and_special_masks(tiny_tokenizer):
    a, b = (
        tiny_tokenizer.encode("你好", add_special_tokens=False),
        tiny_tokenizer.encode("world", add_special_tokens=False),
    )
    gmask, bos, eos = tiny_tokenizer.gmask_token_id, tiny_tokenizer.bos_token_id, tiny_tokenizer.eos_token_id
    assert tiny_tokenizer.build_inputs_with_special_tokens(a, b) == a + [gmask, bos] + b + [eos]
    assert tiny_tokenizer.num_special_tokens_to_add() == 2
    assert tiny_tokenizer.get_special_tokens_mask(a) == [0] * len(a) + [1, 1]
    ids = tiny_tokenizer.encode("你好 world")
    assert tiny_tokenizer.decode([tiny_tokenizer.pad_token_id] + ids) == "你好 world"
    assert tiny_tokenizer.decode(ids + [eos], skip_special_tokens=True) == "你好 world"
    assert tiny_tokenizer.convert_tokens_to_string(tiny_tokenizer.tokenize("a\tb  c\nd")) == "a\tb  c\nd"
    assert tiny_tokenizer.decode(tiny_tokenizer.encode("world , fine .")) == "world, fine."


def test_save_and_reload(tmp_path, tiny_tokenizer):
    tiny_tokenizer.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["gmask_token"] == "[gMASK]" and config["end_token"] == "</s>" and config["num_image_tokens"] == 0
    assert config["auto_map"]["AutoTokenizer"][0] == "tokenization_chatglm.ChatGLMTokenizer"
    assert (tmp_path / "ice_text.model").is_file() and (tmp_path / "tokenization_chatglm.py").is_file()
    reloaded = ChatGLMTokenizer.from_pretrained(tmp_path)
    assert reloaded(TEXTS)["input_ids"] == tiny_tokenizer(TEXTS)["input_ids"]
    assert reloaded.tokenize(TEXTS[2]) == tiny_tokenizer.tokenize(TEXTS[2])
    assert reloaded.all_special_tokens == tiny_tokenizer.all_special_tokens


def test_special_tokens_strip_whitespace_and_gmask_is_text(tiny_tokenizer, tmp_path):
    # As transformers 4.x did for the original's special tokens (given as strings): the whitespace around them goes.
    expected = tiny_tokenizer.tokenize("x") + ["<sop>"] + tiny_tokenizer.tokenize("y")
    assert tiny_tokenizer.tokenize("x\n<sop>  y") == expected
    assert tiny_tokenizer(["x\n<sop>  y"])["input_ids"][0] == tiny_tokenizer.encode("x\n<sop>  y")
    assert "[gMASK]" not in tiny_tokenizer.tokenize("a [gMASK] b")
    tiny_tokenizer.save_pretrained(tmp_path)
    assert "[gMASK]" not in ChatGLMTokenizer.from_pretrained(tmp_path).tokenize("a [gMASK] b")


def _spec_preprocess(text: str) -> str:
    """The preprocessing exactly as the spec words it: `\\n`, `\\t`, then runs of n = 80 down to 2 spaces."""
    text = text.replace("\n", "<n>").replace("\t", "<|tab|>")
    for n in range(80, 1, -1):
        text = text.replace(" " * n, f"<|blank_{n}|>")
    return text


def test_preprocess_text_equals_the_spec_loop_for_every_run_length(tiny_tokenizer):
    for n in range(0, 245):
        text = f"a{' ' * n}b\t{' ' * (n // 3)}\n  c" + " " * (n % 7)
        assert tiny_tokenizer.preprocess_text(text) == _spec_preprocess(text), n
    assert tiny_tokenizer.preprocess_text(" " * 85) == "<|blank_80|><|blank_5|>"
    assert tiny_tokenizer.preprocess_text(" " * 161) == "<|blank_80|><|blank_80|> "


@pytest.mark.parametrize("options", [{}, {"do_lower_case": True}, {"remove_space": True}])
def test_batch_preprocessing_equals_text_by_text(tiny_sp_model, options):
    tokenizer = ChatGLMTokenizer(vocab_file=str(tiny_sp_model), **options)
    texts = [f"A{' ' * n}b\t{' ' * (n // 3)}\n  C" + " " * (n % 7) for n in range(0, 170, 7)]
    texts += ["", " ", "  ", "x\x00  y", "\n\n", "Ab  "]  # a NUL in a text falls back to one text at a time
    for batch in (texts, texts[:1], texts[-3:]):
        assert tokenizer._preprocess_batch(batch) == [tokenizer.preprocess_text(text) for text in batch]


@pytest.mark.parametrize("num_image_tokens", [0, 20000])
def test_encode_as_arrays_equals_encode_one_by_one(tiny_sp_model, num_image_tokens):
    tokenizer = ChatGLMTokenizer(vocab_file=str(tiny_sp_model), num_image_tokens=num_image_tokens)
    expected = [tokenizer.encode(text, add_special_tokens=False) for text in TEXTS]
    for texts, ids in ((TEXTS, expected), (TEXTS[:2], expected[:2]), ([], [])):  # with and without added tokens
        arrays = tokenizer.encode_as_arrays(texts)
        assert all(array.dtype == np.int32 and array.ndim == 1 for array in arrays)
        assert [array.tolist() for array in arrays] == ids
    assert min(min(ids, default=num_image_tokens) for ids in expected) >= num_image_tokens
    assert tokenizer(TEXTS, add_special_tokens=False)["input_ids"] == expected


def test_encode_as_arrays_on_the_reference_cases(ice_tokenizer, tokenizer_cases):
    cases = tokenizer_cases["cases"]
    arrays = ice_tokenizer.encode_as_arrays([case["text"] for case in cases])
    assert [array.tolist() for array in arrays] == [case["encode_no_special"] for case in cases]


@pytest.mark.parametrize("as_tensors", [None, "np", "pt"])
def test_padding_padded_features_again_grows_their_glm_mask(tiny_tokenizer, as_tensors):
    texts = ["你好", "hello world, how are you"]
    first = tiny_tokenizer(texts, padding=True, return_tensors=as_tensors)
    features = [{key: first[key][i] for key in first} for i in range(len(texts))]
    again = tiny_tokenizer.pad(features, padding="max_length", max_length=24)
    direct = tiny_tokenizer(texts, padding="max_length", max_length=24, return_tensors="np")
    for key in ("input_ids", "position_ids", "attention_mask"):
        assert np.array_equal(np.asarray(again[key]), direct[key]), key


def test_truncation_to_zero_is_no_limit_in_a_batch_as_one_by_one(tiny_tokenizer):
    text = TEXTS[0]
    single = tiny_tokenizer(text, truncation=True, max_length=0)["input_ids"]
    assert tiny_tokenizer([text], truncation=True, max_length=0)["input_ids"] == [single]
