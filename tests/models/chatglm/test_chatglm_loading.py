"""Auto-class registration, the original checkpoint folder layout, safetensors round trips and remote-code loading."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
from chatglm_helpers import ORIGINAL_TOKENIZER_CONFIG, tiny_config_for, write_original_checkpoint
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

import soulchat
from soulchat.models import register_chatglm
from soulchat.models.chatglm import ChatGLMConfig, ChatGLMForConditionalGeneration, ChatGLMTokenizer

PROMPTS = ["你好", "hello world, how are you today?"]


@pytest.fixture(scope="module")
def tiny_state(tiny_tokenizer):
    """A tiny random model (fp16-representable weights) and its state dict."""
    torch.manual_seed(0)
    model = ChatGLMForConditionalGeneration(tiny_config_for(tiny_tokenizer)).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(param.half().float())
    return model, {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def original_folder(tmp_path_factory, tiny_state, tiny_sp_model):
    model, state = tiny_state
    folder = tmp_path_factory.mktemp("chatglm-6b")
    state = dict(state)
    # A stored head that differs from the embeddings: the original loader ignores it (the head is tied).
    state["lm_head.weight"] = torch.randn_like(state["lm_head.weight"])
    write_original_checkpoint(folder, model.config, state, tiny_sp_model)
    return folder


def _logits(model, tokenizer) -> torch.Tensor:
    inputs = tokenizer(PROMPTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**inputs).logits


def test_registration_on_import_and_idempotent():
    assert soulchat.register is not None
    register_chatglm()
    register_chatglm()
    assert type(AutoConfig.for_model("chatglm")) is ChatGLMConfig
    for auto_class in (AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM):
        assert auto_class._model_mapping[ChatGLMConfig] is ChatGLMForConditionalGeneration


def test_original_layout_loads_without_remote_code(original_folder, tiny_state, tiny_tokenizer):
    reference, _ = tiny_state
    model = AutoModel.from_pretrained(original_folder).eval()
    assert type(model) is ChatGLMForConditionalGeneration
    assert model.dtype == torch.float16  # the checkpoint's `torch_dtype`
    assert model.lm_head.weight is model.transformer.word_embeddings.weight
    tokenizer = AutoTokenizer.from_pretrained(original_folder)
    assert type(tokenizer) is ChatGLMTokenizer and tokenizer.padding_side == "left"
    assert tokenizer(PROMPTS)["input_ids"] == tiny_tokenizer(PROMPTS)["input_ids"]
    assert tokenizer.tokenize("a [gMASK] b") == tiny_tokenizer.tokenize("a [gMASK] b")  # literal text, not a token

    model32 = AutoModel.from_pretrained(original_folder, dtype=torch.float32).eval()
    assert model32.transformer.final_layernorm.weight.dtype == torch.float32
    assert torch.equal(_logits(model32, tokenizer), _logits(reference, tiny_tokenizer))
    seq2seq = AutoModelForSeq2SeqLM.from_pretrained(original_folder, dtype=torch.float32).eval()
    assert torch.equal(_logits(seq2seq, tokenizer), _logits(reference, tiny_tokenizer))


def test_first_release_layout(tiny_sp_model):
    config = ChatGLMConfig()  # the class defaults are the 150528-token first release
    assert (config.vocab_size, config.gmask_token_id, config.bos_token_id, config.pad_token_id) == (
        150528,
        150001,
        150004,
        0,
    )
    shifted = ChatGLMTokenizer(vocab_file=str(tiny_sp_model))  # class default num_image_tokens=20000
    plain = ChatGLMTokenizer(vocab_file=str(tiny_sp_model), num_image_tokens=0)
    ids = plain.encode("你好 world")
    assert shifted.encode("你好 world") == [i + 20000 for i in ids]
    assert shifted.gmask_token_id == plain.gmask_token_id + 20000
    assert shifted.vocab_size == plain.vocab_size + 20000
    assert shifted.convert_ids_to_tokens(7) == "<image_7>"
    assert shifted.decode([7, *shifted.encode("你好 world")]) == plain.decode(ids)


def test_first_release_tokenizer_config(tmp_path, tiny_sp_model):
    # The first release's tokenizer_config.json has no `num_image_tokens` (class default 20000).
    config = {k: v for k, v in ORIGINAL_TOKENIZER_CONFIG.items() if k != "num_image_tokens"}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    shutil.copyfile(tiny_sp_model, tmp_path / "ice_text.model")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    plain = ChatGLMTokenizer(vocab_file=str(tiny_sp_model), num_image_tokens=0)
    assert tokenizer.num_image_tokens == 20000
    assert tokenizer(PROMPTS)["input_ids"] == [[i + 20000 for i in ids] for ids in plain(PROMPTS)["input_ids"]]


def test_first_release_ids_of_the_real_vocabulary(reference_dir):
    tokenizer = ChatGLMTokenizer(vocab_file=str(reference_dir / "tokenizer" / "ice_text.model"))
    config = ChatGLMConfig()
    assert tokenizer.gmask_token_id == config.gmask_token_id
    assert tokenizer.mask_token_id == config.mask_token_id
    assert tokenizer.bos_token_id == config.bos_token_id
    assert tokenizer.eos_token_id == config.eos_token_id
    assert tokenizer.pad_token_id == 20003


def test_save_pretrained_safetensors_roundtrip(tmp_path, original_folder):
    model = AutoModel.from_pretrained(original_folder, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(original_folder)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    files = set(os.listdir(tmp_path))
    assert {"model.safetensors", "config.json", "ice_text.model", "tokenizer_config.json"} <= files
    assert {
        "modeling_chatglm.py",
        "configuration_chatglm.py",
        "masking_chatglm.py",
        "chat_chatglm.py",
        "tokenization_chatglm.py",
    } <= files
    assert not any(name.endswith(".bin") for name in files)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_chatglm.ChatGLMForConditionalGeneration"
    assert config["auto_map"]["AutoConfig"] == "configuration_chatglm.ChatGLMConfig"

    # The tied head is not stored; loading ties it and reports nothing missing (no "lm_head.weight MISSING").
    reloaded, info = AutoModel.from_pretrained(tmp_path, output_loading_info=True)
    reloaded = reloaded.eval()
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert reloaded.lm_head.weight is reloaded.transformer.word_embeddings.weight
    assert reloaded.lm_head.weight is reloaded.transformer.word_embeddings.weight
    retokenizer = AutoTokenizer.from_pretrained(tmp_path)
    assert retokenizer(PROMPTS)["input_ids"] == tokenizer(PROMPTS)["input_ids"]
    assert torch.equal(_logits(reloaded, retokenizer), _logits(model, tokenizer))


_REMOTE_SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, sys
    from pathlib import Path
    sys.path = [p for p in sys.path if not (Path(p or ".") / "soulchat").exists()]
    assert importlib.util.find_spec("soulchat") is None, "soulchat is visible"
    import torch
    from transformers import AutoModel, AutoTokenizer
    folder = sys.argv[1]
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    assert "soulchat" not in sys.modules
    inputs = tokenizer(json.loads(sys.argv[2]), padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    generated = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    print(json.dumps({"model": type(model).__module__, "tokenizer": type(tokenizer).__module__,
                      "logits": logits.flatten().tolist()[:50], "generated": generated.tolist()}))
    """
)


@pytest.mark.slow
def test_saved_folder_loads_as_remote_code_without_soulchat(tmp_path, original_folder):
    model = AutoModel.from_pretrained(original_folder, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(original_folder)
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", _REMOTE_SCRIPT, str(tmp_path / "model"), json.dumps(PROMPTS)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads(result.stdout.strip().splitlines()[-1])
    assert remote["model"].startswith("transformers_modules") and remote["tokenizer"].startswith(
        "transformers_modules"
    )
    inputs = tokenizer(PROMPTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    assert remote["logits"] == logits.flatten().tolist()[:50]
    assert remote["generated"] == model.generate(**inputs, max_new_tokens=3, do_sample=False).tolist()
