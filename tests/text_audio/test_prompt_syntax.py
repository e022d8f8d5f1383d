"""The dynamic-prompt parser and expander (pure Python, no engine)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "prompts"))

from studio_prompts.expand import Expander  # noqa: E402
from studio_prompts.syntax import PromptSyntaxError, parse  # noqa: E402
from studio_prompts.wildcards import WildcardLibrary  # noqa: E402

from studio.core.errors import ParamError  # noqa: E402


def expander(*folders: Path) -> Expander:
    return Expander(WildcardLibrary(folders))


def every(template: str, *folders: Path) -> list[str]:
    ex = expander(*folders)
    tree = parse(template)
    ex.check(tree)
    return list(ex.combinations(tree))


def draws(template: str, n: int = 200, seed: int = 0, *folders: Path) -> list[str]:
    ex = expander(*folders)
    tree = parse(template)
    ex.check(tree)
    rng = random.Random(seed)
    return [ex.sample(tree, rng) for _ in range(n)]


@pytest.fixture
def wildcards(tmp_path: Path) -> Path:
    folder = tmp_path / "wildcards"
    (folder / "colours").mkdir(parents=True)
    (folder / "animals.txt").write_text("# animals\ncat\n\ndog\n  fox  \n")
    (folder / "colours" / "warm.txt").write_text("red\norange\n")
    (folder / "colours" / "cool.txt").write_text("blue\ngreen\n")
    (folder / "pets.txt").write_text("a {small|big} __animals__\n")
    (folder / "loop_a.txt").write_text("__loop_b__\n")
    (folder / "loop_b.txt").write_text("x __loop_a__\n")
    (folder / "empty.txt").write_text("# nothing here\n\n")
    (folder / "broken.txt").write_text("fine\n{unclosed\n")
    return folder


# ---------------------------------------------------------------- alternatives


def test_alternatives_list_every_option_in_order():
    assert every("a {red|blue|green} car") == ["a red car", "a blue car", "a green car"]


def test_whitespace_around_alternatives_is_dropped():
    assert every("a { red | blue } car") == ["a red car", "a blue car"]


def test_empty_alternative_leaves_no_double_space():
    assert every("a {big|} car") == ["a big car", "a car"]


def test_nested_braces_expand_inside_out():
    assert every("{a {small|large} cat|a dog} sleeps") == ["a small cat sleeps", "a large cat sleeps", "a dog sleeps"]


def test_two_groups_multiply_first_group_slowest():
    assert every("{a|b}{1|2}") == ["a1", "a2", "b1", "b2"]


def test_escaped_braces_and_bars_are_literal_other_backslashes_are_kept():
    assert every(r"\{not a choice\} a\|b \(weighted:1.2\)") == [r"{not a choice} a|b \(weighted:1.2\)"]


def test_bar_outside_braces_is_literal():
    assert every("a | b") == ["a | b"]


def test_empty_braces_give_nothing():
    assert every("x{}y") == ["xy"]


# ---------------------------------------------------------------- pick several


def test_pick_two_lists_each_pair_once_joined_by_comma():
    assert every("{2$$a|b|c}") == ["a, b", "a, c", "b, c"]


def test_pick_a_range_lists_every_size():
    assert every("{1-2$$a|b|c}") == ["a", "b", "c", "a, b", "a, c", "b, c"]


def test_open_ranges():
    assert every("{-2$$a|b}") == ["a", "b", "a, b"]
    assert every("{2-$$a|b|c}") == ["a, b", "a, c", "b, c", "a, b, c"]


def test_custom_separator():
    assert every("{2$$ and $$a|b}") == ["a and b"]


def test_more_picks_than_options_takes_them_all():
    assert every("{5$$a|b}") == ["a, b"]


def test_random_pick_several_never_repeats_an_option():
    for prompt in draws("{3$$a|b|c|d}", n=100):
        parts = prompt.split(", ")
        assert len(parts) == 3 and len(set(parts)) == 3


def test_random_range_draws_every_allowed_size():
    sizes = {len(prompt.split(", ")) for prompt in draws("{1-3$$a|b|c|d}", n=300)}
    assert sizes == {1, 2, 3}


# ---------------------------------------------------------------- weights


def test_weights_bias_random_picks():
    picks = draws("{3::a|b}", n=2000)
    share = picks.count("a") / len(picks)
    assert 0.7 < share < 0.8


def test_zero_weight_is_never_picked_alone():
    assert set(draws("{0::a|b}", n=200)) == {"b"}


def test_fractional_weights():
    picks = draws("{0.5::a|1.5::b}", n=2000)
    assert 0.18 < picks.count("a") / len(picks) < 0.32


def test_weights_do_not_change_combinatorial_lists():
    assert every("{3::a|b}") == ["a", "b"]


# ---------------------------------------------------------------- random mode


def test_random_mode_is_reproducible_for_a_seed():
    template = "{red|green|blue} {cat|dog|fox} {2$$x|y|z}"
    assert draws(template, 20, 42) == draws(template, 20, 42)
    assert draws(template, 20, 42) != draws(template, 20, 43)


def test_random_mode_reaches_every_option():
    assert set(draws("{a|b|c|d}", n=200)) == {"a", "b", "c", "d"}


# ---------------------------------------------------------------- wildcards


def test_wildcard_reads_one_option_a_line_skipping_comments_and_blanks(wildcards):
    assert every("a __animals__", wildcards) == ["a cat", "a dog", "a fox"]


def test_wildcard_in_a_subfolder_and_glob(wildcards):
    assert every("__colours/warm__", wildcards) == ["red", "orange"]
    assert every("__colours/*__", wildcards) == ["blue", "green", "red", "orange"]


def test_wildcard_lines_may_use_the_syntax_and_other_wildcards(wildcards):
    assert every("__pets__", wildcards) == [
        "a small cat",
        "a small dog",
        "a small fox",
        "a big cat",
        "a big dog",
        "a big fox",
    ]


def test_pick_several_from_a_wildcard(wildcards):
    assert every("{2$$__animals__}", wildcards) == ["cat, dog", "cat, fox", "dog, fox"]


def test_earlier_folder_overrides_a_wildcard_by_name(wildcards, tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "animals.txt").write_text("owl\n")
    assert every("__animals__", user, wildcards) == ["owl"]


def test_missing_wildcard_names_the_file_the_position_and_the_folders(wildcards):
    with pytest.raises(ParamError) as caught:
        every("a {b|__nope__}", wildcards)
    message = str(caught.value)
    assert "__nope__" in message and "position 6" in message and "nope.txt" in message and str(wildcards) in message


def test_missing_wildcard_is_reported_even_when_random_mode_would_not_pick_it(wildcards):
    with pytest.raises(ParamError, match="nope.txt"):
        draws("{a|__nope__}", 1, 0, wildcards)


def test_wildcard_file_without_options_is_an_error(wildcards):
    with pytest.raises(ParamError, match="has no options"):
        every("__empty__", wildcards)


def test_syntax_error_inside_a_wildcard_file_names_the_file_and_line(wildcards):
    with pytest.raises(PromptSyntaxError, match="broken.txt line 2"):
        every("__broken__", wildcards)


def test_wildcards_that_refer_to_each_other_in_a_loop_are_refused(wildcards):
    with pytest.raises(ParamError, match="loop"):
        every("__loop_a__", wildcards)


def test_wildcard_names_cannot_leave_the_wildcard_folders(wildcards):
    with pytest.raises(ParamError, match="without '..'"):
        every("__colours/../../secrets__", wildcards)


def test_library_lists_available_names(wildcards):
    names = WildcardLibrary([wildcards]).names()
    assert "animals" in names and "colours/warm" in names


# ---------------------------------------------------------------- errors with positions


@pytest.mark.parametrize(
    ("template", "position", "words"),
    [
        ("a {red|blue", 2, "never closed"),
        ("a {red|{blue}", 2, "never closed"),
        ("red} car", 3, "no matching"),
        ("{a|b}}", 5, "no matching"),
        ("{3-1$$a|b}", 0, "backwards"),
    ],
)
def test_unbalanced_braces_report_the_position(template, position, words):
    with pytest.raises(PromptSyntaxError) as caught:
        parse(template)
    assert caught.value.position == position
    assert words in str(caught.value)
    assert f"position {position + 1}" in str(caught.value)


# ---------------------------------------------------------------- counting


@pytest.mark.parametrize(
    "template",
    ["{a|b}{c|d|e}", "{2$$a|b|c|d}", "{1-3$$a|{b|c}|d}", "{x|{y|z} {1|2}}", "plain text", "{-2$$a|b|c}"],
)
def test_count_matches_the_number_of_combinations(template):
    ex = expander()
    tree = parse(template)
    assert ex.count(tree) == len(list(ex.combinations(tree)))


def test_combinations_are_lazy_for_huge_templates():
    ex = expander()
    tree = parse("{a|b|c|d|e|f|g|h|i|j}" * 12)  # 10**12 combinations
    assert ex.count(tree) == 10**12
    first = []
    for prompt in ex.combinations(tree):
        first.append(prompt)
        if len(first) == 3:
            break
    assert first == ["a" * 12, "a" * 11 + "b", "a" * 11 + "c"]
