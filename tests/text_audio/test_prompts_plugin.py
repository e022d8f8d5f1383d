"""studio.prompts through the engine's runner: batches of prompts, wildcard folders, errors."""

from __future__ import annotations

import pytest

from studio.core.errors import ParamError
from studio.core.paths import resources_dir

SHIPPED = ("subjects", "styles", "lighting", "palettes", "moods", "instruments")


def prompts(result) -> list[str]:
    return [artifact.data.decode("utf-8") for artifact in result.artifacts]


def test_random_mode_gives_count_prompts_one_text_output_each(runner):
    result = runner.run("studio.prompts", {"template": "a {red|blue} {cat|dog}", "count": 5}, seed=3)
    texts = prompts(result)
    assert len(texts) == 5
    assert all(text in {"a red cat", "a red dog", "a blue cat", "a blue dog"} for text in texts)
    assert [a.meta["output"]["Index"] for a in result.artifacts] == [0, 1, 2, 3, 4]
    assert all(a.kind == "text" for a in result.artifacts)


def test_random_mode_is_reproducible_through_the_job_seed(runner):
    params = {"template": "{a|b|c|d|e|f} {1|2|3|4|5|6}", "count": 8}
    assert prompts(runner.run("studio.prompts", params, seed=9)) == prompts(runner.run("studio.prompts", params, seed=9))
    assert prompts(runner.run("studio.prompts", params, seed=9)) != prompts(runner.run("studio.prompts", params, seed=10))


def test_combinatorial_mode_lists_every_combination_up_to_the_cap(runner):
    params = {"template": "{a|b|c} {1|2}", "mode": "combinatorial"}
    assert prompts(runner.run("studio.prompts", params, seed=1)) == ["a 1", "a 2", "b 1", "b 2", "c 1", "c 2"]
    events: list[dict] = []
    capped = runner.run("studio.prompts", {**params, "max_prompts": 4}, seed=1, on_event=events.append)
    assert prompts(capped) == ["a 1", "a 2", "b 1", "b 2"]
    assert any(e["type"] == "log" and "6 combinations" in e["message"] for e in events)


def test_as_list_gives_one_text_with_a_prompt_a_line(runner):
    result = runner.run("studio.prompts", {"template": "{x|y|z}", "mode": "combinatorial", "as_list": True}, seed=1)
    assert prompts(result) == ["x\ny\nz"]
    assert result.artifacts[0].meta["output"]["Prompts"] == 3


def test_shipped_wildcards_exist_with_a_few_dozen_options_each():
    folder = resources_dir() / "wildcards"
    for name in SHIPPED:
        lines = [line for line in (folder / f"{name}.txt").read_text().splitlines() if line.strip() and not line.startswith("#")]
        assert len(lines) >= 24, name
        assert len(set(lines)) == len(lines), f"{name}.txt repeats a line"


def test_shipped_wildcards_are_usable_from_a_template(runner):
    template = " | ".join(f"__{name}__" for name in SHIPPED)
    [text] = prompts(runner.run("studio.prompts", {"template": template, "count": 1}, seed=4))
    assert len(text.split(" | ")) == len(SHIPPED) and "__" not in text


def test_users_wildcard_folder_in_the_studio_home_overrides_the_shipped_one(make_runner, tmp_path):
    home = tmp_path / "home-with-wildcards"
    (home / "wildcards").mkdir(parents=True)
    (home / "wildcards" / "subjects.txt").write_text("my own subject\n")
    (home / "wildcards" / "mine.txt").write_text("only mine\n")
    runner = make_runner(home=home)
    texts = prompts(runner.run("studio.prompts", {"template": "__subjects__ / __mine__ / __moods__", "count": 3}, seed=1))
    for text in texts:
        subject, mine, mood = text.split(" / ")
        assert subject == "my own subject" and mine == "only mine" and mood


def test_unbalanced_brace_is_a_param_error_with_the_position(runner):
    with pytest.raises(ParamError, match="position 9"):
        runner.run("studio.prompts", {"template": "a photo {of|a cat"}, seed=1)


def test_missing_wildcard_file_is_a_param_error_naming_it(runner):
    with pytest.raises(ParamError, match=r"__unicorns__ at position 3: no file unicorns.txt"):
        runner.run("studio.prompts", {"template": "a __unicorns__"}, seed=1)


def test_prompt_builder_needs_no_model(runner):
    runner.run("studio.prompts", {"template": "{a|b}", "count": 2}, seed=1)
    assert runner.models.stats()["loads"] == 0


def test_the_default_template_reads_as_english_with_the_shipped_wildcards(runner):
    import re

    import tomllib

    from studio.core.paths import first_party_plugins_dir

    manifest = tomllib.loads((first_party_plugins_dir() / "prompts" / "plugin.toml").read_text(encoding="utf-8"))
    (template,) = [p["default"] for p in manifest["generators"][0]["params"] if p["name"] == "template"]
    texts = prompts(runner.run("studio.prompts", {"template": template, "count": 40}, seed=5))
    doubled_article = re.compile(r"\b(a|an|the)\s+(\w+\s+)?(a|an|the)\b", re.IGNORECASE)  # "a golden a fox"
    assert not [text for text in texts if doubled_article.search(text)]
