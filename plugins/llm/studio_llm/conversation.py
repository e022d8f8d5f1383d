"""From the panel's fields to the text a model continues: chat templates and completion.

The ``conversation`` parameter carries the earlier turns of a chat as JSON, the format every
chat template reads::

    [{"role": "system", "content": "You are terse."},
     {"role": "user", "content": "Name a colour."},
     {"role": "assistant", "content": "Teal."}]

(``{"messages": [...]}`` is accepted too). The ``prompt`` becomes the next user turn; the
window keeps the conversation per text document and sends it back with each new message,
and each reply's output records the conversation including the reply.

Chat mode renders the messages with the model's own chat template (from its tokenizer
config). A model without one gets a plain transcript (``User: …`` / ``Assistant:``) to
continue, with ``\\nUser:`` as an extra stop string, and a log line saying so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from studio.core.errors import ParamError

ROLES = ("system", "user", "assistant")
FALLBACK_STOP = "\nUser:"


@dataclass
class RenderedPrompt:
    """What the model is given, and how it was made."""

    text: str
    add_special_tokens: bool
    messages: list[dict[str, str]] = field(default_factory=list)
    extra_stops: list[str] = field(default_factory=list)
    note: str = ""  # a line for the job's log, e.g. the chat-template fallback
    used_template: bool = False


def parse_conversation(text: str) -> list[dict[str, str]]:
    """The ``conversation`` param as a list of {"role", "content"} messages (may be empty)."""
    if not text or not text.strip():
        return []
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParamError(
            f"conversation: not valid JSON ({exc}); expected a list like "
            '[{"role": "user", "content": "…"}, {"role": "assistant", "content": "…"}]'
        ) from None
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        data = data["messages"]
    if not isinstance(data, list):
        raise ParamError('conversation: expected a JSON list of messages, each {"role": …, "content": …}')
    messages: list[dict[str, str]] = []
    for index, item in enumerate(data):
        if not isinstance(item, dict) or not isinstance(item.get("role"), str) or not isinstance(item.get("content"), str):
            raise ParamError(f"conversation: message {index + 1} needs a string 'role' and a string 'content'")
        if item["role"] not in ROLES:
            raise ParamError(f"conversation: message {index + 1} has role {item['role']!r}; use system, user or assistant")
        messages.append({"role": item["role"], "content": item["content"]})
    return messages


def build_messages(conversation: list[dict[str, str]], system_prompt: str, prompt: str) -> list[dict[str, str]]:
    """The conversation with the system prompt first (it replaces an earlier one) and the prompt last."""
    messages = [dict(message) for message in conversation]
    if system_prompt.strip():
        if messages and messages[0]["role"] == "system":
            messages[0] = {"role": "system", "content": system_prompt}
        else:
            messages.insert(0, {"role": "system", "content": system_prompt})
    if prompt:
        messages.append({"role": "user", "content": prompt})
    if not any(message["role"] in ("user", "assistant") for message in messages):
        raise ParamError("prompt: write a message for the model (or pass earlier turns in 'conversation')")
    return messages


def render(tokenizer: Any, mode: str, prompt: str, system_prompt: str, conversation: list[dict[str, str]]) -> RenderedPrompt:
    if mode == "completion":
        text = f"{system_prompt}\n\n{prompt}" if system_prompt.strip() else prompt
        if not text:
            raise ParamError("prompt: give the text for the model to continue")
        note = "completion mode ignores 'conversation'" if conversation else ""
        return RenderedPrompt(text, add_special_tokens=True, note=note)

    messages = build_messages(conversation, system_prompt, prompt)
    if getattr(tokenizer, "chat_template", None):
        text = _apply_template(tokenizer, messages)
        # The template writes the special tokens itself (BOS included): tokenizing again must not add more.
        return RenderedPrompt(text, add_special_tokens=False, messages=messages, used_template=True)
    return RenderedPrompt(
        transcript(messages),
        add_special_tokens=True,
        messages=messages,
        extra_stops=[FALLBACK_STOP],
        note="this model's tokenizer has no chat template; continuing a plain 'User:/Assistant:' transcript instead",
    )


def transcript(messages: list[dict[str, str]]) -> str:
    lines: list[str] = []
    for message in messages:
        if message["role"] == "system":
            lines.append(f"{message['content']}\n")
        else:
            lines.append(f"{message['role'].capitalize()}: {message['content']}")
    if messages[-1]["role"] == "assistant":
        return "\n".join(lines)
    return "\n".join(lines) + "\nAssistant:"


def _apply_template(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    continue_reply = messages[-1]["role"] == "assistant"
    options = {"continue_final_message": True} if continue_reply else {"add_generation_prompt": True}
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, **options)
    except Exception as first:  # jinja raises TemplateError for e.g. "system role not supported"
        if messages[0]["role"] == "system" and len(messages) > 1:
            # Some templates (Gemma, Mistral v1) have no system role: fold it into the first turn.
            folded = [dict(m) for m in messages[1:]]
            folded[0]["content"] = f"{messages[0]['content']}\n\n{folded[0]['content']}"
            try:
                return tokenizer.apply_chat_template(folded, tokenize=False, **options)
            except Exception:
                pass
        raise ParamError(f"the model's chat template refused this conversation: {first}") from None


def conversation_with_reply(messages: list[dict[str, str]], reply: str) -> str:
    """The conversation to send back next time (JSON), the reply appended."""
    if messages and messages[-1]["role"] == "assistant":
        updated = messages[:-1] + [{"role": "assistant", "content": messages[-1]["content"] + reply}]
    else:
        updated = messages + [{"role": "assistant", "content": reply}]
    return json.dumps(updated, ensure_ascii=False)
