"""Output -> restore -> re-run gives the same samples (MusicGen) and the same text (LLM)."""

from __future__ import annotations

from studio.core.history import History, HistoryNode
from studio.core.project_store import ProjectStore
from studio.core.restore import restore_file


def _catalogue(runner, generator: str) -> list[dict]:
    return [runner.plugins.describe(generator)[0].to_dict()]


def test_musicgen_wav_reruns_to_the_same_samples(runner, musicgen_dir, tmp_path):
    seed = 2**63 + 5
    first = runner.run("studio.musicgen", {"prompt": "drums", "duration": 0.5, "model": str(musicgen_dir)}, seed=seed).artifacts[0]
    assert str(musicgen_dir).encode() not in first.data  # the file names the model, not its path
    path = tmp_path / "out.wav"
    path.write_bytes(first.data)
    restore = restore_file(path, _catalogue(runner, "studio.musicgen"))
    assert (restore.generator, restore.seed, restore.unmapped) == ("studio.musicgen", seed, {})
    assert restore.params["model"] == musicgen_dir.name
    again = runner.run(restore.generator, restore.params, restore.seed).artifacts[0]
    assert again.data == first.data


def test_llm_text_reruns_from_the_project_to_the_same_text(runner, llama_dir, tmp_path):
    seed = 3_000_000_000
    result = runner.run("studio.llm", {"prompt": "a poem", "model": str(llama_dir), "max_new_tokens": 12, "temperature": 1.0}, seed=seed)
    path = tmp_path / "p.studio"
    with ProjectStore.create(path) as store:
        blobs = [store.put_blob(a.data, a.kind, a.mime) for a in result.artifacts]
        History(store).add(HistoryNode(generator="studio.llm", params=result.record["params"], seed=seed, outputs=blobs))
    restore = restore_file(path, _catalogue(runner, "studio.llm"))
    assert (restore.generator, restore.seed) == ("studio.llm", seed)
    again = runner.run(restore.generator, restore.params, restore.seed)
    assert again.artifacts[0].data == result.artifacts[0].data
