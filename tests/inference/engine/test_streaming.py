"""Incremental detokenisation: the deltas add up to the post-processed reply, whatever the ids."""

import random

from soulchat.inference.engine import ReplyDetokenizer
from soulchat.models.chatglm import process_response


def _stream(tokenizer, ids: list[int]) -> tuple[list[str], ReplyDetokenizer]:
    detokenizer = ReplyDetokenizer(tokenizer, postprocess=process_response)
    deltas = [detokenizer.push(token) for token in ids]
    deltas.append(detokenizer.finish())
    return deltas, detokenizer


def test_random_id_sequences_stream_to_the_decoded_reply(chat_model):
    _, tokenizer = chat_model
    rng = random.Random(0)
    # Ordinary pieces, byte-fallback pieces (incomplete characters), whitespace and punctuation pieces.
    vocab = list(range(20, tokenizer.vocab_size))
    punctuation = tokenizer([",!?:; ，\n"], add_special_tokens=False)["input_ids"][0]
    for _ in range(200):
        ids = [rng.choice(vocab if rng.random() < 0.8 else punctuation) for _ in range(rng.randint(1, 30))]
        deltas, detokenizer = _stream(tokenizer, ids)
        expected = process_response(tokenizer.decode(ids, skip_special_tokens=True))
        assert "".join(deltas) == detokenizer.text == expected, ids


def test_half_width_punctuation_is_held_until_the_next_character(chat_model):
    _, tokenizer = chat_model
    ids = tokenizer(["你好,我在"], add_special_tokens=False)["input_ids"][0]
    deltas, detokenizer = _stream(tokenizer, ids)
    assert detokenizer.text == "你好，我在"
    assert "," not in "".join(deltas) and "".join(deltas) == "你好，我在"


def test_an_incomplete_character_is_not_released(chat_model):
    _, tokenizer = chat_model
    byte_ids = [tokenizer.convert_tokens_to_ids(f"<0x{b:02X}>") for b in "鼹".encode()]
    detokenizer = ReplyDetokenizer(tokenizer, postprocess=process_response)
    assert [detokenizer.push(i) for i in byte_ids[:-1]] == ["", ""]
    assert detokenizer.push(byte_ids[-1]) == "鼹"


def test_the_training_time_placeholder_is_filled_before_release(chat_model):
    _, tokenizer = chat_model
    ids = tokenizer(["截至[[训练时间]]为止"], add_special_tokens=False)["input_ids"][0]
    deltas, detokenizer = _stream(tokenizer, ids)
    assert detokenizer.text == "截至2023年为止" and all("[" not in d for d in deltas)
