"""Output -> restore -> re-run gives the same bytes, for the CPU-only first-party generators.

The restore goes through files, as a user's does: the artefact is written to disk, read by
``restore_file`` (the function behind ``inspect``, ``generate --from`` and the window's
drop), and re-run with exactly what it returns. Property tests draw many parameter sets.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core.params import SEED_MAX
from studio.core.restore import restore_file
from studio.engine.config import EngineConfig
from studio.engine.runner import LocalRunner

REPO = Path(__file__).resolve().parents[2]
EXTENSION = {"image/png": ".png", "audio/midi": ".mid", "text/plain; charset=utf-8": ".txt", "text/markdown; charset=utf-8": ".md"}


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    return LocalRunner(EngineConfig(home=tmp_path_factory.mktemp("round-trip"), plugin_dirs=[REPO / "plugins"], device="cpu"))


def catalogue(runner: LocalRunner, *ids: str) -> list[dict]:
    return [runner.plugins.describe(generator)[0].to_dict() for generator in ids]


def rerun(runner: LocalRunner, artifact, folder: Path, generator: str):
    path = folder / f"output{EXTENSION.get(artifact.mime, '.bin')}"
    path.write_bytes(artifact.data)
    restore = restore_file(path, catalogue(runner, generator))
    assert restore.generator == generator and restore.unmapped == {}
    return restore, runner.run(restore.generator, restore.params, restore.seed)


seeds = st.one_of(st.integers(0, 2**32 - 1), st.integers(2**32, SEED_MAX), st.sampled_from([0, 2**31, 3_000_000_000, SEED_MAX]))


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=seeds,
    width=st.integers(16, 48),
    height=st.integers(16, 48),
    palette=st.sampled_from(["vivid", "pastel", "ink", "neon"]),
    style=st.sampled_from(["mixed", "smooth", "waves", "rings", "marble"]),
    depth=st.integers(1, 6),
    zoom=st.floats(0.05, 5.0, allow_nan=False).map(lambda z: round(z, 3)),
    variation=st.sampled_from([0.0, 0.1, 0.5]),
    variation_seed=seeds,
)
def test_patterns_output_reruns_to_the_same_pixels(
    runner, tmp_path, seed, width, height, palette, style, depth, zoom, variation, variation_seed
):
    params = {
        "width": width,
        "height": height,
        "palette": palette,
        "style": style,
        "depth": depth,
        "zoom": zoom,
        "variation": variation,
        "variation_seed": variation_seed,
        "neurons": 8,
    }
    first = runner.run("studio.patterns", params, seed=seed).artifacts[0]
    restore, again = rerun(runner, first, tmp_path, "studio.patterns")
    assert restore.seed == seed
    assert again.artifacts[0].data == first.data


def test_seed_3000000000_survives_generate_inspect_and_restore(runner, tmp_path):
    from studio.core.inspect_file import inspect_path

    artifact = runner.run("studio.patterns", {"width": 16, "height": 16}, seed=3_000_000_000).artifacts[0]
    path = tmp_path / "seed.png"
    path.write_bytes(artifact.data)
    info = inspect_path(path)
    assert info["parameters"]["Seed"] == 3_000_000_000 and info["studio"]["seed"] == 3_000_000_000
    assert restore_file(path, catalogue(runner, "studio.patterns")).seed == 3_000_000_000


def test_seeds_above_64_bits_are_refused_before_the_job(runner):
    from studio.core.errors import ParamError

    runner.run("studio.patterns", {"width": 16, "height": 16}, seed=SEED_MAX)
    with pytest.raises(ParamError, match="0 to 18446744073709551615"):
        runner.run("studio.patterns", {"width": 16, "height": 16}, seed=SEED_MAX + 1)


@settings(max_examples=6, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=seeds,
    bars=st.integers(1, 3),
    key=st.sampled_from(["auto", "C", "F#", "Bb"]),
    scale=st.sampled_from(["auto", "major", "dorian"]),
    metre=st.sampled_from(["auto", "3/4", "6/8"]),
    temperature=st.sampled_from([0.5, 1.0, 1.3]),
)
def test_melody_output_reruns_to_the_same_notes(runner, tmp_path, seed, bars, key, scale, metre, temperature):
    params = {"bars": bars, "key": key, "scale": scale, "metre": metre, "temperature": temperature}
    first = runner.run("studio.melody", params, seed=seed).artifacts[0]
    restore, again = rerun(runner, first, tmp_path, "studio.melody")
    assert restore.seed == seed
    assert again.artifacts[0].data == first.data


@settings(max_examples=10, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=seeds,
    count=st.integers(1, 4),
    mode=st.sampled_from(["random", "combinatorial"]),
    template=st.sampled_from(["a {red|blue} {cat|dog}", "{big|small} {house|tree|boat} at {dawn|dusk}"]),
)
def test_prompt_builder_output_reruns_to_the_same_text(runner, tmp_path_factory, seed, count, mode, template):
    """Plain text has no metadata of its own: text restores from the project file's history node."""
    from studio.core.history import History, HistoryNode
    from studio.core.project_store import ProjectStore

    result = runner.run("studio.prompts", {"template": template, "count": count, "mode": mode}, seed=seed)
    path = tmp_path_factory.mktemp("text") / "p.studio"
    with ProjectStore.create(path) as store:
        blobs = [store.put_blob(a.data, a.kind, a.mime) for a in result.artifacts]
        History(store).add(
            HistoryNode(generator=result.record["generator"], params=result.record["params"], seed=result.record["seed"], outputs=blobs)
        )
    restore = restore_file(path, catalogue(runner, "studio.prompts"))
    assert restore.generator == "studio.prompts" and restore.seed == seed and restore.unmapped == {}
    again = runner.run(restore.generator, restore.params, restore.seed)
    assert [a.data for a in again.artifacts] == [a.data for a in result.artifacts]


def test_midi_records_name_the_model_and_hash_not_its_path(runner):
    import json
    import tempfile

    from studio.core.midi import read_midi_metadata

    artifact = runner.run("studio.melody", {"bars": 1}, seed=3).artifacts[0]
    assert str(REPO).encode() not in artifact.data
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tune.mid"
        path.write_bytes(artifact.data)
        record = read_midi_metadata(path)
    (model,) = record["models"]
    assert set(model) >= {"name", "hash"} and "path" not in model
    assert "/" not in json.dumps(record["params"])


def test_project_history_keeps_64_bit_seeds(tmp_path):
    from studio.core.history import History, HistoryNode
    from studio.core.inspect_file import inspect_path
    from studio.core.project_store import ProjectStore

    path = tmp_path / "p.studio"
    with ProjectStore.create(path) as store:
        History(store).add(HistoryNode(generator="studio.patterns", params={"width": 16}, seed=SEED_MAX))
    with ProjectStore.open(path) as store:
        (node,) = History(store).nodes()
        assert node.seed == SEED_MAX
    assert inspect_path(path)["last_node"]["seed"] == SEED_MAX
