"""`SoulChatTrainer`: a `Seq2SeqTrainer` for decoder-only counselling models, evaluated by generating replies."""

import contextlib
import dataclasses
import inspect
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import Seq2SeqTrainer, Trainer
from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled
from transformers.trainer_utils import unwrap_peft_model

from soulchat.metrics.trainer import make_compute_metrics
from soulchat.training.collator import DataCollatorForSoulChat
from soulchat.training.sampler import SoulChatLengthGroupedSampler
from soulchat.training.tokenization import IGNORE_INDEX

logger = logging.getLogger(__name__)

_GENERATION_PREFIX = "generation_"


class SoulChatTrainer(Seq2SeqTrainer):
    """[`~transformers.Seq2SeqTrainer`] for causal LMs fed by [`DataCollatorForSoulChat`].

    Training is the parent's (DeepSpeed, DDP, resuming, ...), except that training steps ask models that support it for
    the loss only (`args.skip_logits`; ChatGLM then never materialises the `[batch, seq, vocab]` logits). With `predict_with_generate`, evaluation
    computes the loss on the training layout of each batch, generates from the left-padded prompts
    (`generation_*` keys of the batch), strips the prompt from the outputs and scores them against `reference_ids`
    with `compute_metrics` (by default the project's BLEU/ROUGE, [`make_compute_metrics`]). The first
    `args.log_samples` (prompt, prediction, reference) triples of each evaluation are logged and written to
    `output_dir/generated_samples-{step}.jsonl`.

    Args:
        model (`PreTrainedModel`):
            A causal language model (ChatGLM-6B or any `AutoModelForCausalLM`), possibly wrapped by peft.
        args ([`SoulChatSFTConfig`]):
            The training arguments (`log_samples` and `generation_max_new_tokens` are read when present).
        compute_metrics (`Callable`, *optional*):
            Scores `(predictions, references)`; defaults to the project's BLEU/ROUGE when generating.
        **kwargs:
            Passed to [`~transformers.Seq2SeqTrainer`] (`train_dataset`, `eval_dataset`, `data_collator`,
            `processing_class`, `callbacks`, ...).
    """

    def __init__(self, model: nn.Module, args: Any, *, compute_metrics: Any = None, **kwargs: Any):
        tokenizer = kwargs.get("processing_class")
        if compute_metrics is None and getattr(args, "predict_with_generate", False) and tokenizer is not None:
            compute_metrics = make_compute_metrics(tokenizer)
        super().__init__(model=model, args=args, compute_metrics=compute_metrics, **kwargs)
        self._samples: list[dict[str, str]] = []

    def compute_loss(self, model: nn.Module, inputs: dict[str, Any], return_outputs: bool = False, **kwargs: Any):
        """The parent's loss; training steps of a model whose forward takes `skip_logits` ask for the loss only."""
        if (
            getattr(self.args, "skip_logits", True)
            and model.training
            and not return_outputs
            and self.label_smoother is None
            and self.compute_loss_func is None
            and "labels" in inputs
            and self._model_accepts_skip_logits()
        ):
            inputs = {**inputs, "skip_logits": True}
        return super().compute_loss(model, inputs, return_outputs=return_outputs, **kwargs)

    def _model_accepts_skip_logits(self) -> bool:
        model = unwrap_peft_model(self.accelerator.unwrap_model(self.model))
        return "skip_logits" in inspect.signature(model.forward).parameters

    def _get_train_sampler(self, train_dataset: Any = None):
        """`group_by_length` with the tokenised `length` column: [`SoulChatLengthGroupedSampler`] (larger mega-batches,
        `args.length_group_megabatch` batches each); anything else: the parent's sampler."""
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        column = self.args.length_column_name
        if self.args.train_sampling_strategy != "group_by_length" or column not in getattr(
            dataset, "column_names", ()
        ):
            return super()._get_train_sampler(train_dataset)
        return SoulChatLengthGroupedSampler(
            self.args.train_batch_size * self.args.gradient_accumulation_steps,
            lengths=dataset[column],
            megabatch_batches=getattr(self.args, "length_group_megabatch", 100),
        )

    @contextlib.contextmanager
    def _generation_collator(self) -> Iterator[None]:
        """While evaluation dataloaders are built, batches also carry the left-padded prompts to generate from."""
        collator = self.data_collator
        if self.args.predict_with_generate and isinstance(collator, DataCollatorForSoulChat):
            self.data_collator = dataclasses.replace(collator, generation=True)
        try:
            yield
        finally:
            self.data_collator = collator

    def get_eval_dataloader(self, eval_dataset: Any = None):
        with self._generation_collator():
            return super().get_eval_dataloader(eval_dataset)

    def get_test_dataloader(self, test_dataset: Any):
        with self._generation_collator():
            return super().get_test_dataloader(test_dataset)

    def evaluate(self, eval_dataset: Any = None, ignore_keys: list[str] | None = None, **kwargs: Any):
        self._samples = []
        metrics = super().evaluate(eval_dataset, ignore_keys=ignore_keys, **kwargs)
        if self._samples and self.is_world_process_zero():
            path = Path(self.args.output_dir) / f"generated_samples-{self.state.global_step}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in self._samples), "utf-8")
        return metrics

    def _generation_kwargs(self, gen_kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs = dict(getattr(self, "_gen_kwargs", {}) or {}) if not gen_kwargs else dict(gen_kwargs)
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        if "max_length" not in kwargs and "max_new_tokens" not in kwargs:
            default = getattr(self.args, "generation_max_new_tokens", None) or getattr(
                self.args, "max_target_length", 64
            )
            kwargs["max_new_tokens"] = default
        kwargs.setdefault("synced_gpus", is_deepspeed_zero3_enabled() and self.args.world_size > 1)
        return kwargs

    def prediction_step(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
        **gen_kwargs: Any,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """Loss on the training layout; with `predict_with_generate`, also the generated replies (prompt stripped)
        and the references. Returns `(loss, generated_ids [batch, new], reference_ids [batch, ref])`."""
        inputs = dict(inputs)
        generation_inputs = {
            key[len(_GENERATION_PREFIX) :]: inputs.pop(key)
            for key in list(inputs)
            if key.startswith(_GENERATION_PREFIX)
        }
        references = inputs.pop("reference_ids", None)
        generate = self.args.predict_with_generate and not prediction_loss_only and generation_inputs
        loss, logits, labels = Trainer.prediction_step(
            self, model, inputs, prediction_loss_only=bool(generate) or prediction_loss_only, ignore_keys=ignore_keys
        )
        if not generate:
            return loss, logits, labels
        generation_inputs = self._prepare_inputs(generation_inputs)
        prompt_length = generation_inputs["input_ids"].shape[1]
        with torch.no_grad():
            generated = self.model.generate(**generation_inputs, **self._generation_kwargs(gen_kwargs))
        generated = generated[:, prompt_length:]
        references = references.to(generated.device)
        self._log_samples(generation_inputs["input_ids"], generated, references)
        return loss, generated, references

    def _log_samples(self, prompts: torch.Tensor, generated: torch.Tensor, references: torch.Tensor) -> None:
        wanted = getattr(self.args, "log_samples", 0) - len(self._samples)
        tokenizer = self.processing_class
        if wanted <= 0 or tokenizer is None or not self.is_world_process_zero():
            return
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

        def decode(ids: torch.Tensor) -> str:
            return tokenizer.decode(ids.masked_fill(ids == IGNORE_INDEX, pad_id).tolist(), skip_special_tokens=True)

        for prompt, prediction, reference in list(zip(prompts, generated, references, strict=True))[:wanted]:
            sample = {"prompt": decode(prompt), "prediction": decode(prediction), "reference": decode(reference)}
            self._samples.append(sample)
            logger.info(
                "step %d sample:\n%s", self.state.global_step, json.dumps(sample, ensure_ascii=False, indent=1)
            )


__all__ = ["SoulChatTrainer"]
