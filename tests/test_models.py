"""The model catalogue: its schema, lifecycles and the shutdown warnings (dates frozen with COURSE_TODAY)."""
from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from helpers import models, preflight

ROOT = Path(__file__).resolve().parents[1]
GOOD_PROVIDER_TABLES = """
[openai]
chat = "m1"
[gemini]
chat = "g1"
[groq]
chat = "q1"
[huggingface]
chat = "h1"
[lmstudio]
chat = "anything"
[models.openai."m1"]
status = "active"
source = "test"
[models.gemini."g1"]
status = "active"
source = "test"
[models.groq."q1"]
status = "active"
source = "test"
[models.huggingface."h1"]
status = "active"
source = "test"
"""


def write(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(GOOD_PROVIDER_TABLES + extra, encoding="utf-8")
    return path


def test_the_catalogue_loads_and_every_entry_cites_a_source():
    raw, entries = models.load()
    assert len(entries) > 20
    for (provider, model_id), m in entries.items():
        assert m.source.strip(), f"{provider}/{model_id} has no source"
        if m.status == "deprecated":
            assert m.shutdown is not None
        if m.reasoning != "none":
            assert m.reasoning_param, f"{model_id}: a reasoning model needs the parameter that lowers it"


def test_every_default_is_current_and_has_capabilities():
    for provider, purpose, model in models.in_use():
        m = models.info(provider, model)
        assert m is not None, f"{provider} {purpose}: {model} has no entry"
        assert m.status_on() in ("active", "preview", "deprecated"), f"{model} is shut down"
        if purpose in ("chat", "tools", "fast"):
            assert m.token_limit, f"{model}: name the token-limit field"


def test_priced_models_say_when_the_price_was_read():
    for m in models.entries().values():
        if m.price and m.price.get("input"):
            assert m.prices_checked is not None or m.note, f"{m.id}: price without a date or a note"


@pytest.mark.parametrize("extra, field", [
    ('[models.openai."x"]\nstatus = "active"\nsource = "s"\nreasoning_colour = "blue"\n', "reasoning_colour"),
    ('[models.openai."x"]\nstatus = "deprecated"\nshutdown = "2026-13-40"\nsource = "s"\n', "shutdown"),
    ('[models.openai."x"]\nstatus = "deprecated"\nsource = "s"\n', "shutdown"),
    ('[models.openai."x"]\nstatus = "retired"\nsource = "s"\n', "status"),
    ('[models.openai."x"]\nstatus = "active"\n', "source"),
    ('[models.openai."x"]\nstatus = "active"\nsource = "s"\nlogprobs = "sometimes"\n', "logprobs"),
    ('[models.openai."x"]\nstatus = "active"\nsource = "s"\nreasoning_levels = ["low"]\nreasoning_default = "high"\n',
     "reasoning_default"),
    ('[models.openai."x"]\nstatus = "active"\nsource = "s"\ndimensions = [3072, 128]\n', "dimensions"),
])
def test_a_bad_entry_fails_at_load_naming_file_entry_and_field(tmp_path, extra, field):
    path = write(tmp_path, extra)
    with pytest.raises(models.CatalogueError) as e:
        models.load(path)
    text = str(e.value)
    assert str(path) in text and '[models.openai."x"]' in text and repr(field) in text


def test_a_default_without_an_entry_fails_at_load(tmp_path):
    path = write(tmp_path, "").read_text().replace('chat = "m1"', 'chat = "m1"\ntools = "nowhere"')
    (tmp_path / "m.toml").write_text(path)
    with pytest.raises(models.CatalogueError, match=r"\[openai\], field 'tools': 'nowhere'"):
        models.load(tmp_path / "m.toml")


def test_status_follows_the_date():
    m = models.info("gemini", "gemini-2.5-flash")
    assert m.status_on(dt.date(2026, 11, 30)) == "deprecated"
    assert m.status_on(dt.date(2026, 12, 1)) == "shut_down"
    assert m.days_left(dt.date(2026, 11, 30)) == 1


def test_shutdown_notice_names_the_date_and_the_replacement():
    soon = models.shutdown_notice("openai", "gpt-4o-mini", day=dt.date(2027, 1, 1))
    assert soon == "openai: gpt-4o-mini shuts down on 2027-01-14 (in 13 days); use gpt-6-luna instead."
    assert models.shutdown_notice("openai", "gpt-4o-mini", day=dt.date(2026, 11, 1)) is None  # 74 days away
    gone = models.shutdown_notice("groq", "llama-3.1-8b-instant", day=dt.date(2026, 11, 30))
    assert "was shut down on 2026-08-16" in gone and "openai/gpt-oss-20b" in gone
    redirected = models.shutdown_notice("gemini", "gemini-2.5-flash", day=dt.date(2026, 12, 2))
    assert "answers with the replacement" in redirected


def test_retired_ids_and_replacements_follow_today(monkeypatch):
    monkeypatch.setenv("COURSE_TODAY", "2026-11-30")
    assert "gemini-2.5-flash" not in models.retired() and models.replacement_for("gemini-2.5-flash") is None
    monkeypatch.setenv("COURSE_TODAY", "2026-12-01")
    assert models.replacement_for("gemini-2.5-flash") == "gemini-3.5-flash-lite"
    assert models.replacement_for("llama-3.3-70b-versatile") == "openai/gpt-oss-120b"


def test_a_malformed_course_today_is_one_clear_sentence(monkeypatch):
    monkeypatch.setenv("COURSE_TODAY", "next tuesday")
    with pytest.raises(models.CatalogueError, match="YYYY-MM-DD"):
        models.today()


def test_setup_warns_in_one_line_about_a_model_in_use_near_its_shutdown(monkeypatch, local_server):
    from helpers import course

    monkeypatch.setenv("COURSE_TODAY", "2027-01-04")
    monkeypatch.setenv("COURSE_MODEL_OPENAI_CHAT", "gpt-4.1-mini")
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            status = course.setup("local")
    finally:
        course.undo_setup()
    lines = [n for n in status.notes if "gpt-4.1-mini" in n]
    assert lines == ["openai: gpt-4.1-mini shuts down on 2027-01-14 (in 10 days); use gpt-6-luna instead."]
    monkeypatch.setenv("COURSE_TODAY", "2026-11-30")
    monkeypatch.delenv("COURSE_MODEL_OPENAI_CHAT")
    assert models.shutdown_notices() == []  # today the defaults are all far from their shutdowns


def test_preflight_fails_for_a_default_past_its_shutdown(monkeypatch):
    monkeypatch.setenv("COURSE_TODAY", "2027-02-01")
    monkeypatch.setenv("COURSE_MODEL_OPENAI_CHAT", "gpt-4o-mini")
    checks = preflight.check_lifecycle()
    bad = [c for c in checks if c.result == preflight.FAIL]
    assert len(bad) == 1 and "gpt-4o-mini" in bad[0].what and "gpt-6-luna" in bad[0].detail
    monkeypatch.setenv("COURSE_TODAY", "2027-01-01")
    assert [c.result for c in preflight.check_lifecycle()] == [preflight.WARN]


def test_tiny_preflight_requests_fit_each_models_rules():
    assert preflight.tiny_settings("openai", "gpt-6-luna") == {"max_completion_tokens": 16, "reasoning_effort": "none"}
    groq = preflight.tiny_settings("groq", "openai/gpt-oss-20b")
    assert groq["reasoning_effort"] == "low" and groq["max_completion_tokens"] >= 64
    gem = preflight.tiny_settings("gemini", "gemini-3.8-flash")
    assert gem["thinking_config"] == {"thinking_level": "low"}


def test_the_test_run_lists_models_shutting_down_within_60_days():
    env = {**os.environ, "COURSE_TODAY": "2026-11-30"}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/test_models.py::test_status_follows_the_date"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "models shutting down within 60 days" in out.stdout
    assert re.search(r"2026-12-01\s+gemini\s+gemini-2\.5-flash; replacement: gemini-3\.5-flash-lite", out.stdout)
    assert re.search(r"2026-12-11\s+openai\s+gpt-5\b", out.stdout)


def test_the_drift_watch_workflow_is_valid_and_runs_both_checks():
    workflow = ROOT / ".github" / "workflows" / "drift-watch.yml"
    text = workflow.read_text(encoding="utf-8")
    for needle in ("schedule:", "workflow_dispatch:", "make preflight", "COURSE_MODE: live", "upload-artifact",
                   "secrets.OPENAI_API_KEY", "secrets.GEMINI_API_KEY", "secrets.GROQ_API_KEY", "secrets.HF_TOKEN"):
        assert needle in text
    lint = subprocess.run([str(Path(sys.executable).with_name("check-jsonschema")), "--builtin-schema",
                           "vendor.github-workflows", str(workflow)], capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout + lint.stderr
