"""Dynamic padding: right for training (loss unchanged by padding), left with GLM mask and positions for generation."""

import torch

from soulchat.models.chatglm import ChatGLMConfig, ChatGLMForConditionalGeneration
from soulchat.training.collator import DataCollatorForSoulChat
from soulchat.training.tokenization import IGNORE_INDEX, encode_chatglm
from tests.training.conftest import TINY_MODEL


def _features(tokenizer, rows, **kwargs) -> list[dict]:
    batch = encode_chatglm([r["prompt"] for r in rows], [r["response"] for r in rows], tokenizer, **kwargs)
    return [dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)]


def _tiny_glm(tokenizer) -> ChatGLMForConditionalGeneration:
    values = {k: v for k, v in TINY_MODEL.items() if k != "model_type"}
    config = ChatGLMConfig(
        **values,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        mask_token_id=tokenizer.mask_token_id,
        gmask_token_id=tokenizer.gmask_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    return ChatGLMForConditionalGeneration(config).eval()


def test_right_padding_to_a_multiple(glm_tokenizer, sample_rows):
    features = _features(glm_tokenizer, sample_rows[:5], max_source_length=64, max_target_length=16)
    batch = DataCollatorForSoulChat(glm_tokenizer, pad_to_multiple_of=8)(features)
    longest = max(len(f["input_ids"]) for f in features)
    assert batch["input_ids"].shape == (5, -(-longest // 8) * 8)
    for row, f in enumerate(features):
        n = len(f["input_ids"])
        assert batch["input_ids"][row, :n].tolist() == f["input_ids"]
        assert (batch["input_ids"][row, n:] == glm_tokenizer.pad_token_id).all()
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (batch["input_ids"].shape[1] - n)
        assert batch["labels"][row, :n].tolist() == f["labels"] and (batch["labels"][row, n:] == IGNORE_INDEX).all()
    assert set(batch) == {"input_ids", "attention_mask", "labels"}


def test_padding_does_not_change_the_loss(glm_tokenizer, sample_rows):
    model = _tiny_glm(glm_tokenizer)
    features = _features(glm_tokenizer, sample_rows[:4], max_source_length=48, max_target_length=16)
    batch = DataCollatorForSoulChat(glm_tokenizer, pad_to_multiple_of=16)(features)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        for row, f in enumerate(features):
            alone = model(input_ids=torch.tensor([f["input_ids"]])).logits[0]
            torch.testing.assert_close(logits[row, : len(f["input_ids"])], alone, atol=1e-5, rtol=1e-5)


def test_generation_inputs_are_the_tokenizers_left_padding(glm_tokenizer, sample_rows):
    features = _features(glm_tokenizer, sample_rows[:3], max_source_length=48, max_target_length=16)
    batch = DataCollatorForSoulChat(glm_tokenizer, generation=True)(features)
    prompts = [f["input_ids"][: f["prompt_length"]] for f in features]
    expected = glm_tokenizer.pad({"input_ids": prompts}, padding="longest", return_tensors="pt")
    longest = max(map(len, prompts))
    assert batch["generation_input_ids"].shape == (3, longest)
    assert torch.equal(batch["generation_input_ids"], expected["input_ids"])
    assert batch["generation_attention_mask"].shape == (3, 1, longest, longest)  # GLM mask, True = masked
    assert torch.equal(batch["generation_attention_mask"], expected["attention_mask"])
    assert batch["generation_position_ids"].shape == (3, 2, longest)
    for row, prompt in enumerate(prompts):
        assert batch["generation_input_ids"][row, -2:].tolist() == [
            glm_tokenizer.gmask_token_id,
            glm_tokenizer.bos_token_id,
        ]
        reference = features[row]["input_ids"][len(prompt) :]
        assert reference[-1] == glm_tokenizer.eos_token_id
        assert batch["reference_ids"][row, : len(reference)].tolist() == reference


def test_left_padded_generation_matches_unpadded(glm_tokenizer, sample_rows):
    model = _tiny_glm(glm_tokenizer)
    features = _features(glm_tokenizer, sample_rows[:3], max_source_length=40, max_target_length=16)
    batch = DataCollatorForSoulChat(glm_tokenizer, generation=True)(features)
    inputs = {k.removeprefix("generation_"): v for k, v in batch.items() if k.startswith("generation_")}
    out = model.generate(**inputs, max_new_tokens=5, do_sample=False)[:, inputs["input_ids"].shape[1] :]
    for row, f in enumerate(features):
        prompt = torch.tensor([f["input_ids"][: f["prompt_length"]]])
        alone = model.generate(prompt, max_new_tokens=5, do_sample=False)[0, prompt.shape[1] :]
        assert out[row, : len(alone)].tolist() == alone.tolist()


def test_length_grouped_sampler_is_a_permutation_with_little_padding():
    import random

    from soulchat.training.sampler import SoulChatLengthGroupedSampler

    rng = random.Random(0)
    lengths = [rng.randint(20, 1500) for _ in range(4000)]
    sampler = SoulChatLengthGroupedSampler(8, lengths, generator=torch.Generator().manual_seed(0))
    order = list(sampler)
    assert sorted(order) == list(range(4000)) and sampler.megabatch_batches == 100
    padded = sum(8 * max(lengths[i] for i in order[b : b + 8]) for b in range(0, 4000, 8))
    assert 1 - sum(lengths) / padded < 0.05
    random_order = torch.randperm(4000, generator=torch.Generator().manual_seed(0)).tolist()
    padded_random = sum(8 * max(lengths[i] for i in random_order[b : b + 8]) for b in range(0, 4000, 8))
    assert 1 - sum(lengths) / padded_random > 0.3
