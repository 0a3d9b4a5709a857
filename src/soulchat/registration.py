"""The package's one import side effect: registering soulchat with the Hugging Face libraries.

`register()` is explicit and idempotent. It is called once on `import soulchat` and may be called again at
any time (for example after a library reload) without effect.
"""

_REGISTERED = False


def register() -> None:
    """Register soulchat's components: the `"soulchat"` builder with `datasets`, and ChatGLM-6B with the
    transformers Auto classes (`AutoConfig`, `AutoModel`, `AutoModelForCausalLM`, `AutoModelForSeq2SeqLM`,
    `AutoTokenizer`).
    """
    global _REGISTERED
    if _REGISTERED:
        return
    from soulchat.data.builder import register_builder
    from soulchat.models import register_chatglm

    register_builder()
    register_chatglm()
    _REGISTERED = True


__all__ = ["register"]
