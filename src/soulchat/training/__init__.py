"""Supervised fine-tuning of counselling models: tokenisation within budgets, collation, the trainer and its configs.

`soulchat train CONFIG.yaml` runs [`run_training`] on a [`SoulChatSFTConfig`]; DeepSpeed ZeRO-2/3 configurations ship
as package data (see [`deepspeed_config_path`]).
"""

from soulchat.training.collator import DataCollatorForSoulChat
from soulchat.training.deepspeed import DEEPSPEED_CONFIGS, deepspeed_config_path, resolve_deepspeed_config
from soulchat.training.model_loading import add_lora, load_model, load_tokenizer, merge_and_save
from soulchat.training.sampler import SoulChatLengthGroupedSampler
from soulchat.training.sft_config import SoulChatSFTConfig, load_sft_config
from soulchat.training.sft_trainer import SoulChatTrainer
from soulchat.training.tokenization import encode_chat_template, encode_chatglm, encode_chatglm_table
from soulchat.training.tokenizer_training import train_chatglm_tokenizer
from soulchat.training.workflow import TrainingResult, run_training

__all__ = [
    "DEEPSPEED_CONFIGS",
    "DataCollatorForSoulChat",
    "SoulChatLengthGroupedSampler",
    "SoulChatSFTConfig",
    "SoulChatTrainer",
    "TrainingResult",
    "add_lora",
    "deepspeed_config_path",
    "encode_chat_template",
    "encode_chatglm",
    "encode_chatglm_table",
    "load_model",
    "load_sft_config",
    "load_tokenizer",
    "merge_and_save",
    "resolve_deepspeed_config",
    "run_training",
    "train_chatglm_tokenizer",
]
