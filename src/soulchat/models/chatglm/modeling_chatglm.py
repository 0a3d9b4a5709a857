"""PyTorch ChatGLM-6B (v1, GLM architecture), native to transformers 5.

Weight names are those of the original `THUDM/chatglm-6b` checkpoint, so its folder loads as is. The numerics follow
the original: fp16-rounded rotary frequencies, 2D rotary positions, DeepNorm-style residuals with a fixed alpha and
the bidirectional-context attention mask. Attention goes through the transformers attention interface, so `eager`
(the original's arithmetic) and `sdpa` both work and agree.

This file depends only on torch, transformers and its siblings (`configuration_chatglm.py`, `masking_chatglm.py`,
`chat_chatglm.py`, `quantization_chatglm.py`, `loss_chatglm.py`), which `save_pretrained` copies next to the weights,
so a saved folder loads as remote code. With `config.quantization_bit` (4 or 8) the block linears are the int8 / int4
layers of `quantization_chatglm.py`, under the original `-int4` / `-int8` / `-int4-qe` key names.
"""

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F
from transformers import GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache, DynamicCache
from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils import logging

from .chat_chatglm import ChatGLMChatMixin
from .configuration_chatglm import ChatGLMConfig
from .loss_chatglm import chunked_lm_head_cross_entropy, lm_cross_entropy
from .masking_chatglm import (
    advance_position_ids,
    get_attention_visibility,
    get_position_ids,
    padding_mask_from_glm_mask,
)
from .quantization_chatglm import (
    ChatGLMQuantizedEmbedding,
    ChatGLMQuantizedLinear,
    chatglm_embedding,
    chatglm_linear,
    chatglm_lm_head,
    log_quantized_path,
    quantize_chatglm,
    quantized_embeddings,
)

logger = logging.get_logger(__name__)

# The original block takes `num_layers=28` as a default argument that the model never overrides, so the residual
# scale is sqrt(2 * 28) for every depth (tiny test models included).
RESIDUAL_ALPHA = math.sqrt(2 * 28)


