"""The package's one import side effect: registering soulchat with the Hugging Face libraries.

`register()` is explicit and idempotent. It is called once on `import soulchat` and may be called again at
any time (for example after a library reload) without effect.
"""

_REGISTERED = False


def register() -> None:
    """Register soulchat's components with `datasets` (the `"soulchat"` builder name).

    Later capabilities (the ChatGLM Auto classes) add their own call here.
    """
    global _REGISTERED
    if _REGISTERED:
        return
    from soulchat.data.builder import register_builder

    register_builder()
    _REGISTERED = True


__all__ = ["register"]
