"""studio.llm through the engine's runner, on tiny random Llama and GPT-2 models."""

from __future__ import annotations

import json
import shutil
import threading

import pytest
from tiny_text_audio_models import strip_weights

from studio.core.errors import Cancelled, ModelFormatError, ParamError

GREEDY = {"temperature": 0.0, "repetition_penalty": 1.0}


def run_llm(runner, params, seed=7, cancel=None):
    events: list[dict] = []
    result = runner.run("studio.llm", params, seed=seed, on_event=events.append, cancel=cancel)
    [artifact] = result.artifacts
    deltas = [event["delta"] for event in events if event["type"] == "text"]
    return artifact.data.decode("utf-8"), artifact.meta["output"], deltas, events


def test_streamed_pieces_arrive_in_order_and_join_to_the_final_text(runner, llama_dir):
    text, output, deltas, _ = run_llm(runner, {"prompt": "hello", "model": str(llama_dir), "max_new_tokens": 40})
    assert len(deltas) >= 10, "each token should reach the window as it is produced"
    assert "".join(deltas) == text
    assert output["Tokens"] == 40 and output["Stopped by"] == "length"


def test_streamed_text_equals_a_plain_decode_of_the_generated_tokens(runner, llama_dir):
    from transformers import AutoTokenizer

    text, _output, deltas, _ = run_llm(runner, {"prompt": "the sea", "mode": "completion", "model": str(llama_dir), "max_new_tokens": 30})
    tokenizer = AutoTokenizer.from_pretrained(llama_dir)
    # Re-tokenising the reply must give text that decodes back to itself: no piece was lost or doubled.
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == "".join(deltas)


def test_chat_mode_uses_the_models_own_chat_template(runner, llama_dir):
    _text, output, _deltas, _ = run_llm(runner, {"prompt": "hi", "system_prompt": "be brief", "model": str(llama_dir), "max_new_tokens": 5})
    assert output["Chat template"] == "model"
    conversation = json.loads(output["Conversation"])
    assert [m["role"] for m in conversation] == ["system", "user", "assistant"]
    assert conversation[0]["content"] == "be brief" and conversation[1]["content"] == "hi"


