"""ChatGLM-6B (v1) model configuration.

The field names and class defaults are those of the original `THUDM/chatglm-6b` configuration (`num_layers`,
`inner_hidden_size`, `layernorm_epsilon`, ...), so an original `config.json` loads unchanged. The defaults describe
the first (150528-token) release; the final checkpoint's `config.json` overrides the vocabulary and special ids.

This file depends only on `transformers`, so it can be copied next to a checkpoint and loaded as remote code.
"""

from transformers import PretrainedConfig


class ChatGLMConfig(PretrainedConfig):
    r"""
    Configuration of a ChatGLM-6B (GLM architecture, v1) model: 2D rotary positions, DeepNorm-style residuals with a
    fixed alpha of `sqrt(2 * 28)`, per-head interleaved fused QKV and a plain GELU feed-forward.

    Args:
        vocab_size (`int`, *optional*, defaults to 150528):
            Number of rows of the word embedding (130528 for the final `THUDM/chatglm-6b` checkpoint).
        hidden_size (`int`, *optional*, defaults to 4096):
            Width of the hidden states.
        num_layers (`int`, *optional*, defaults to 28):
            Number of transformer blocks.
        num_attention_heads (`int`, *optional*, defaults to 32):
            Number of attention heads; `hidden_size` must be divisible by it and the head size by 4 (2D rotary).
        layernorm_epsilon (`float`, *optional*, defaults to 1e-5):
            Epsilon of every LayerNorm.
        use_cache (`bool`, *optional*, defaults to `False`):
            Whether the forward pass returns a key/value cache by default.
        bos_token_id (`int`, *optional*, defaults to 150004):
            Id of `<sop>`, the start of the generated block.
        eos_token_id (`int`, *optional*, defaults to 150005):
            Id of `<eop>`, the end of the generated block.
        mask_token_id (`int`, *optional*, defaults to 150000):
            Id of `[MASK]`.
        gmask_token_id (`int`, *optional*, defaults to 150001):
            Id of `[gMASK]`, the mask token that precedes `<sop>` in every prompt.
        pad_token_id (`int`, *optional*, defaults to 0):
            Id of the padding token (3 for the final checkpoint).
        max_sequence_length (`int`, *optional*, defaults to 2048):
            Longest sequence the model was trained on (informational; never enforced).
        inner_hidden_size (`int`, *optional*, defaults to 16384):
            Width of the feed-forward layer.
        position_encoding_2d (`bool`, *optional*, defaults to `True`):
            Whether positions are 2D (position within the context and position within the generated block).
        quantization_bit (`int`, *optional*, defaults to 0):
            Weight-only quantisation of the `-int4`/`-int8` checkpoints: 0 (none), 4 or 8. The four linears of every
            block then store an int8 (or packed int4) `weight` and a per-row `weight_scale`.
        quantization_embeddings (`bool`, *optional*, defaults to `False`):
            Whether the word embeddings and the tied head are quantised too (the `-int4-qe` checkpoint).
        pre_seq_len (`int`, *optional*):
            Length of the P-tuning v2 prefix; when set, the base model is frozen and only the prefix encoder trains.
        prefix_projection (`bool`, *optional*, defaults to `False`):
            Whether the prefix goes through a two-layer MLP instead of a plain embedding.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of freshly created weights.
        tie_word_embeddings (`bool`, *optional*, defaults to `True`):
            Whether `lm_head` shares the word embedding matrix (the original loader always ties them).

    Example:

    ```python
    >>> from soulchat.models.chatglm import ChatGLMConfig
    >>> config = ChatGLMConfig(vocab_size=130528, bos_token_id=130004, eos_token_id=130005,
    ...                        mask_token_id=130000, gmask_token_id=130001, pad_token_id=3)
    >>> config.num_hidden_layers
    28
    ```
    """

    model_type = "chatglm"
    # Saving copies this file next to the weights and records it in `auto_map` (remote-code loading).
    _auto_class = "AutoConfig"
    attribute_map = {
        "num_hidden_layers": "num_layers",
        "intermediate_size": "inner_hidden_size",
        "max_position_embeddings": "max_sequence_length",
        "layer_norm_eps": "layernorm_epsilon",
    }

    vocab_size: int = 150528
    hidden_size: int = 4096
    num_layers: int = 28
    num_attention_heads: int = 32
    layernorm_epsilon: float = 1e-5
    use_cache: bool = False
    bos_token_id: int | None = 150004
    eos_token_id: int | list[int] | None = 150005
    mask_token_id: int = 150000
    gmask_token_id: int = 150001
    pad_token_id: int | None = 0
    max_sequence_length: int = 2048
    inner_hidden_size: int = 16384
    position_encoding_2d: bool = True
    quantization_bit: int = 0
    quantization_embeddings: bool = False
    pre_seq_len: int | None = None
    prefix_projection: bool = False
    initializer_range: float = 0.02
    tie_word_embeddings: bool = True

    def __post_init__(self, **kwargs):
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads ({self.num_attention_heads})"
            )
        if self.position_encoding_2d and (self.hidden_size // self.num_attention_heads) % 4 != 0:
            raise ValueError("the head size must be divisible by 4 for the 2D rotary embedding")
        if self.quantization_bit not in (0, 4, 8):
            raise ValueError(f"quantization_bit must be 0, 4 or 8, got {self.quantization_bit}")
        super().__post_init__(**kwargs)


__all__ = ["ChatGLMConfig"]
