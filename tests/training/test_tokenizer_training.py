"""The tokenizer trained on a corpus: a vocabulary too small for the corpus's characters is raised to the minimum."""

import json

from soulchat.data.bundled import sample_corpus_path
from soulchat.training.tokenizer_training import train_chatglm_tokenizer


def test_small_vocabulary_is_raised_to_cover_every_character(tmp_path):
    records = json.loads(sample_corpus_path().read_text(encoding="utf-8"))[:10]
    texts = [message["content"] for record in records for message in record["messages"]]
    tokenizer = train_chatglm_tokenizer(texts, tmp_path, vocab_size=500)
    assert tokenizer.vocab_size > 500
    for text in texts[:20]:
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert ids and tokenizer.unk_token_id not in ids
