"""Listing models reads headers only and names what it finds."""

from __future__ import annotations

import json
import struct

from studio.engine.model_scan import scan_models


def write_safetensors(path, keys):
    header = json.dumps({key: {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]} for key in keys}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0\0\0\0")


def test_scan_finds_checkpoints_folders_and_skips_sidecar_configs(tmp_path):
    write_safetensors(tmp_path / "dream.safetensors", ["model.diffusion_model.input_blocks.0.0.weight"])
    (tmp_path / "dream.config").mkdir()
    (tmp_path / "dream.config" / "model_index.json").write_text("{}")
    llm = tmp_path / "tiny-llm"
    llm.mkdir()
    (llm / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    (tmp_path / "old.ckpt").write_bytes(b"pickle")
    found = {entry["name"]: entry for entry in scan_models([tmp_path])}
    assert set(found) == {"dream", "tiny-llm", "old"}
    assert found["dream"]["kind"] == "diffusion" and found["tiny-llm"]["kind"] == "llm"
    assert found["old"]["format"] == "pickle" and "refused" in found["old"]["detail"]


def test_melody_model_folders_are_reported_as_melody_models(tmp_path):
    folder = tmp_path / "melody" / "my-reels"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"tokens_version": 1, "name": "my reels"}))
    (folder / "model.safetensors").write_bytes(b"")
    (entry,) = scan_models([tmp_path])
    assert entry["kind"] == "melody" and entry["detail"] == "my reels"
