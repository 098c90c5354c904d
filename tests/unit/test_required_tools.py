"""A missing program skips a test with the package to install, and fails it under CI=true."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.tools import DEBIAN_PACKAGES, in_ci, require_tool


@pytest.fixture
def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PATH", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("value", ["true", "TRUE", "1"])
def test_ci_is_recognised(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci()


@pytest.mark.parametrize("value", ["", "false", "0"])
def test_other_values_are_not_ci(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", value)
    assert not in_ci()


def test_outside_ci_a_missing_program_skips_naming_its_package(
    empty_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_tool("promtool", purpose="it checks the exposition")
    message = str(skipped.value)
    assert message.startswith("promtool is not on PATH (it checks the exposition): ")
    assert "`apt-get install -y prometheus`" in message


def test_under_ci_a_missing_program_fails_in_one_line(
    empty_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        require_tool("redis-server", alternative="`export REDIS_URL=...`")
    message = str(failed.value)
    assert message == (
        "CI=true, so this fails instead of skipping: redis-server is not on PATH: "
        "`apt-get install -y redis-server` (Debian/Ubuntu), or `export REDIS_URL=...`"
    )
    assert failed.value.pytrace is False


def test_a_program_on_path_is_returned(empty_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    program = empty_path / "kubectl"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    assert require_tool("kubectl") == str(program)


def test_every_program_names_a_package() -> None:
    assert all(DEBIAN_PACKAGES.values())
    with pytest.raises(KeyError):
        require_tool("no-such-program-anywhere")
