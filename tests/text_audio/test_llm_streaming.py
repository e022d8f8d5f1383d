"""TextStream and the conversation helpers, driven token by token without a model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "llm"))

from studio_llm.conversation import build_messages, conversation_with_reply, parse_conversation, render  # noqa: E402
from studio_llm.streaming import STOP_EOS, STOP_LENGTH, STOP_STRING, TextStream  # noqa: E402

from studio.core.errors import Cancelled, ParamError  # noqa: E402

EOS = 0


class ByteTokenizer:
    """Token i+1 is byte i; 0 is EOS. Decodes like a byte-level BPE: partial UTF-8 shows as U+FFFD."""

    is_fast = False

    def encode(self, text: str) -> list[int]:
        return [byte + 1 for byte in text.encode("utf-8")]

    def decode(self, ids, skip_special_tokens=True, clean_up_tokenization_spaces=False) -> str:
        return bytes(i - 1 for i in ids if i != EOS).decode("utf-8", errors="replace")


def feed(text: str, *, stops=(), max_new_tokens=None, eos_after=False, cancel_at=None):
    tokenizer = ByteTokenizer()
    pieces: list[str] = []
    fed = {"n": 0}
    stream = TextStream(
        tokenizer,
        emit=pieces.append,
        is_cancelled=lambda: cancel_at is not None and fed["n"] > cancel_at,
        stop_strings=stops,
        eos_token_ids=[EOS],
        max_new_tokens=max_new_tokens,
    )
    tokens = tokenizer.encode(text) + ([EOS] if eos_after else [])
    for token in tokens:
        if stream.finished:
            break
        fed["n"] += 1
        stream.step(token)
    return stream, pieces, stream.finish()


def test_pieces_join_to_the_text_token_by_token():
    stream, pieces, text = feed("hello world")
    assert text == "hello world" == "".join(pieces)
    assert len(pieces) == len("hello world")


def test_multibyte_characters_wait_until_complete():
    _stream, pieces, text = feed("café ☕ ok")
    assert text == "café ☕ ok"
    assert all("\ufffd" not in piece for piece in pieces)
    assert "☕" in pieces


def test_stop_string_cuts_the_text_and_is_never_emitted():
    stream, pieces, text = feed("one two STOP three", stops=["STOP"])
    assert text == "one two " == "".join(pieces)
    assert stream.reason == STOP_STRING


def test_text_that_only_looks_like_a_stop_string_is_released():
    stream, pieces, text = feed("a STAR is STOP", stops=["STOP"])
    assert text == "a STAR is " == "".join(pieces)
    # "ST" was held back until "A" showed it was not the stop string, then emitted.
    assert stream.reason == STOP_STRING


def test_held_back_prefix_is_flushed_when_generation_ends():
    stream, pieces, text = feed("ends with ST", stops=["STOP"], max_new_tokens=len("ends with ST"))
    assert text == "ends with ST" == "".join(pieces)
    assert stream.reason == STOP_LENGTH


def test_earliest_of_several_stop_strings_wins():
    _stream, _pieces, text = feed("x\nUser: hi END", stops=["END", "\nUser:"])
    assert text == "x"


def test_eos_ends_the_stream():
    stream, pieces, text = feed("done", eos_after=True)
    assert text == "done" == "".join(pieces)
    assert stream.reason == STOP_EOS and stream.generated == 5


def test_cancel_raises_at_the_next_token():
    with pytest.raises(Cancelled):
        feed("abcdefgh", cancel_at=3)


def test_stream_answers_generate_with_a_bool_per_sequence():
    import torch

    stream = TextStream(ByteTokenizer(), emit=lambda piece: None, is_cancelled=lambda: False, stop_strings=["b"])
    ids = torch.tensor([[5, ord("a") + 1]])
    assert stream(ids, None).tolist() == [False]
    assert stream(torch.tensor([[5, ord("b") + 1]]), None).tolist() == [True]


# ---------------------------------------------------------------- conversation


def test_conversation_json_accepts_a_list_or_a_messages_object():
    messages = [{"role": "user", "content": "hi"}]
    assert parse_conversation('[{"role": "user", "content": "hi"}]') == messages
    assert parse_conversation('{"messages": [{"role": "user", "content": "hi"}]}') == messages
    assert parse_conversation("  ") == []


@pytest.mark.parametrize("bad", ["not json", '{"role": "user"}', '[{"role": "robot", "content": "x"}]', '[{"role": "user"}]'])
def test_malformed_conversation_is_a_param_error(bad):
    with pytest.raises(ParamError, match="conversation"):
        parse_conversation(bad)


def test_system_prompt_replaces_an_earlier_one_and_prompt_comes_last():
    earlier = [{"role": "system", "content": "old"}, {"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    messages = build_messages(earlier, "new", "c")
    assert messages == [
        {"role": "system", "content": "new"},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]


def test_nothing_to_answer_is_a_param_error():
    with pytest.raises(ParamError, match="prompt"):
        build_messages([], "system only", "")


def test_template_without_system_role_gets_the_system_prompt_folded_into_the_first_turn():
    class StrictTokenizer:
        chat_template = "strict"

        def apply_chat_template(self, messages, tokenize=False, **options):
            if any(m["role"] == "system" for m in messages):
                raise ValueError("System role not supported")
            return "|".join(m["content"] for m in messages)

    rendered = render(StrictTokenizer(), "chat", "question", "be brief", [])
    assert rendered.text == "be brief\n\nquestion"


def test_no_chat_template_renders_a_transcript_with_a_user_stop():
    class Plain:
        chat_template = None

    rendered = render(Plain(), "chat", "hi", "be kind", [])
    assert rendered.text == "be kind\n\nUser: hi\nAssistant:"
    assert rendered.extra_stops == ["\nUser:"] and "no chat template" in rendered.note


def test_reply_is_appended_to_the_conversation():
    import json

    updated = json.loads(conversation_with_reply([{"role": "user", "content": "hi"}], "hello"))
    assert updated[-1] == {"role": "assistant", "content": "hello"}
