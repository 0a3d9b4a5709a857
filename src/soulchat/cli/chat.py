"""`soulchat chat`: a counselling conversation in the terminal, streamed as it is generated.

Lines are read from standard input one at a time (so a conversation can be piped in); a line starting with `/` is a
command: `/reset` starts a new conversation, `/save [PATH]` writes the conversation as a SoulChatCorpus dialogue
(`[{"id", "topic", "messages"}]`, readable by `soulchat prepare`), `/exit` (or end of input) quits.
"""

import json
import logging
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import typer

from soulchat.cli.startup import check_at_least, fail
from soulchat.inference.engine import ChatEngine, DecodingSettings, Reply
from soulchat.inference.safety import SafetyConfig
from soulchat.models.loading import load_model_for_generation

logger = logging.getLogger(__name__)

HELP_TEXT = "Commands: /reset (new conversation), /save [PATH] (write it as JSON), /exit (quit), /help."


class TerminalChat:
    """One terminal session: the conversation so far and the commands that act on it.

    Args:
        engine (`ChatEngine`): Generates the replies.
        settings (`DecodingSettings`): The decoding of every reply.
    """

    def __init__(self, engine: ChatEngine, settings: DecodingSettings):
        self.engine = engine
        self.settings = settings
        self.reset()

    def reset(self) -> None:
        self.conversation_id = uuid.uuid4().hex[:12]
        self.history: list[tuple[str, str]] = []

    def dialogue(self) -> dict:
        """The conversation in the SoulChatCorpus schema (the counsellor's turns without the AI disclaimer)."""
        messages = []
        for user, reply in self.history:
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
        return {"id": self.conversation_id, "topic": None, "messages": messages}

    def save(self, path: Path | None) -> Path:
        if path is None:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
            path = Path(f"soulchat-chat-{stamp}-{self.conversation_id}.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([self.dialogue()], ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return path

    def say(self, message: str) -> Reply:
        """Streams the reply to `message` to standard output and records the round."""
        stream = self.engine.start(self.history, message, settings=self.settings, conversation_id=self.conversation_id)
        typer.echo("心理咨询师：", nl=False)
        for delta in stream:
            typer.echo(delta, nl=False)
        reply = stream.reply
        if reply.safety == "blocked":  # part of the generated reply was shown before the screen stopped it
            typer.echo("\n\n" + reply.content, nl=False)
        typer.echo("")
        self.history.append((message, reply.content))
        return reply

    def command(self, line: str) -> bool:
        """Runs a `/command`; returns False for `/exit`."""
        name, _, argument = line.partition(" ")
        if name in ("/exit", "/quit"):
            return False
        if name == "/reset":
            self.reset()
            typer.echo("(a new conversation starts)")
        elif name == "/save":
            try:
                path = self.save(Path(argument.strip()) if argument.strip() else None)
            except OSError as error:  # a folder, no permission, a full disk: the conversation goes on
                typer.echo(f"(could not save: {error}; the conversation goes on)")
            else:
                typer.echo(f"(saved {len(self.history)} rounds to {path})")
        elif name == "/help":
            typer.echo(HELP_TEXT)
        else:
            typer.echo(f"(unknown command {name}) {HELP_TEXT}")
        return True

    def run(self) -> None:
        """Reads standard input line by line until `/exit` or its end."""
        while True:
            typer.echo("用户：", nl=False)
            line = sys.stdin.readline()
            if not line:
                typer.echo("")
                return
            line = line.strip()
            if not line:
                continue
            if line.startswith("/"):
                if not self.command(line):
                    return
                continue
            self.say(line)


def chat_command(
    model: str = typer.Option(
        ...,
        "--model",
        "-m",
        help="Checkpoint folder: ChatGLM-6B (also int8/int4), or a causal LM with a chat template.",
    ),
    temperature: float = typer.Option(0.95, help="Sampling temperature (the paper's 0.95)."),
    top_p: float = typer.Option(0.75, help="Nucleus sampling mass (the paper's 0.75)."),
    max_new_tokens: int = typer.Option(512, help="Most tokens per reply."),
    greedy: bool = typer.Option(False, "--greedy", help="Greedy decoding instead of nucleus sampling."),
    seed: int = typer.Option(None, help="Seed of the sampling (each reply reproducible)."),
    max_source_length: int = typer.Option(1536, help="Prompt budget; older rounds are dropped beyond it."),
    system_prompt: str = typer.Option(None, help="System message of chat-template models."),
    device: str = typer.Option(None, help="Torch device (default: cuda if available, else cpu)."),
    dtype: str = typer.Option("auto", help="auto (float32 on CPU), float32, float16 or bfloat16."),
    no_safety: bool = typer.Option(
        False, "--no-safety", help="Switch the safety layer off (crisis screen, reply screen, AI disclaimer)."
    ),
) -> None:
    """Chat with a counselling model in the terminal (streamed; /reset, /save [PATH], /exit)."""
    check_at_least(2, max_source_length=max_source_length)
    try:
        settings = DecodingSettings(
            temperature=temperature, top_p=top_p, greedy=greedy, max_new_tokens=max_new_tokens, seed=seed
        )
        loaded, tokenizer = load_model_for_generation(model, device=device, dtype=dtype)
    except (OSError, ValueError) as error:
        fail(error, code=1)
    if no_safety:
        logger.warning("--no-safety: crisis screening, reply screening and the AI disclaimer are OFF")
    safety = SafetyConfig(enabled=not no_safety)
    try:
        engine = ChatEngine(
            loaded, tokenizer, safety=safety, defaults=settings, max_batch_size=1, max_queue=1,
            max_source_length=max_source_length, system_prompt=system_prompt,
        )  # fmt: skip
    except ValueError as error:
        fail(error)
    try:
        typer.echo(HELP_TEXT)
        TerminalChat(engine, settings).run()
    finally:
        engine.close()
