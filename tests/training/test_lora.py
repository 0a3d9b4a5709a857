"""LoRA via peft (MeChat's way): adapters on ChatGLM's `query_key_value`, trained, merged and saved as a plain model."""

import json
from pathlib import Path

import torch
from transformers import AutoModel

from soulchat.training.model_loading import add_lora, merge_and_save
from soulchat.training.sft_config import SoulChatSFTConfig
from soulchat.training.workflow import run_training
from tests.training.conftest import TINY_MODEL, run_cli, tiny_train_args


def _config(tmp_path: Path, data: Path, tokenizer: Path, **overrides) -> SoulChatSFTConfig:
    values = dict(
        output_dir=str(tmp_path / "run"),
        model_init=json.dumps(TINY_MODEL),
        tokenizer_name_or_path=str(tokenizer),
        dataset_path=str(data),
        max_source_length=64,
        max_target_length=32,
        use_cpu=True,
        use_lora=True,
        lora_r=4,
        lora_alpha=8,
        lora_dropout=0.0,
        per_device_train_batch_size=4,
        learning_rate=1e-2,
        max_steps=6,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
    )
    return SoulChatSFTConfig(**{**values, **overrides})


def test_merge_and_save_gives_the_adapted_model(tmp_path: Path, glm_tokenizer, tokenizer_dir, eight_samples):
    from soulchat.training.model_loading import load_model

    config = _config(tmp_path, eight_samples, tokenizer_dir, use_lora=False)
    base = load_model(config, glm_tokenizer)
    peft_model = add_lora(base, config)
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n and "query_key_value" in n for n in trainable)
    with torch.no_grad():  # a trained adapter: lora_B starts at zero, give it weights
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)
    ids = torch.tensor([glm_tokenizer.encode("用户：我睡不着\n心理咨询师：")])
    with torch.no_grad():
        adapted = peft_model(input_ids=ids).logits
        with peft_model.disable_adapter():
            original = peft_model(input_ids=ids).logits
    assert not torch.allclose(adapted, original, atol=1e-3)
    folder = merge_and_save(peft_model, glm_tokenizer, tmp_path / "merged")
    reloaded = AutoModel.from_pretrained(str(folder)).eval()
    assert not any("lora" in name for name, _ in reloaded.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=ids).logits, adapted, atol=1e-5, rtol=1e-5)


def test_lora_training_run_saves_adapter_and_merged_model(tmp_path: Path, tokenizer_dir, eight_samples):
    result = run_training(_config(tmp_path, eight_samples, tokenizer_dir))
    from safetensors.torch import load_file

    curve = [e["loss"] for e in result.log_history if "loss" in e]
    assert len(curve) == 6 and all(torch.isfinite(torch.tensor(curve)))
    adapter = load_file(result.output_dir / "adapter_model.safetensors")
    lora_b = [t for name, t in adapter.items() if "lora_B" in name]
    assert len(lora_b) == 2 and all(t.abs().max() > 0 for t in lora_b)  # trained away from peft's zero init
    assert result.merged_dir == result.output_dir / "merged"
    merged = AutoModel.from_pretrained(str(result.merged_dir))
    assert type(merged).__name__ == "ChatGLMForConditionalGeneration"


def test_lora_under_zero3_keeps_the_adapter_and_skips_the_merge(tmp_path: Path, tokenizer_dir, eight_samples):
    output = tmp_path / "run"
    args = tiny_train_args(eight_samples, tokenizer_dir, output, deepspeed="zero3", use_lora="true", max_steps=2,
                           save_steps=100)  # fmt: skip
    result = run_cli(args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "not merged under ZeRO-3" in result.stderr and "merged LoRA model" not in result.stdout
    assert (output / "adapter_model.safetensors").is_file() and not (output / "merged").exists()