def test_conversation_param_carries_earlier_turns_into_the_prompt(runner, llama_dir):
    earlier = json.dumps([{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"}])
    _text, output, _d, _ = run_llm(runner, {"prompt": "three", "conversation": earlier, "model": str(llama_dir), "max_new_tokens": 4})
    roles = [m["role"] for m in json.loads(output["Conversation"])]
    assert roles == ["user", "assistant", "user", "assistant"]
    # The earlier turns are in the prompt the model saw: more prompt tokens than without them.
    _t, alone, _d2, _ = run_llm(runner, {"prompt": "three", "model": str(llama_dir), "max_new_tokens": 4})
    assert output["Prompt tokens"] > alone["Prompt tokens"]


def test_bad_conversation_json_is_a_param_error(runner, llama_dir):
    with pytest.raises(ParamError, match="conversation"):
        runner.run("studio.llm", {"prompt": "x", "conversation": "[{'role': 1}]", "model": str(llama_dir)}, seed=1)


def test_model_without_chat_template_falls_back_to_a_transcript_with_a_log_line(runner, gpt2_dir):
    text, output, deltas, events = run_llm(runner, {"prompt": "hello", "model": str(gpt2_dir), "max_new_tokens": 12, **GREEDY})
    logs = [event["message"] for event in events if event["type"] == "log"]
    assert any("no chat template" in line for line in logs)
    assert output["Chat template"] == "none"
    assert "".join(deltas) == text


def test_completion_mode_on_gpt2_continues_the_prompt(runner, gpt2_dir):
    text, output, deltas, _ = run_llm(
        runner, {"prompt": "once upon a time", "mode": "completion", "model": str(gpt2_dir), "max_new_tokens": 8}
    )
    assert output["Mode"] == "completion" and "Conversation" not in output
    assert "".join(deltas) == text and output["Tokens"] <= 8


def test_stop_string_ends_the_reply_before_it_and_never_streams_it(runner, llama_dir):
    params = {"prompt": "count", "model": str(llama_dir), "max_new_tokens": 60}
    full, _o, _d, _ = run_llm(runner, params, seed=3)
    stop = full[20:23]  # a piece from the middle of the unconstrained reply
    assert len(stop) == 3
    text, output, deltas, _ = run_llm(runner, {**params, "stop": stop}, seed=3)
    assert text == full[: full.find(stop)]
    assert "".join(deltas) == text and stop not in "".join(deltas)
    assert output["Stopped by"] == "stop string"


def test_stop_strings_understand_escaped_newlines(runner, llama_dir):
    from studio_llm.streaming import parse_stop_strings

    assert parse_stop_strings("\\n\\nUser:\nEND\n\nEND") == ["\n\nUser:", "END"]


def test_same_seed_gives_the_same_text_and_another_seed_another(runner, llama_dir):
    params = {"prompt": "a poem", "model": str(llama_dir), "max_new_tokens": 30, "temperature": 1.0}
    first, _, _, _ = run_llm(runner, params, seed=11)
    again, _, _, _ = run_llm(runner, params, seed=11)
    other, _, _, _ = run_llm(runner, params, seed=12)
    assert first == again
    assert first != other


def test_greedy_decoding_ignores_the_seed(runner, llama_dir):
    params = {"prompt": "a poem", "model": str(llama_dir), "max_new_tokens": 20, **GREEDY}
    assert run_llm(runner, params, seed=1)[0] == run_llm(runner, params, seed=2)[0]


def test_cancel_stops_generation_within_one_token(runner, llama_dir):
    from studio_llm.generator import LoadedLanguageModel

    params = {"prompt": "go", "model": str(llama_dir), "max_new_tokens": 200}
    run_llm(runner, {**params, "max_new_tokens": 1})  # load the model into the cache
    key_args = {"kind": "llm", "dtype": runner.device.dtype, "device": runner.device.name}
    lm: LoadedLanguageModel = runner.models.load(llama_dir, lambda path: pytest.fail("model was not cached"), **key_args)
    forwards = {"count": 0, "at_cancel": None}
    hook = lm.model.register_forward_hook(lambda *args: forwards.__setitem__("count", forwards["count"] + 1))
    cancel = threading.Event()
    texts: list[str] = []

    def on_event(event):
        if event["type"] == "text":
            texts.append(event["delta"])
            if len(texts) == 3:
                cancel.set()
                forwards["at_cancel"] = forwards["count"]

    try:
        with pytest.raises(Cancelled):
            runner.run("studio.llm", params, seed=5, on_event=on_event, cancel=cancel)
    finally:
        hook.remove()
    assert len(texts) == 3, "nothing is streamed after the cancel"
    assert forwards["count"] <= forwards["at_cancel"] + 1, "at most the token in flight is computed"


def test_second_job_on_the_same_model_reuses_the_cached_model(runner, llama_dir):
    run_llm(runner, {"prompt": "a", "model": str(llama_dir), "max_new_tokens": 2})
    run_llm(runner, {"prompt": "b", "model": str(llama_dir), "max_new_tokens": 2})
    stats = runner.models.stats()
    assert stats["loads"] == 1 and stats["hits"] == 1
    [loaded] = runner.models.loaded()
    assert loaded["kind"] == "llm" and loaded["bytes"] > 0


def test_model_found_by_name_inside_a_model_folder(runner):
    _text, output, _d, _ = run_llm(runner, {"prompt": "x", "model": "tiny-gpt2", "max_new_tokens": 2})
    assert output["Model"] == "tiny-gpt2"


def test_empty_model_param_uses_the_first_language_model_found(runner):
    _text, output, _d, _ = run_llm(runner, {"prompt": "x", "max_new_tokens": 2})
    assert output["Model"] in ("tiny-gpt2", "tiny-llama")


def test_folder_without_weights_is_a_clear_model_error(runner, llama_dir, tmp_path):
    broken = strip_weights(llama_dir, tmp_path / "no-weights")
    with pytest.raises(ModelFormatError, match="has no weights: model.safetensors"):
        runner.run("studio.llm", {"prompt": "x", "model": str(broken)}, seed=1)


def test_folder_without_tokenizer_is_a_clear_model_error(runner, llama_dir, tmp_path):
    broken = tmp_path / "no-tokenizer"
    shutil.copytree(llama_dir, broken)
    (broken / "tokenizer.json").unlink()
    with pytest.raises(ModelFormatError, match="has no tokenizer: tokenizer.json"):
        runner.run("studio.llm", {"prompt": "x", "model": str(broken)}, seed=1)


def test_folder_without_config_is_not_a_model(runner, tmp_path):
    empty = tmp_path / "just-text"
    empty.mkdir()
    (empty / "notes.txt").write_text("hello")
    with pytest.raises(ModelFormatError, match="config.json is missing"):
        runner.run("studio.llm", {"prompt": "x", "model": str(empty)}, seed=1)


def test_pickle_weights_are_refused_unless_allowed(make_runner, llama_dir, tmp_path):
    import torch
    from safetensors.torch import load_file

    pickled = strip_weights(llama_dir, tmp_path / "pickled")
    torch.save(load_file(llama_dir / "model.safetensors"), pickled / "pytorch_model.bin")
    with pytest.raises(ModelFormatError, match="pickle"):
        make_runner().run("studio.llm", {"prompt": "x", "model": str(pickled)}, seed=1)
    allowed = make_runner(home=tmp_path / "home2", allow_pickle=True)
    text, _o, deltas, _ = run_llm(allowed, {"prompt": "x", "model": str(pickled), "max_new_tokens": 3})
    assert "".join(deltas) == text


def test_gguf_without_the_gguf_package_says_what_to_install(runner, tmp_path, monkeypatch):
    import importlib.util

    fake = tmp_path / "model.Q4_K_M.gguf"
    fake.write_bytes(b"GGUF" + b"\0" * 64)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real_find_spec(name, *a))
    with pytest.raises(ModelFormatError, match="pip install gguf"):
        runner.run("studio.llm", {"prompt": "x", "model": str(fake)}, seed=1)


def test_missing_model_name_lists_where_it_looked(runner, model_dir):
    with pytest.raises(ModelFormatError, match=str(model_dir)):
        runner.run("studio.llm", {"prompt": "x", "model": "no-such-model"}, seed=1)


def test_prompt_longer_than_the_context_is_refused(runner, gpt2_dir):
    with pytest.raises(ParamError, match="context"):
        runner.run("studio.llm", {"prompt": "the quick brown fox " * 200, "mode": "completion", "model": str(gpt2_dir)}, seed=1)


def test_no_model_anywhere_is_a_clear_error(make_runner, tmp_path):
    empty = tmp_path / "empty-models"
    empty.mkdir()
    lonely = make_runner(model_paths=[empty])
    with pytest.raises(ModelFormatError, match="no language model found"):
        lonely.run("studio.llm", {"prompt": "x"}, seed=1)


def test_remote_code_model_needs_trust(make_runner, llama_dir, tmp_path):
    custom = tmp_path / "custom-code"
    shutil.copytree(llama_dir, custom)
    config = json.loads((custom / "config.json").read_text())
    config["model_type"] = "my-own-llama"
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_mine.MyLlama", "AutoConfig": "configuration_mine.MyConfig"}
    (custom / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFormatError, match="trust"):
        make_runner().run("studio.llm", {"prompt": "x", "model": str(custom)}, seed=1)