class ChatGLMRotaryEmbedding(nn.Module):
    """2D rotary embedding: the first half of each head rotates with the position, the second with the block position.

    The inverse frequencies are rounded to fp16 as in the original checkpoint code (which stores them as a half
    buffer); angles, cosines and sines are then computed in fp32 and cast to the compute dtype.
    """

    def __init__(self, config: ChatGLMConfig):
        super().__init__()
        self.dim = config.hidden_size // config.num_attention_heads // 2
        self.base = 10000.0

    def forward(self, x: torch.Tensor, position_ids: torch.LongTensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns `cos` and `sin` of shape `[batch, 1, seq, head_dim]` for `position_ids` of shape `[batch, 2, seq]`."""
        steps = torch.arange(0, self.dim, 2, device=x.device, dtype=torch.float32)
        inv_freq = (1.0 / self.base ** (steps / self.dim)).half().float()
        freqs = position_ids[..., None].float() * inv_freq  # [batch, 2, seq, dim / 2]
        emb = torch.cat((freqs, freqs), dim=-1)  # [batch, 2, seq, dim]
        emb = torch.cat((emb[:, 0], emb[:, 1]), dim=-1).unsqueeze(1)  # [batch, 1, seq, 2 * dim]
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)


def rotate_half_2d(x: torch.Tensor) -> torch.Tensor:
    """Rotates each half of the head (position half, block half) NeoX-style: `[a1, a2 | b1, b2] -> [-a2, a1 | -b2, b1]`."""
    a1, a2, b1, b2 = x.chunk(4, dim=-1)
    return torch.cat((-a2, a1, -b2, b1), dim=-1)


def apply_rotary_pos_emb_2d(
    query: torch.Tensor, key: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Applies the 2D rotary embedding to `query` and `key` (`[batch, heads, seq, head_dim]`); values are never rotated."""
    return query * cos + rotate_half_2d(query) * sin, key * cos + rotate_half_2d(key) * sin


class ChatGLMMLP(nn.Module):
    """The feed-forward layer: `dense_4h_to_h(gelu_tanh(dense_h_to_4h(x)))`, no gating despite the original name `GLU`."""

    def __init__(self, config: ChatGLMConfig):
        super().__init__()
        self.dense_h_to_4h = chatglm_linear(config, config.hidden_size, config.inner_hidden_size)
        self.dense_4h_to_h = chatglm_linear(config, config.inner_hidden_size, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dense_4h_to_h(F.gelu(self.dense_h_to_4h(hidden_states), approximate="tanh"))


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The original attention arithmetic.

    The query is divided by `sqrt(head_dim) * (layer_idx + 1)` and the fp32 scores multiplied back by
    `(layer_idx + 1)` (fp16 overflow protection); masked scores are *replaced* by a constant, so a fully masked row
    (a left-pad query) attends uniformly instead of producing NaN. `query` is `[batch, heads, q_len, head_dim]`,
    `key`/`value` `[batch, heads, kv_len, head_dim]`, `attention_mask` additive `[batch, 1, q_len, kv_len]`.
    Returns the context `[batch, q_len, heads, head_dim]` and the probabilities.
    """
    coeff = float(module.layer_idx + 1)
    scores = torch.matmul(query / (math.sqrt(query.shape[-1]) * coeff), key.transpose(2, 3))
    scores = scores.float() * coeff
    if attention_mask is not None:
        scores = scores.masked_fill(attention_mask < 0, torch.finfo(torch.float32).min)
    probs = F.softmax(scores, dim=-1).to(value.dtype)
    if dropout:  # ChatGLM-6B itself has no attention dropout
        probs = F.dropout(probs, p=dropout, training=module.training)
    return torch.matmul(probs, value).transpose(1, 2).contiguous(), probs


class ChatGLMAttention(nn.Module):
    """Multi-head self-attention with a fused, per-head interleaved QKV projection (`[q_h, k_h, v_h]` for each head h)."""

    def __init__(self, config: ChatGLMConfig, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.num_key_value_groups = 1
        # The mask is never purely causal (the context is bidirectional): it is always passed explicitly.
        self.is_causal = False
        self.query_key_value = chatglm_linear(config, config.hidden_size, 3 * config.hidden_size)
        self.dense = chatglm_linear(config, config.hidden_size, config.hidden_size)

    def forward(
        self,
        hidden_states: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        attention_mask: torch.Tensor | None = None,
        prefix_key: torch.Tensor | None = None,
        prefix_value: torch.Tensor | None = None,
        cache: Cache | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch_size, seq_length, _ = hidden_states.shape
        qkv = self.query_key_value(hidden_states).view(batch_size, seq_length, self.num_heads, 3 * self.head_dim)
        query, key, value = qkv.transpose(1, 2).split(self.head_dim, dim=-1)
        query, key = apply_rotary_pos_emb_2d(query, key, *position_embeddings)
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx)
        if prefix_key is not None:
            # The P-tuning prefix is not rotated and stays out of the cache (it is rebuilt from its encoder).
            key = torch.cat((prefix_key.to(key.dtype), key), dim=2)
            value = torch.cat((prefix_value.to(value.dtype), value), dim=2)

        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        context, probs = attention_interface(
            self, query, key, value, attention_mask, scaling=self.scaling, dropout=0.0, **kwargs
        )
        return self.dense(context.reshape(batch_size, seq_length, -1)), probs


class ChatGLMBlock(GradientCheckpointingLayer):
    """A GLM block; the residuals add the *normalised* input scaled by `RESIDUAL_ALPHA` (DeepNorm-like)."""

    def __init__(self, config: ChatGLMConfig, layer_idx: int):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layernorm_epsilon)
        self.attention = ChatGLMAttention(config, layer_idx)
        self.post_attention_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layernorm_epsilon)
        self.mlp = ChatGLMMLP(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        prefix_key: torch.Tensor | None = None,
        prefix_value: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        cache: Cache | None = None,
        **kwargs,
    ) -> torch.Tensor:
        # The prefix is passed positionally so that reentrant gradient checkpointing still propagates its gradient.
        normed = self.input_layernorm(hidden_states)
        attention_output, _ = self.attention(
            normed, position_embeddings, attention_mask, prefix_key, prefix_value, cache, **kwargs
        )
        hidden_states = normed * RESIDUAL_ALPHA + attention_output
        normed = self.post_attention_layernorm(hidden_states)
        return normed * RESIDUAL_ALPHA + self.mlp(normed)


class ChatGLMPrefixEncoder(nn.Module):
    """P-tuning v2 prefix: `[batch, pre_seq_len] -> [batch, pre_seq_len, 2 * num_layers * hidden]` keys and values."""

    def __init__(self, config: ChatGLMConfig):
        super().__init__()
        out_features = config.num_layers * 2 * config.hidden_size
        if config.prefix_projection:
            self.embedding = nn.Embedding(config.pre_seq_len, config.hidden_size)
            self.trans = nn.Sequential(
                nn.Linear(config.hidden_size, config.hidden_size),
                nn.Tanh(),
                nn.Linear(config.hidden_size, out_features),
            )
        else:
            self.embedding = nn.Embedding(config.pre_seq_len, out_features)
            self.trans = None

    def forward(self, prefix: torch.LongTensor) -> torch.Tensor:
        embedded = self.embedding(prefix)
        return self.trans(embedded) if self.trans is not None else embedded


class ChatGLMPreTrainedModel(PreTrainedModel):
    config: ChatGLMConfig
    config_class = ChatGLMConfig
    base_model_prefix = "transformer"
    supports_gradient_checkpointing = True
    _no_split_modules = ["ChatGLMBlock"]
    _supports_sdpa = True
    _supports_attention_backend = True
    # The original checkpoints store the rotary `inv_freq` buffers; they are recomputed, never loaded.
    _keys_to_ignore_on_load_unexpected = [r"rotary_emb\.inv_freq"]

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """[`~PreTrainedModel.from_pretrained`]; loading recreates the parameters, so the P-tuning freeze is redone."""
        loaded = super().from_pretrained(*args, **kwargs)
        (loaded[0] if isinstance(loaded, tuple) else loaded).freeze_base_for_prefix_tuning()
        return loaded

    def freeze_base_for_prefix_tuning(self) -> None:
        """With `config.pre_seq_len` (P-tuning v2), only the prefix encoder trains: every other weight is frozen."""
        if self.config.pre_seq_len:
            for name, param in self.named_parameters():
                param.requires_grad_("prefix_encoder" in name)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, (ChatGLMQuantizedLinear, ChatGLMQuantizedEmbedding)):
            # A fresh quantised model gets the quantisation of a normal initialisation.
            shape = (module.weight.shape[0], module.weight.shape[1] * 8 // module.bits)
            module.set_quantized(torch.randn(shape, device=module.weight.device) * std)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class ChatGLMModel(ChatGLMPreTrainedModel):
    """The bare ChatGLM transformer: embeddings, `num_layers` GLM blocks and the final LayerNorm."""

    def __init__(self, config: ChatGLMConfig):
        super().__init__(config)
        if not config.position_encoding_2d:
            raise NotImplementedError("only the 2D position encoding of ChatGLM-6B is implemented")
        self.word_embeddings = chatglm_embedding(config)
        self.layers = nn.ModuleList([ChatGLMBlock(config, layer_idx) for layer_idx in range(config.num_layers)])
        self.final_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layernorm_epsilon)
        self.rotary_emb = ChatGLMRotaryEmbedding(config)
        self.gradient_checkpointing = False
        self.prefix_encoder = None
        if config.pre_seq_len:
            self.prefix_encoder = ChatGLMPrefixEncoder(config)
            self.prefix_dropout = nn.Dropout(0.1)
        self.post_init()
        self.freeze_base_for_prefix_tuning()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.word_embeddings = value

    def get_prefix(self, batch_size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Returns the prefix keys and values `[2 * num_layers, batch, heads, pre_seq_len, head_dim]` (key of layer i at
        index 2i, value at 2i + 1)."""
        config = self.config
        prefix = torch.arange(config.pre_seq_len, device=device)[None].expand(batch_size, -1)
        past = self.prefix_encoder(prefix).to(dtype)
        head_dim = config.hidden_size // config.num_attention_heads
        past = past.view(batch_size, config.pre_seq_len, 2 * config.num_layers, config.num_attention_heads, head_dim)
        return self.prefix_dropout(past).permute(2, 0, 3, 1, 4)

    def _default_position_ids(
        self, input_ids: torch.LongTensor | None, attention_mask: torch.Tensor | None, past_length: int
    ) -> torch.LongTensor:
        """Position ids of a prompt, from its ids and the padding encoded in `attention_mask` (2D or original 4D)."""
        if input_ids is None or past_length > 0:
            raise ValueError("pass `position_ids` with `inputs_embeds` or when continuing from a cache")
        padding_mask = None
        if attention_mask is not None:
            padding_mask = attention_mask if attention_mask.dim() == 2 else padding_mask_from_glm_mask(attention_mask)
        return get_position_ids(input_ids, padding_mask, self.config)

    def _get_additive_mask(
        self,
        input_ids: torch.LongTensor | None,
        attention_mask: torch.Tensor | None,
        past_length: int,
        inputs_embeds: torch.Tensor,
    ) -> torch.Tensor | None:
        """Turns the accepted mask formats into an additive `[batch, 1, seq, prefix + past + seq]` mask (None if all visible)."""
        if attention_mask is not None and attention_mask.dim() == 4:
            visible = ~attention_mask.bool()  # the original convention: True = masked
        elif input_ids is None:
            raise ValueError("with `inputs_embeds`, pass the original 4D `attention_mask` (True = masked)")
        else:
            visible = get_attention_visibility(input_ids, attention_mask, past_length, self.config)
        if self.config.pre_seq_len:
            prefix = visible.new_ones(*visible.shape[:3], self.config.pre_seq_len)
            visible = torch.cat((prefix, visible), dim=-1)
        if bool(visible.all()):
            return None
        dtype = inputs_embeds.dtype
        return torch.zeros(visible.shape, dtype=dtype, device=visible.device).masked_fill(
            ~visible, torch.finfo(dtype).min
        )

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPast | tuple:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`):
                Token ids; every prompt contains `[gMASK]` (or `[MASK]`) and `<sop>`.
            position_ids (`torch.LongTensor` of shape `(batch_size, 2, seq_len)`, *optional*):
                Positions and block positions; built from `input_ids` (and the padding mask) when omitted. Required
                when continuing from a non-empty `cache`.
            attention_mask (`torch.Tensor`, *optional*):
                Either the original mask `(batch_size, 1, seq_len, past + seq_len)` (bool, True = masked) as the
                tokenizer returns it when padding, or a padding mask `(batch_size, past + seq_len)` (1 = token, 0 = pad).
            cache (`Cache`, *optional*):
                Key/value cache of the previous tokens (the P-tuning prefix is never stored in it).
            inputs_embeds (`torch.Tensor` of shape `(batch_size, seq_len, hidden_size)`, *optional*):
                Embeddings to use instead of `input_ids` (then `position_ids` and a 4D mask are required).
            use_cache (`bool`, *optional*, defaults to `config.use_cache`):
                Whether to return the cache.
            output_hidden_states (`bool`, *optional*):
                Whether to return the input of every block plus the final LayerNorm output, each `[batch, seq, hidden]`.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("specify exactly one of `input_ids` and `inputs_embeds`")
        use_cache = use_cache if use_cache is not None else self.config.use_cache
        if self.gradient_checkpointing and self.training and use_cache:
            logger.warning_once(
                "`use_cache=True` is incompatible with gradient checkpointing; using `use_cache=False`."
            )
            use_cache = False
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)
        past_length = cache.get_seq_length() if cache is not None else 0
        if position_ids is None:
            position_ids = self._default_position_ids(input_ids, attention_mask, past_length)
        mask = self._get_additive_mask(input_ids, attention_mask, past_length, inputs_embeds)
        prefix = None
        if self.prefix_encoder is not None:
            prefix = self.get_prefix(inputs_embeds.shape[0], inputs_embeds.dtype, inputs_embeds.device)
        position_embeddings = self.rotary_emb(inputs_embeds, position_ids)

        hidden_states = inputs_embeds
        all_hidden_states = () if output_hidden_states else None
        for layer_idx, layer in enumerate(self.layers):
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            prefix_key, prefix_value = (
                (prefix[2 * layer_idx], prefix[2 * layer_idx + 1]) if prefix is not None else (None, None)
            )
            hidden_states = layer(
                hidden_states,
                prefix_key,
                prefix_value,
                attention_mask=mask,
                position_embeddings=position_embeddings,
                cache=cache,
                **kwargs,
            )
        hidden_states = self.final_layernorm(hidden_states)
        if output_hidden_states:
            all_hidden_states += (hidden_states,)
        output = BaseModelOutputWithPast(
            last_hidden_state=hidden_states, cache=cache if use_cache else None, hidden_states=all_hidden_states
        )
        return output if return_dict is not False else output.to_tuple()


class ChatGLMForConditionalGeneration(ChatGLMChatMixin, ChatGLMPreTrainedModel, GenerationMixin):
    """ChatGLM with its language-model head (tied to the word embeddings), `generate()`, `chat()` and `stream_chat()`."""

    _tied_weights_keys = {"lm_head.weight": "transformer.word_embeddings.weight"}
    # Saving copies the modeling files next to the weights and records them in `auto_map` (remote-code loading).
    _auto_class = "AutoModel"

    def __init__(self, config: ChatGLMConfig):
        super().__init__(config)
        self.transformer = ChatGLMModel(config)
        self.lm_head = chatglm_lm_head(config, self.transformer.word_embeddings)
        self._tie_quantized_head()
        self.post_init()
        log_quantized_path(config)
        self.freeze_base_for_prefix_tuning()

    def _tie_quantized_head(self) -> None:
        # -qe: the head shares the embedding's int8 table *and* its scales.
        if quantized_embeddings(self.config):
            self._tied_weights_keys = {
                **type(self)._tied_weights_keys,
                "lm_head.weight_scale": "transformer.word_embeddings.weight_scale",
            }

    def quantize(self, bits: int, *, quantize_embeddings: bool = False) -> "ChatGLMForConditionalGeneration":
        """Quantises the model in place to `bits` (4 or 8) with the original, bit-exact arithmetic (see
        `quantization_chatglm.py`); with `quantize_embeddings`, the embeddings and tied head too (`-int4-qe`)."""
        quantize_chatglm(self, bits, quantize_embeddings=quantize_embeddings)
        self._tie_quantized_head()
        self.all_tied_weights_keys = self.get_expanded_tied_weights_keys(all_submodels=False)
        return self

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        self.lm_head = new_embeddings

    def tie_weights(self, missing_keys: set[str] | None = None, recompute_mapping: bool = True) -> None:
        # The original loader always ties the head to the embeddings, ignoring the stored `lm_head.weight`; transformers
        # would keep both when they differ. Treating the head as missing makes the embeddings win, as in the original.
        # In place: the parent discards each key it ties from the caller's set, so the load report stays clean.
        if missing_keys is not None and self.config.tie_word_embeddings:
            missing_keys.update(self.all_tied_weights_keys)
        super().tie_weights(missing_keys=missing_keys, recompute_mapping=recompute_mapping)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        logits_to_keep: int = 0,
        skip_logits: bool | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast | tuple:
        r"""
        Args are those of [`ChatGLMModel.forward`], plus:
            labels (`torch.LongTensor` of shape `(batch_size, seq_len)`, *optional*):
                Targets aligned with `input_ids` (shifted inside); -100 is ignored. The loss is the mean cross
                entropy over the kept targets, computed in fp32.
            logits_to_keep (`int`, *optional*, defaults to 0):
                Compute the logits of the last `logits_to_keep` positions only (0 = all).
            skip_logits (`bool`, *optional*, defaults to `False`):
                Only compute the loss (`labels` required) and return no logits, with the memory-saving fused head and
                cross entropy of `loss_chatglm.py`: the `[batch, seq, vocab]` logits are never materialised, only
                chunks of them, and ignored targets cost nothing. Same loss and gradients; meant for training (the
                name is the one the transformers `Trainer` passes). The backward pass can run once.
            num_items_in_batch (`int` or `torch.Tensor`, *optional*):
                Divide the summed loss by this number of kept targets (the transformers `Trainer` passes the count of
                the whole gradient-accumulation step) instead of taking the mean over this batch.
        """
        if skip_logits and labels is None:
            raise ValueError("`skip_logits=True` computes only the loss: pass `labels`")
        outputs = self.transformer(
            input_ids=input_ids,
            position_ids=position_ids,
            attention_mask=attention_mask,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        if skip_logits:
            logits = None
            loss = self._chunked_loss(hidden_states, labels, num_items_in_batch)
        else:
            if logits_to_keep:
                hidden_states = hidden_states[:, -logits_to_keep:]
            logits = self.lm_head(hidden_states)
            loss = None if labels is None else lm_cross_entropy(logits, labels, num_items_in_batch=num_items_in_batch)
        output = CausalLMOutputWithPast(
            loss=loss, logits=logits, cache=outputs.cache, hidden_states=outputs.hidden_states
        )
        return output if return_dict is not False else output.to_tuple()

    def _chunked_loss(
        self, hidden_states: torch.Tensor, labels: torch.LongTensor, num_items_in_batch: int | torch.Tensor | None
    ) -> torch.Tensor:
        """The loss of `skip_logits`: fused and chunked for a plain bias-free head, the original loss otherwise."""
        head = self.lm_head
        plain = type(head) is nn.Linear and head.bias is None and head.weight.device.type != "meta"
        if plain and not is_deepspeed_zero3_enabled():
            # The head's weight is read directly, so inputs go to its device (as a device-map hook would move them).
            return chunked_lm_head_cross_entropy(
                hidden_states.to(head.weight.device), head.weight, labels, num_items_in_batch=num_items_in_batch
            )
        # A quantised (-qe) or wrapped head, or a ZeRO-3-partitioned or offloaded weight: same loss, no memory saving.
        logger.warning_once("skip_logits: the head is not a plain linear layer; the full logits are computed")
        return lm_cross_entropy(head(hidden_states), labels, num_items_in_batch=num_items_in_batch)

    # --- generation ---------------------------------------------------------------------------------------------

    def generate(self, inputs: torch.Tensor | None = None, generation_config=None, **kwargs):
        """[`~GenerationMixin.generate`], also accepting the tokenizer's 4D `attention_mask` (reduced to the padding
        mask it encodes; the model rebuilds the same GLM mask) and 2D `position_ids`."""
        attention_mask = kwargs.get("attention_mask")
        if attention_mask is not None and attention_mask.dim() == 4:
            kwargs["attention_mask"] = padding_mask_from_glm_mask(attention_mask)
        return super().generate(inputs, generation_config, **kwargs)

    def _prepare_position_ids_for_generation(
        self, inputs_tensor: torch.Tensor, model_kwargs: dict
    ) -> torch.LongTensor:
        input_ids = model_kwargs.get("input_ids", inputs_tensor)
        return get_position_ids(input_ids, model_kwargs.get("attention_mask"), self.config)

    def _expand_inputs_for_generation(
        self, expand_size: int = 1, is_encoder_decoder: bool = False, input_ids=None, **model_kwargs
    ):
        # The generic expansion treats 3D position ids as `[3, batch, seq]` (multimodal RoPE); ours are `[batch, 2, seq]`.
        position_ids = model_kwargs.pop("position_ids", None)
        input_ids, model_kwargs = super()._expand_inputs_for_generation(
            expand_size=expand_size, is_encoder_decoder=is_encoder_decoder, input_ids=input_ids, **model_kwargs
        )
        if position_ids is not None:
            model_kwargs["position_ids"] = position_ids.repeat_interleave(expand_size, dim=0)
        return input_ids, model_kwargs

    def _update_model_kwargs_for_generation(
        self, outputs, model_kwargs: dict, is_encoder_decoder: bool = False, num_new_tokens: int = 1
    ) -> dict:
        # New tokens keep the mask position and advance the block position.
        position_ids = model_kwargs.pop("position_ids", None)
        model_kwargs = super()._update_model_kwargs_for_generation(
            outputs, model_kwargs, is_encoder_decoder=is_encoder_decoder, num_new_tokens=num_new_tokens
        )
        if position_ids is not None:
            model_kwargs["position_ids"] = advance_position_ids(position_ids, num_new_tokens)
        return model_kwargs


__all__ = [
    "ChatGLMPreTrainedModel",
    "ChatGLMModel",
    "ChatGLMForConditionalGeneration",
]
