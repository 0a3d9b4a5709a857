"""Weight-only int8 / int4 quantisation of ChatGLM-6B, bit-compatible with the `THUDM/chatglm-6b-int8`, `-int4` and
`-int4-qe` checkpoints.

Format (one scale per output row, no zero point, no groups): `scale = fp16(amax / qmax)` with `qmax = 2^(bits-1) - 1`,
`q = round_half_even(fp16(w / scale))`. Int4 values are packed two per byte, the even column in the high nibble, each
nibble a signed 4-bit two's-complement value. A quantised linear stores `weight` (int8, `[out, in]` or `[out, in/2]`),
`weight_scale` (`[out]`, fp16 or fp32) and its `bias` under the original key names.

The forward pass is plain torch on every device: the weight is dequantised on each call as the exact fp32 product
`q * scale`, cast to the activation dtype. In fp32 (CPU) this is the original CPU kernels' arithmetic; in fp16 it is a
single correctly rounded fp16 multiply, the original CUDA kernel's arithmetic.

`cpm_kernels` is not used: it ships no quantisation kernel (the original embeds its own compiled kernels, which have
no code for sm_90 and newer GPUs), and plain torch gives the same weights on every device.

This file depends only on torch and transformers, so `save_pretrained` can copy it next to the weights (remote code).
"""

import torch
from torch import nn
from torch.nn import functional as F
from transformers.utils import logging

from .configuration_chatglm import ChatGLMConfig

logger = logging.get_logger(__name__)

SUPPORTED_BITS = (4, 8)
# The four linears of each block that the original quantises; LayerNorms, biases and the prefix encoder never are.
QUANTIZED_LINEARS = ("attention.query_key_value", "attention.dense", "mlp.dense_h_to_4h", "mlp.dense_4h_to_h")


def _check_bits(bits: int) -> None:
    if bits not in SUPPORTED_BITS:
        raise ValueError(f"quantization bits must be 4 or 8, got {bits}")


