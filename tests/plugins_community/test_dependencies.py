"""A plugin's dependencies go into its own folder, and never replace the studio's packages."""

from __future__ import annotations

import importlib.metadata
import sys

import pytest
from community_helpers import build_wheel, make_plugin, studio, zip_folder

from studio.core.paths import HomeLayout
from studio.plugins.install import DependencyConflict, InstallError, install, plan_install

TORCH = importlib.metadata.version("torch")
NUMPY = importlib.metadata.version("numpy")


def plan(archive, home):
    layout = HomeLayout(home)
    return plan_install(archive, layout=layout, plugin_folders=[(layout.plugins_dir, "user")])


def test_a_dependency_that_would_replace_torch_is_refused_naming_both_versions(tmp_path, home):
    archive = zip_folder(make_plugin(tmp_path / "src", dependencies=["torch<2"]), tmp_path / "p.zip")
    with pytest.raises(DependencyConflict) as caught:
        plan(archive, home)
    message = str(caught.value)
    assert "torch<2" in message and f"the studio runs torch {TORCH}" in message
    assert "never replace or downgrade" in message


def test_the_cli_refuses_the_torch_replacement_and_installs_nothing(tmp_path, home):
    archive = zip_folder(make_plugin(tmp_path / "src", dependencies=["torch==1.13.1"]), tmp_path / "p.zip")
    result = studio(home, "plugins", "install", str(archive), "--yes")
    assert result.returncode == 1
    assert f"needs torch==1.13.1, but the studio runs torch {TORCH}" in result.stderr
    assert not (HomeLayout(home).plugins_dir / "acme.thing").exists()


def test_a_bundled_wheel_that_needs_an_older_numpy_is_refused(tmp_path, home):
    folder = make_plugin(tmp_path / "src", dependencies=["oldstuff"])
    build_wheel(folder / "wheels", "oldstuff", "1.0", requires=["numpy<1.0"])
    with pytest.raises(
        DependencyConflict, match=rf"bundled wheel oldstuff-1.0-py3-none-any.whl needs numpy<1.0, but the studio runs numpy {NUMPY}"
    ):
        plan(zip_folder(folder, tmp_path / "p.zip"), home)


def test_a_dependency_the_studio_provides_is_not_installed_again(tmp_path, home):
    archive = zip_folder(make_plugin(tmp_path / "src", dependencies=["numpy>=1.20", "pillow"]), tmp_path / "p.zip")
    result_plan = plan(archive, home)
    assert {(d.name.lower(), d.source) for d in result_plan.dependencies} == {("numpy", "studio"), ("pillow", "studio")}
    result = install(result_plan, trial=False)
    assert not (result.path / "deps").exists()


def test_direct_url_dependencies_are_refused(tmp_path, home):
    archive = zip_folder(make_plugin(tmp_path / "src", dependencies=["evil @ https://example.com/evil.whl"]), tmp_path / "p.zip")
    with pytest.raises(InstallError, match="points at a URL"):
        plan(archive, home)


USES_TINYDEP = """
import tinydep, tinysub, sys
ctx.log(f"tinydep {tinydep.VERSION} tinysub {tinysub.VERSION}")
ctx.log("deps on path: " + str(any(p.endswith("deps") for p in sys.path)))
"""


def test_bundled_wheels_install_offline_into_the_plugins_own_deps_folder(tmp_path, home):
    folder = make_plugin(tmp_path / "src", package="tinyuser", dependencies=["tinydep>=1"], generators={"acme.thing": USES_TINYDEP})
    build_wheel(folder / "wheels", "tinydep", "1.0", requires=["tinysub>=2", "numpy>=1.0"])
    build_wheel(folder / "wheels", "tinysub", "2.0")
    build_wheel(folder / "wheels", "tinysub", "1.0")  # too old for tinydep: not chosen
    result_plan = plan(zip_folder(folder, tmp_path / "p.zip"), home)
    sources = {d.name: (d.source, d.version) for d in result_plan.dependencies}
    assert sources == {"tinydep": ("bundled", "1.0"), "tinysub": ("bundled", "2.0"), "numpy": ("studio", NUMPY)}

    result = install(result_plan)  # pip --no-index from wheels/, then the trial import
    deps = result.path / "deps"
    assert (deps / "tinydep" / "__init__.py").is_file() and (deps / "tinysub" / "__init__.py").is_file()
    assert not (deps / "numpy").exists()  # the studio's numpy is used, never a second copy
    assert sorted(result.dependencies) == ["tinydep==1.0", "tinysub==2.0"]
    assert "tinydep" not in sys.modules

    from studio.engine.config import EngineConfig
    from studio.engine.runner import LocalRunner

    runner = LocalRunner(EngineConfig(home=home, include_first_party=False, device="cpu"))
    job = runner.run("acme.thing", {}, 1)
    assert job.logs == ["tinydep 1.0 tinysub 2.0", "deps on path: True"]
    # Off the path again once the plugin's code has run.
    assert not any(str(result.path) in entry for entry in sys.path)


def test_a_dependency_from_the_package_index_goes_through_pip_with_the_studio_pinned(tmp_path, home):
    index = tmp_path / "index"
    build_wheel(index, "tinysub", "2.0")
    archive = zip_folder(make_plugin(tmp_path / "src", dependencies=["tinysub"]), tmp_path / "p.zip")
    result_plan = plan(archive, home)
    assert [(d.name, d.source) for d in result_plan.dependencies] == [("tinysub", "index")]
    # A local folder stands in for the package index (pip reads PIP_* settings from the environment).
    monkey_env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(index)}
    import os

    saved = {key: os.environ.get(key) for key in monkey_env}
    os.environ.update(monkey_env)
    try:
        result = install(result_plan, trial=False)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert result.dependencies == ["tinysub==2.0"]


def test_a_missing_dependency_fails_cleanly_and_leaves_nothing_behind(tmp_path, home, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    archive = zip_folder(make_plugin(tmp_path / "src", dependencies=["nonexistent-package-xyz"]), tmp_path / "p.zip")
    with pytest.raises(InstallError, match="pip could not install the dependencies of acme.thing"):
        install(plan(archive, home))
    assert [p.name for p in HomeLayout(home).plugins_dir.iterdir() if p.name != ".install.lock"] == []