def quantize_weight(weight: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantises a `[out, in]` weight row by row with the original arithmetic.

    The weight is first rounded to fp16 (the original's documented `model.half().quantize(bits)`), so the result does
    not depend on the model's dtype. All-zero rows (which the original turns into NaN) give a zero scale and zero
    values.

    Args:
        weight (`torch.Tensor` of shape `(out, in)`):
            The full-precision weight.
        bits (`int`):
            4 or 8.

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: the unpacked values `q` (int8 `(out, in)`, within `[-qmax, qmax]`) and the
        fp16 scales `(out,)`.
    """
    _check_bits(bits)
    qmax = 2 ** (bits - 1) - 1
    weight16 = weight.detach().to(torch.float16)
    amax = weight16.abs().amax(dim=-1)  # exact in fp16
    # A half tensor divided by an int is computed in fp32 and rounded once to fp16.
    scale = (amax.float() / qmax).to(torch.float16)
    divisor = torch.where(scale == 0, torch.ones_like(scale), scale)
    # The quotient is a half / half division: an fp32 quotient rounded to fp16 before rounding to an integer.
    quotient = (weight16.float() / divisor.float()[:, None]).to(torch.float16)
    values = torch.round(quotient.float()).to(torch.int8)  # torch.round rounds half to even
    return values, scale


def pack_int4(values: torch.Tensor) -> torch.Tensor:
    """Packs int4 values `(out, in)` (int8 in `[-8, 7]`, `in` even) into bytes `(out, in / 2)`: column `2k` in the high
    nibble and `2k + 1` in the low nibble of byte `k`, each a signed two's-complement nibble, stored as int8."""
    if values.shape[-1] % 2:
        raise ValueError(f"int4 packing needs an even number of columns, got {values.shape[-1]}")
    wide = values.to(torch.int16)
    packed = ((wide[..., 0::2] & 0xF) << 4) | (wide[..., 1::2] & 0xF)  # 0..255
    return torch.where(packed > 127, packed - 256, packed).to(torch.int8)


def unpack_int4(packed: torch.Tensor) -> torch.Tensor:
    """Unpacks bytes `(out, in / 2)` into the signed int4 values `(out, in)` (int8 in `[-8, 7]`); inverse of
    [`pack_int4`]."""
    high = packed >> 4  # arithmetic shift of the signed byte: the sign-extended high nibble
    low = packed - (high << 4)  # the low nibble as 0..15 (high << 4 is within [-128, 112], no overflow)
    low = low - ((low & 0x8) << 1)  # sign-extends it
    return torch.stack((high, low), dim=-1).flatten(-2)


def dequantize_weight(
    weight: torch.Tensor, scale: torch.Tensor, bits: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Dequantises a stored weight (`(out, in)` int8, or `(out, in / 2)` packed int4) with its scales `(out,)`.

    Returns `q * scale` as `(out, in)` in `dtype`: the exact fp32 product, rounded once to `dtype` (so fp16 gives the
    original CUDA kernel's weights and fp32 the original CPU kernels' weights). A scale stored in fp32 is used as is.
    """
    values = unpack_int4(weight) if bits == 4 else weight
    # int8 * fp32 promotes to fp32 in one pass; the products are exact (at most 19 significant bits).
    return (values * scale.float()[..., None]).to(dtype)


class ChatGLMQuantizedLinear(nn.Module):
    """A linear layer with an int8 or packed int4 weight and one scale per output row (the original `QuantizedLinear`).

    Args:
        in_features (`int`):
            Input width (even for int4).
        out_features (`int`):
            Output width.
        bits (`int`):
            4 or 8.
        bias (`bool`, *optional*, defaults to `True`):
            Whether the layer has a (full-precision) bias.
    """

    def __init__(self, in_features: int, out_features: int, bits: int, bias: bool = True):
        super().__init__()
        _check_bits(bits)
        if bits == 4 and in_features % 2:
            raise ValueError(f"int4 needs an even in_features, got {in_features}")
        self.in_features, self.out_features, self.bits = in_features, out_features, bits
        stored = torch.zeros(out_features, in_features * bits // 8, dtype=torch.int8)
        self.weight = nn.Parameter(stored, requires_grad=False)
        self.weight_scale = nn.Parameter(torch.ones(out_features), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    @classmethod
    def from_linear(cls, linear: nn.Linear, bits: int) -> "ChatGLMQuantizedLinear":
        """Quantises `linear` with [`quantize_weight`]. The scales (fp16 values) and the bias keep the dtype of the
        linear, so an fp16 linear gives the original fp16 layout (a bf16 one rounds the scales to bf16)."""
        module = cls(linear.in_features, linear.out_features, bits, bias=linear.bias is not None)
        module.weight_scale.data = module.weight_scale.data.to(linear.weight.dtype)
        module.set_quantized(linear.weight)
        if linear.bias is not None:
            module.bias = nn.Parameter(linear.bias.detach().clone(), requires_grad=linear.bias.requires_grad)
        return module.to(linear.weight.device)

    @torch.no_grad()
    def set_quantized(self, weight: torch.Tensor) -> None:
        """Sets the stored weight and scales (in the scales' current dtype) to the quantisation of the full-precision
        `weight` `(out, in)`. The parameters keep their identity, so a tied head stays tied."""
        values, scale = quantize_weight(weight, self.bits)
        stored = pack_int4(values) if self.bits == 4 else values
        self.weight.data = stored.to(self.weight.device)
        self.weight_scale.data = scale.to(self.weight_scale.device, self.weight_scale.dtype)

    def dequantized_weight(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The weight `(out, in)` as `q * scale` in `dtype` (see [`dequantize_weight`])."""
        return dequantize_weight(self.weight, self.weight_scale, self.bits, dtype)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        weight = self.dequantized_weight(hidden_states.dtype)
        bias = self.bias.to(hidden_states.dtype) if self.bias is not None else None
        return F.linear(hidden_states, weight, bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bits={self.bits}"


class ChatGLMQuantizedEmbedding(nn.Module):
    """A word embedding with int8 or packed int4 rows and one scale per token (`-int4-qe` checkpoints).

    Only the looked-up rows are dequantised (the same values as the original's whole-table dequantisation). The
    output dtype is that of `weight_scale`, which follows the model's dtype (`.half()`, `.float()`, `dtype=`).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, bits: int):
        super().__init__()
        _check_bits(bits)
        self.num_embeddings, self.embedding_dim, self.bits = num_embeddings, embedding_dim, bits
        stored = torch.zeros(num_embeddings, embedding_dim * bits // 8, dtype=torch.int8)
        self.weight = nn.Parameter(stored, requires_grad=False)
        self.weight_scale = nn.Parameter(torch.ones(num_embeddings), requires_grad=False)

    @classmethod
    def from_embedding(cls, embedding: nn.Embedding, bits: int) -> "ChatGLMQuantizedEmbedding":
        """Quantises `embedding` row by row; the scales keep the embedding's dtype (the output dtype)."""
        module = cls(embedding.num_embeddings, embedding.embedding_dim, bits)
        module.weight_scale.data = module.weight_scale.data.to(embedding.weight.dtype)
        module.set_quantized(embedding.weight)
        return module.to(embedding.weight.device)

    # The storage layout is the linear's (row = token), so are these two methods.
    set_quantized = ChatGLMQuantizedLinear.set_quantized
    dequantized_weight = ChatGLMQuantizedLinear.dequantized_weight

    def forward(self, input_ids: torch.LongTensor) -> torch.Tensor:
        return dequantize_weight(
            self.weight[input_ids], self.weight_scale[input_ids], self.bits, self.weight_scale.dtype
        )

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, bits={self.bits}"


def chatglm_linear(config: ChatGLMConfig, in_features: int, out_features: int) -> nn.Module:
    """The linear of a block: quantised when `config.quantization_bit` is set (empty, to be filled by loading)."""
    if config.quantization_bit:
        return ChatGLMQuantizedLinear(in_features, out_features, config.quantization_bit)
    return nn.Linear(in_features, out_features)


def quantized_embeddings(config: ChatGLMConfig) -> bool:
    """Whether the word embeddings and the tied head are quantised (`-int4-qe`)."""
    return bool(config.quantization_bit and getattr(config, "quantization_embeddings", False))


def chatglm_embedding(config: ChatGLMConfig) -> nn.Module:
    """The word embedding: quantised for `-qe` configs."""
    if quantized_embeddings(config):
        return ChatGLMQuantizedEmbedding(config.vocab_size, config.hidden_size, config.quantization_bit)
    return nn.Embedding(config.vocab_size, config.hidden_size)


def chatglm_lm_head(config: ChatGLMConfig, embedding: nn.Module) -> nn.Module:
    """The language-model head; for `-qe` a bias-free quantised linear sharing the embedding's weight and scales."""
    if quantized_embeddings(config):
        head = ChatGLMQuantizedLinear(config.hidden_size, config.vocab_size, config.quantization_bit, bias=False)
        head.weight, head.weight_scale = embedding.weight, embedding.weight_scale
        return head
    return nn.Linear(config.hidden_size, config.vocab_size, bias=False)


def log_quantized_path(config: ChatGLMConfig) -> None:
    """Says which forward path the quantised linears use (there is one: plain torch)."""
    if config.quantization_bit:
        logger.info(
            "ChatGLM int%d weights%s: plain-torch dequantisation on every device (weights rebuilt per call as the "
            "exact product q * scale in the activation dtype: fp32 = the original CPU kernels, fp16 = the original "
            "CUDA kernel); cpm_kernels is not used.",
            config.quantization_bit,
            " and embeddings" if quantized_embeddings(config) else "",
        )


@torch.no_grad()
def quantize_chatglm(model: nn.Module, bits: int, *, quantize_embeddings: bool = False) -> nn.Module:
    """Quantises a full-precision ChatGLM model in place (a `ChatGLMModel` or `ChatGLMForConditionalGeneration`);
    `bits=0` does nothing, and so does an already quantised model (with a warning).

    Replaces the four linears of every block (and with `quantize_embeddings`, the word embeddings and the head, which
    then share one quantised table) and records `quantization_bit` / `quantization_embeddings` in the config, so that
    `save_pretrained` writes a self-describing quantised checkpoint.
    """
    if not bits:
        return model
    _check_bits(bits)
    config = model.config
    if quantize_embeddings and hasattr(model, "lm_head") and not config.tie_word_embeddings:
        raise ValueError(
            "quantize_embeddings needs the head tied to the word embeddings (the int4-qe layout quantises the one "
            "table both use); this model's head is untied (tie_word_embeddings=False), and would be lost"
        )
    if config.quantization_bit:
        logger.warning("the model is already quantised (%d bits); nothing done", config.quantization_bit)
        return model
    transformer = getattr(model, "transformer", model)
    for layer in transformer.layers:
        for path in QUANTIZED_LINEARS:
            parent_name, name = path.split(".")
            parent = getattr(layer, parent_name)
            setattr(parent, name, ChatGLMQuantizedLinear.from_linear(getattr(parent, name), bits))
    config.quantization_bit = bits
    config.quantization_embeddings = quantize_embeddings
    if quantize_embeddings:
        transformer.word_embeddings = ChatGLMQuantizedEmbedding.from_embedding(transformer.word_embeddings, bits)
        if hasattr(model, "lm_head"):
            model.lm_head = chatglm_lm_head(config, transformer.word_embeddings)
    log_quantized_path(config)
    return model


__all__ = [
    "ChatGLMQuantizedEmbedding",
    "ChatGLMQuantizedLinear",
    "dequantize_weight",
    "pack_int4",
    "quantize_chatglm",
    "quantize_weight",
    "unpack_int4",
]
