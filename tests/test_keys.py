"""Tests for helpers.keys: finding API keys and explaining what is wrong with them.

No internet and no real keys. Fake keys are built at run time from repeated chunks, so that
secret scanners do not flag this file.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest

from helpers import keys
from helpers.keys import (
    PROVIDERS,
    KeyInfo,
    check_keys,
    diagnose,
    find_env_file,
    find_key,
    find_keys,
    mask,
    read_env_file,
)

# Realistic-looking fake keys (right prefix, right rough length), built at run time.
OPENAI = "sk-" + "proj-" + "Ab3dEf6h" * 7
OPENAI_2 = "sk-" + "proj-" + "Zy9xWv8u" * 7
GEMINI = "AQ." + "Ab" + "x9Yz" * 9  # an auth key, the only kind AI Studio creates now
GEMINI_2 = "AQ." + "Ab" + "Lm4n" * 9
GEMINI_OLD = "AIza" + "Sy" + "x9Yz" * 8 + "Q"  # a standard key, which the Gemini API no longer accepts
GROQ = "gsk_" + "A1b2" * 13
GROQ_2 = "gsk_" + "C3d4" * 13
HF = "hf_" + "Q2w3" * 8 + "Zx"
FAKE = {"openai": OPENAI, "gemini": GEMINI, "groq": GROQ, "huggingface": HF}
ALL_FAKES = (OPENAI, OPENAI_2, GEMINI, GEMINI_2, GEMINI_OLD, GROQ, GROQ_2, HF)

PYPROJECT = '[project]\nname = "x"\n\n[tool.course]\nrepository = "https://example.invalid/x"\n'


def assert_no_key(text: str, *values: str) -> None:
    """No key, nor its middle part, appears in ``text``."""
    for value in values or ALL_FAKES:
        assert value not in text
        middle = value[5:-5]
        assert middle not in text


def write_env(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".env"
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """No provider variables, no Colab, and a working folder with no .env around it."""
    hints = ("OPENAI", "OPEN_AI", "GEMINI", "GOOGLE", "GENAI", "GROQ", "HF_", "HUGGING")
    for name in list(os.environ):
        if any(h in name.upper() for h in hints):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    called: list[str] = []

    def no_prompt(prompt: str = "") -> str:
        called.append(prompt)
        return ""

    monkeypatch.setattr(keys.getpass, "getpass", no_prompt)
    return called


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A course folder (pyproject.toml with [tool.course]) inside an outer folder."""
    root = tmp_path / "outer" / "course"
    (root / "notebooks" / "part1").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    return root


class SecretNotFoundError(Exception):
    """Like google.colab.userdata.SecretNotFoundError."""


class NotebookAccessError(Exception):
    """Like google.colab.userdata.NotebookAccessError."""


class TimeoutException(Exception):
    """Like google.colab.userdata.TimeoutException."""


def install_colab(monkeypatch: pytest.MonkeyPatch, secrets: dict[str, object]) -> list[str]:
    """Put a stand-in ``google.colab`` with ``userdata.get`` in sys.modules; returns the names asked for."""
    asked: list[str] = []

    def get(name: str) -> str:
        asked.append(name)
        value = secrets.get(name, SecretNotFoundError(f"Secret {name} does not exist."))
        if isinstance(value, BaseException):
            raise value
        return value  # type: ignore[return-value]

    module = types.ModuleType("google.colab")
    module.userdata = types.SimpleNamespace(  # type: ignore[attr-defined]
        get=get,
        SecretNotFoundError=SecretNotFoundError,
        NotebookAccessError=NotebookAccessError,
        TimeoutException=TimeoutException,
    )
    monkeypatch.setitem(sys.modules, "google.colab", module)
    return asked


# --------------------------------------------------------------------------- specs and masking


def test_provider_specs_are_complete():
    assert set(PROVIDERS) == {"openai", "gemini", "groq", "huggingface"}
    assert PROVIDERS["gemini"].variables == ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    assert PROVIDERS["huggingface"].variables == ("HF_TOKEN",)
    assert {"HUGGINGFACE_API_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_API_TOKEN"} <= set(PROVIDERS["huggingface"].wrong_names)
    assert "OPEN_AI_API_KEY" in PROVIDERS["openai"].wrong_names
    for spec in PROVIDERS.values():
        assert spec.signup_url.startswith("https://")
        assert not set(spec.variables) & set(spec.wrong_names)
        assert FAKE[spec.provider].startswith(spec.prefix)


@pytest.mark.parametrize(
    "key, expected",
    [
        (OPENAI, "sk-...Ef6h"),
        (GROQ, "gsk_...A1b2"),
        (GEMINI, "AQ...." + GEMINI[-4:]),
        (GEMINI_OLD, "AIza..." + GEMINI_OLD[-4:]),
        (HF, "hf_..." + HF[-4:]),
        ("abcdefghijklmnop", "...mnop"),
        ("short", "****"),
        ("sk-" + "12345678", "****"),
        ("sk-" + "abc def ghijklmn", "****"),
        (None, ""),
        ("", ""),
    ],
)
def test_mask(key, expected):
    assert mask(key) == expected


def test_mask_shows_only_the_prefix_and_the_last_four_of_a_gemini_auth_key():
    shown = mask(GEMINI)
    assert shown == "AQ." + "..." + GEMINI[-4:]
    assert GEMINI[3:-4] not in shown and "Ab" not in shown


def test_scrub_masks_gemini_keys_in_a_message_but_not_ordinary_words():
    text = keys._scrub(f"API key {GEMINI} rejected; older key {GEMINI_OLD}; see FAQ.troubleshooting")
    assert mask(GEMINI) in text and mask(GEMINI_OLD) in text
    assert_no_key(text)
    assert "FAQ.troubleshooting" in text


def test_mask_never_shows_more_than_eight_characters_of_a_key():
    for n in range(1, 80):
        key = ("Zq7" * 40)[:n]
        shown = mask(key).replace("...", "").replace("*", "")
        assert len(shown) <= 8
        if n < 12:
            assert mask(key) == "****"


# --------------------------------------------------------------------------- diagnose


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_diagnose_accepts_a_clean_key(provider):
    variable = PROVIDERS[provider].variables[0]
    value, problems, warnings = diagnose(provider, FAKE[provider], variable)
    assert value == FAKE[provider]
    assert problems == [] and warnings == []


@pytest.mark.parametrize("raw", ["", "   ", '""', "''", "\n"])
def test_diagnose_empty_value(raw):
    value, problems, _ = diagnose("groq", raw, "GROQ_API_KEY")
    assert value is None
    assert len(problems) == 1
    assert "exists but is empty" in problems[0]
    assert "https://console.groq.com/keys" in problems[0]


@pytest.mark.parametrize(
    "raw, word",
    [
        (f'"{GROQ}"', "quotes"),
        (f"'{GROQ}'", "quotes"),
        (f"\u201c{GROQ}\u201d", "quotes"),
        (f"  {GROQ}  ", "spaces"),
        (f"{GROQ}\n", "line break"),
        (f' "{GROQ}" ', "quotes"),
        (f"\u200b{GROQ}", "invisible"),
    ],
)
def test_diagnose_strips_quotes_and_spaces_with_a_warning(raw, word):
    value, problems, warnings = diagnose("groq", raw, "GROQ_API_KEY")
    assert value == GROQ
    assert problems == []
    assert any(word in w for w in warnings)


def test_diagnose_strips_a_repeated_name_and_bearer():
    value, problems, warnings = diagnose("openai", f"OPENAI_API_KEY={OPENAI}", "OPENAI_API_KEY")
    assert (value, problems) == (OPENAI, [])
    assert any("OPENAI_API_KEY=" in w for w in warnings)
    value, problems, warnings = diagnose("openai", f"Bearer {OPENAI}", "OPENAI_API_KEY")
    assert (value, problems) == (OPENAI, [])
    assert any("Bearer" in w for w in warnings)


def test_diagnose_line_break_inside():
    value, problems, _ = diagnose("groq", GROQ[:20] + "\n" + GROQ[20:], "GROQ_API_KEY")
    assert value is None
    assert any("line break" in p and "https://console.groq.com/keys" in p for p in problems)
    value, problems, _ = diagnose("groq", GROQ[:20] + "\r\n" + GROQ[20:], "GROQ_API_KEY")
    assert value is None and any("line break" in p for p in problems)


def test_diagnose_space_inside():
    value, problems, _ = diagnose("huggingface", HF[:10] + " " + HF[10:], "HF_TOKEN")
    assert value is None
    assert any("space inside" in p for p in problems)


@pytest.mark.parametrize(
    "char, words",
    [
        ("\u2013", "long dash"),
        ("\u2014", "long dash"),
        ("\u2019", "curly quote"),
        ("\u201c", "curly quote"),
        ("\u00a0", "non-breaking space"),
        ("\u200b", "invisible character"),
        ("\u0430", "not a plain letter"),  # Cyrillic a, looks like a Latin a
    ],
)
def test_diagnose_non_ascii_inside(char, words):
    raw = OPENAI[:12] + char + OPENAI[13:]
    value, problems, _ = diagnose("openai", raw, "OPENAI_API_KEY")
    assert value is None
    assert len(problems) == 1
    problem = problems[0]
    assert words in problem
    assert "word processor or chat app" in problem
    assert "https://platform.openai.com/api-keys" in problem
    assert "character 13" in problem
    assert_no_key(problem, OPENAI, raw)


def test_diagnose_long_dash_message_reads_as_promised():
    raw = "sk-" + "proj\u2013" + "Ab3dEf6h" * 7
    _, problems, _ = diagnose("openai", raw, "OPENAI_API_KEY")
    assert "your key contains a long dash (\u2013)" in problems[0]
    assert "copy it again from https://platform.openai.com/api-keys" in problems[0]


@pytest.mark.parametrize(
    "raw",
    [
        "your-key-here",
        "your_api_key_here",
        "<your key>",
        "<OPENAI_API_KEY>",
        "sk-...",
        "sk-xxxxxxxxxxxx",
        "xxx",
        "XXXXXXXX",
        "changeme",
        "None",
        "null",
        "YOUR_OPENAI_API_KEY",
        "paste your key here",
        "${OPENAI_KEY}",
    ],
)
def test_diagnose_placeholder(raw):
    value, problems, _ = diagnose("openai", raw, "OPENAI_API_KEY")
    assert value is None
    assert len(problems) == 1
    assert "example text" in problems[0]
    assert "https://platform.openai.com/api-keys" in problems[0]


def test_diagnose_shortened_key_from_a_key_list():
    value, problems, _ = diagnose("openai", "sk-...Ef6h", "OPENAI_API_KEY")
    assert value is None
    assert "shortened" in problems[0] and "create a new key" in problems[0]


@pytest.mark.parametrize(
    "provider, variable, raw, other_label, other_variable",
    [
        ("openai", "OPENAI_API_KEY", GROQ, "Groq", "GROQ_API_KEY"),
        ("groq", "GROQ_API_KEY", OPENAI, "OpenAI", "OPENAI_API_KEY"),
        ("huggingface", "HF_TOKEN", GEMINI, "Google Gemini", "GEMINI_API_KEY"),
        ("huggingface", "HF_TOKEN", GEMINI_OLD, "Google Gemini", "GEMINI_API_KEY"),
        ("groq", "GROQ_API_KEY", GEMINI, "Google Gemini", "GEMINI_API_KEY"),
        ("gemini", "GEMINI_API_KEY", HF, "Hugging Face", "HF_TOKEN"),
    ],
)
def test_diagnose_key_of_another_provider(provider, variable, raw, other_label, other_variable):
    value, problems, _ = diagnose(provider, raw, variable)
    assert value is None
    assert len(problems) == 1
    assert other_label in problems[0] and other_variable in problems[0]
    assert PROVIDERS[provider].signup_url in problems[0]
    assert_no_key(problems[0], raw)


def test_groq_key_is_not_mistaken_for_openai():
    # "gsk_" contains "sk" but is not an "sk-" key.
    value, problems, warnings = diagnose("groq", GROQ, "GROQ_API_KEY")
    assert value == GROQ and problems == [] and warnings == []
    _, problems, _ = diagnose("openai", GROQ, "OPENAI_API_KEY")
    assert "Groq" in problems[0] and "OpenAI key (it starts" not in problems[0]


def test_diagnose_anthropic_key_in_openai_variable():
    raw = "sk-" + "ant-" + "api03-" + "Qw12" * 20
    value, problems, _ = diagnose("openai", raw, "OPENAI_API_KEY")
    assert value is None and "Anthropic" in problems[0]


def test_diagnose_wrong_prefix_is_only_a_warning():
    raw = "ya29." + "Kk7Lm9" * 10
    value, problems, warnings = diagnose("gemini", raw, "GEMINI_API_KEY")
    assert value == raw
    assert problems == []
    assert any("does not start with 'AQ.'" in w for w in warnings)


def test_diagnose_gemini_auth_key_has_no_warning():
    for variable in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        assert diagnose("gemini", GEMINI, variable) == (GEMINI, [], [])


def test_diagnose_standard_aiza_key_is_used_with_one_sentence_on_what_to_do():
    value, problems, warnings = diagnose("gemini", GEMINI_OLD, "GEMINI_API_KEY")
    assert value == GEMINI_OLD and problems == []  # still a real Google key: not blocked, not another provider's
    assert warnings == [
        "Google's Gemini API no longer accepts standard 'AIza' keys since September 2026; create a new key at "
        "https://aistudio.google.com/app/apikey (it starts with 'AQ.')."
    ]
    assert "does not start with" not in warnings[0]
    assert_no_key(warnings[0])


def test_find_key_reports_an_aiza_key_as_found_with_the_note(monkeypatch, course):
    monkeypatch.setenv("GEMINI_API_KEY", GEMINI_OLD)
    info = find_key("gemini", start=course)
    assert info.ok and info.value == GEMINI_OLD
    assert len(info.warnings) == 1 and "September 2026" in info.warnings[0]
    text = info.explain()
    assert "AQ." in text and mask(GEMINI_OLD) in text
    assert_no_key(text)


def test_gemini_placeholder_in_the_new_format_is_example_text():
    value, problems, _ = diagnose("gemini", "AQ." + "x" * 20, "GEMINI_API_KEY")
    assert value is None and "example text" in problems[0]


def test_diagnose_short_key_is_a_warning():
    value, problems, warnings = diagnose("groq", GROQ[:20], "GROQ_API_KEY")
    assert value == GROQ[:20] and problems == []
    assert any("cut off" in w for w in warnings)


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_diagnose_wrong_variable_name_is_used_with_a_warning(provider):
    spec = PROVIDERS[provider]
    wrong = spec.wrong_names[0]
    value, problems, warnings = diagnose(provider, FAKE[provider], wrong)
    assert value == FAKE[provider] and problems == []
    assert len(warnings) == 1
    assert wrong in warnings[0] and f"Rename it to {spec.variables[0]}" in warnings[0]


def test_diagnose_second_standard_gemini_name_is_not_wrong():
    assert diagnose("gemini", GEMINI, "GOOGLE_API_KEY") == (GEMINI, [], [])


def test_unknown_provider_is_a_clear_error_and_aliases_work():
    with pytest.raises(ValueError, match="openai, gemini, groq, huggingface"):
        find_key("anthropic")
    assert diagnose("Hugging Face", HF, "HF_TOKEN")[0] == HF
    assert diagnose("Google", GEMINI, "GEMINI_API_KEY")[0] == GEMINI


# --------------------------------------------------------------------------- reading .env


def test_read_env_with_bom_and_crlf(tmp_path):
    path = tmp_path / ".env"
    path.write_bytes(("\ufeff" + f"GROQ_API_KEY={GROQ}\r\nHF_TOKEN='{HF}'\r\n# a comment\r\n").encode("utf-8"))
    values, problems = read_env_file(path)
    assert values == {"GROQ_API_KEY": GROQ, "HF_TOKEN": HF}
    assert problems == []


def test_read_env_spaces_around_equals_and_export(tmp_path):
    path = write_env(tmp_path, f'GROQ_API_KEY = {GROQ}\nexport HF_TOKEN="{HF}"\n  OPENAI_API_KEY= {OPENAI}  \n')
    values, problems = read_env_file(path)
    assert values == {"GROQ_API_KEY": GROQ, "HF_TOKEN": HF, "OPENAI_API_KEY": OPENAI}
    assert problems == []


def test_read_env_line_without_equals(tmp_path):
    path = write_env(tmp_path, f"GROQ_API_KEY={GROQ}\nOPENAI_API_KEY\nHF_TOKEN={HF}\n")
    values, problems = read_env_file(path)
    assert values == {"GROQ_API_KEY": GROQ, "HF_TOKEN": HF}
    assert len(problems) == 1
    assert "Line 2" in problems[0] and "OPENAI_API_KEY" in problems[0] and "'='" in problems[0]


def test_read_env_gemini_auth_key_alone_on_a_line(tmp_path):
    path = write_env(tmp_path, f"{GEMINI}\n")
    _, problems = read_env_file(path)
    assert len(problems) == 1
    assert "Google Gemini key on its own" in problems[0] and "GEMINI_API_KEY=" in problems[0]
    assert_no_key(problems[0])


def test_read_env_key_alone_on_a_line_is_named_but_not_shown(tmp_path):
    path = write_env(tmp_path, f"HF_TOKEN={HF}\n{GROQ}\n")
    values, problems = read_env_file(path)
    assert values == {"HF_TOKEN": HF}
    assert len(problems) == 1
    assert "Line 2" in problems[0] and "Groq key on its own" in problems[0] and "GROQ_API_KEY=" in problems[0]
    assert_no_key(problems[0])


def test_read_env_unterminated_quote(tmp_path):
    path = write_env(tmp_path, f'HF_TOKEN={HF}\n\nGROQ_API_KEY="{GROQ}\nGEMINI_API_KEY={GEMINI}\n')
    values, problems = read_env_file(path)
    assert values == {"HF_TOKEN": HF, "GEMINI_API_KEY": GEMINI}
    assert len(problems) == 1
    assert "Line 3" in problems[0] and "never closed" in problems[0]
    assert_no_key(problems[0])


def test_read_env_quote_closed_lines_later(tmp_path):
    path = write_env(tmp_path, f'OPENAI_API_KEY="{OPENAI}\nGROQ_API_KEY={GROQ}"\nHF_TOKEN={HF}\n')
    values, problems = read_env_file(path)
    assert values["HF_TOKEN"] == HF
    assert "GROQ_API_KEY" not in values
    assert any("line 1" in p and "line 2" in p and "closing quote" in p for p in problems)


@pytest.mark.parametrize(
    "line, words",
    [
        (f"GROQ_API_KEY {GROQ}", "space where the '='"),
        (f"GROQ_API_KEY: {GROQ}", "':'"),
        (f"set GROQ_API_KEY={GROQ}", "Windows"),
        (f'GROQ_API_KEY="{GROQ}" extra', "after the closing quote"),
        (f"GROQ API KEY={GROQ}", "spaces inside the name"),
    ],
)
def test_read_env_names_bad_lines_with_their_number(tmp_path, line, words):
    path = write_env(tmp_path, f"# keys\nHF_TOKEN={HF}\n{line}\n")
    values, problems = read_env_file(path)
    assert values == {"HF_TOKEN": HF}
    assert len(problems) == 1
    assert "Line 3" in problems[0] and words in problems[0]
    assert_no_key(problems[0])


def test_read_env_duplicate_names(tmp_path):
    path = write_env(tmp_path, f"GROQ_API_KEY={GROQ_2}\nHF_TOKEN={HF}\nGROQ_API_KEY={GROQ}\n")
    values, problems = read_env_file(path)
    assert values["GROQ_API_KEY"] == GROQ
    assert any("lines 1 and 3" in p and "line 3" in p for p in problems)


def test_read_env_utf16_file_is_read_with_a_problem(tmp_path):
    path = tmp_path / ".env"
    path.write_bytes(f"GROQ_API_KEY={GROQ}\r\n".encode("utf-16"))
    values, problems = read_env_file(path)
    assert values == {"GROQ_API_KEY": GROQ}
    assert any("UTF-16" in p for p in problems)


def test_read_env_not_utf8(tmp_path):
    path = tmp_path / ".env"
    path.write_bytes(b"HF_TOKEN=" + HF.encode() + b"\nNOTE=caf\xe9\n")
    values, problems = read_env_file(path)
    assert values["HF_TOKEN"] == HF
    assert any("UTF-8" in p for p in problems)


def test_read_env_never_raises(tmp_path):
    assert read_env_file(tmp_path / "missing.env")[0] == {}
    assert read_env_file(tmp_path / "missing.env")[1]
    folder = tmp_path / "folder.env"
    folder.mkdir()
    values, problems = read_env_file(folder)
    assert values == {} and "folder" in problems[0]
    empty = tmp_path / "empty.env"
    empty.write_text("", encoding="utf-8")
    values, problems = read_env_file(empty)
    assert values == {} and "no NAME=value lines" in problems[0]
    for junk in (b"\x00\x01\x02", b"=\n==\n'\n\"\n\\\n", b"\xff" * 50, bytes(range(256))):
        path = tmp_path / "junk.env"
        path.write_bytes(junk)
        read_env_file(path)


# --------------------------------------------------------------------------- finding .env


def test_find_env_file_from_a_nested_folder(course):
    env = write_env(course, f"GROQ_API_KEY={GROQ}\n")
    path, _ = find_env_file(course / "notebooks" / "part1")
    assert path == env


def test_find_env_file_stops_at_the_course_root(course):
    write_env(course.parent, f"GROQ_API_KEY={GROQ}\n")  # above the course folder: not used
    path, notes = find_env_file(course / "notebooks")
    assert path is None
    assert any(str(course) in n for n in notes)
    info = find_key("groq", start=course / "notebooks")
    assert info.value is None and not info.ok


def test_find_env_file_git_folder_marks_the_root(tmp_path):
    root = tmp_path / "outer" / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "sub").mkdir()
    write_env(tmp_path / "outer", f"GROQ_API_KEY={GROQ}\n")
    assert find_env_file(root / "sub")[0] is None
    env = write_env(root, f"GROQ_API_KEY={GROQ}\n")
    assert find_env_file(root / "sub")[0] == env


def test_pyproject_without_course_table_is_not_the_root(course):
    inner = course / "notebooks"
    (inner / "pyproject.toml").write_text('[project]\nname = "other"\n', encoding="utf-8")
    env = write_env(course, f"GROQ_API_KEY={GROQ}\n")
    assert find_env_file(inner / "part1")[0] == env


def test_closest_env_file_wins(course):
    write_env(course, f"GROQ_API_KEY={GROQ}\n")
    near = write_env(course / "notebooks", f"GROQ_API_KEY={GROQ_2}\n")
    assert find_env_file(course / "notebooks" / "part1")[0] == near


def test_without_a_course_root_only_the_start_folder_is_searched(tmp_path):
    write_env(tmp_path / "a", f"GROQ_API_KEY={GROQ}\n")
    (tmp_path / "a" / "b").mkdir()
    assert find_env_file(tmp_path / "a" / "b")[0] is None
    assert find_env_file(tmp_path / "a")[0] == tmp_path / "a" / ".env"


def test_default_start_is_the_current_folder(course, monkeypatch):
    env = write_env(course, f"GROQ_API_KEY={GROQ}\n")
    monkeypatch.chdir(course / "notebooks")
    assert find_env_file()[0] == env
    info = find_key("groq")
    assert info.ok and info.source == ".env" and info.env_file == env


@pytest.mark.parametrize(
    "name, words",
    [
        (".env.txt", "no .txt at the end"),
        ("env.txt", "no .txt at the end"),
        ("env", "Rename it to .env"),
        (".env.local", "Rename it to .env"),
        (".env.example", "copy .env.example to .env and fill it in"),
    ],
)
def test_find_env_file_names_look_alikes(course, name, words):
    (course / name).write_text(f"GROQ_API_KEY={GROQ}\n", encoding="utf-8")
    path, notes = find_env_file(course / "notebooks")
    assert path is None
    assert any(name in n and words in n for n in notes)
    info = find_key("groq", start=course / "notebooks")
    assert info.value is None
    assert any(name in p and words in p for p in info.problems)
    assert_no_key(info.explain())


def test_hidden_dot_note_when_no_env_file(course):
    _, notes = find_env_file(course)
    assert any("Jupyter and Windows Explorer hide files starting with a dot" in n for n in notes)


def test_example_file_is_not_mentioned_when_env_exists(course):
    (course / ".env.example").write_text("GROQ_API_KEY=your-key-here\n", encoding="utf-8")
    env = write_env(course, f"GROQ_API_KEY={GROQ}\n")
    path, notes = find_env_file(course)
    assert path == env
    assert not any(".env.example" in n for n in notes)


def test_look_alike_notes_are_not_problems_when_the_key_is_found(course, monkeypatch):
    (course / ".env.txt").write_text("x=1\n", encoding="utf-8")
    monkeypatch.setenv("GROQ_API_KEY", GROQ)
    info = find_key("groq", start=course)
    assert info.ok
    assert not any(".env.txt" in m for m in info.problems + info.warnings)


# --------------------------------------------------------------------------- sources and their order


def test_key_from_environment(monkeypatch, course):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI)
    info = find_key("openai", start=course)
    assert info.ok
    assert (info.source, info.variable, info.value) == ("env", "OPENAI_API_KEY", OPENAI)
    assert info.masked == "sk-...Ef6h"
    assert info.problems == [] and info.warnings == []


def test_key_from_env_file_in_a_parent_folder(course):
    env = write_env(course, f"HF_TOKEN={HF}\n")
    info = find_key("huggingface", start=course / "notebooks" / "part1")
    assert info.ok
    assert (info.source, info.variable, info.value, info.env_file) == (".env", "HF_TOKEN", HF, env)


def test_environment_wins_over_env_file_and_says_so(monkeypatch, course):
    write_env(course, f"GROQ_API_KEY={GROQ_2}\n")
    monkeypatch.setenv("GROQ_API_KEY", GROQ)
    info = find_key("groq", start=course)
    assert (info.source, info.value) == ("env", GROQ)
    assert any("different key" in w and "restart the kernel" in w and mask(GROQ_2) in w for w in info.warnings)


def test_same_key_in_environment_and_env_file_gives_no_warning(monkeypatch, course):
    write_env(course, f"GROQ_API_KEY={GROQ}\n")
    monkeypatch.setenv("GROQ_API_KEY", GROQ)
    info = find_key("groq", start=course)
    assert info.ok and info.warnings == []


def test_standard_name_wins_over_wrong_name_in_the_same_place(monkeypatch, course):
    monkeypatch.setenv("GROQ_KEY", GROQ_2)
    monkeypatch.setenv("GROQ_API_KEY", GROQ)
    info = find_key("groq", start=course)
    assert (info.variable, info.value) == ("GROQ_API_KEY", GROQ)


def test_wrong_name_in_environment_comes_before_env_file(monkeypatch, course):
    write_env(course, f"GROQ_API_KEY={GROQ_2}\n")
    monkeypatch.setenv("GROQ_KEY", GROQ)
    info = find_key("groq", start=course)
    assert (info.source, info.variable, info.value) == ("env", "GROQ_KEY", GROQ)
    assert any("GROQ_KEY" in w and "Rename it to GROQ_API_KEY" in w for w in info.warnings)


@pytest.mark.parametrize(
    "provider, name",
    [
        ("openai", "OPENAI_KEY"),
        ("openai", "OPEN_AI_API_KEY"),
        ("gemini", "GOOGLE_GENAI_KEY"),
        ("gemini", "GEMINI_KEY"),
        ("groq", "GROQ_API_TOKEN"),
        ("huggingface", "HUGGINGFACE_API_TOKEN"),
        ("huggingface", "HUGGINGFACEHUB_API_TOKEN"),
        ("huggingface", "HUGGING_FACE_HUB_TOKEN"),
        ("huggingface", "HF_API_KEY"),
    ],
)
def test_wrong_name_in_env_file_is_used_with_a_warning(course, provider, name):
    write_env(course, f"{name}={FAKE[provider]}\n")
    info = find_key(provider, start=course)
    assert info.ok
    assert (info.source, info.variable, info.value) == (".env", name, FAKE[provider])
    std = PROVIDERS[provider].variables[0]
    assert any(name in w and f"Rename it to {std}" in w for w in info.warnings)


def test_lower_case_name_in_env_file_is_used_with_a_warning(course):
    write_env(course, f"groq_api_key={GROQ}\n")
    info = find_key("groq", start=course)
    assert info.ok and info.variable == "groq_api_key"
    assert any("Rename it to GROQ_API_KEY" in w for w in info.warnings)


def test_empty_environment_variable_does_not_hide_the_env_file(monkeypatch, course):
    monkeypatch.setenv("GROQ_API_KEY", "")
    write_env(course, f"GROQ_API_KEY={GROQ}\n")
    info = find_key("groq", start=course)
    assert info.ok and info.source == ".env"
    assert any("empty" in w and "environment" in w for w in info.warnings)


def test_unusable_key_is_reported_where_it_was_found(monkeypatch, course):
    monkeypatch.setenv("OPENAI_API_KEY", "your-key-here")
    info = find_key("openai", start=course)
    assert not info.ok and info.value is None
    assert (info.source, info.variable) == ("env", "OPENAI_API_KEY")
    assert any(p.startswith("In the environment") and "example text" in p for p in info.problems)
    assert "cannot be used" in info.explain()


def test_key_in_env_file_with_a_long_dash(course):
    raw = OPENAI[:12] + "\u2014" + OPENAI[13:]
    write_env(course, f"OPENAI_API_KEY={raw}\n")
    info = find_key("openai", start=course)
    assert not info.ok and info.value is None and info.source == ".env"
    assert any("line 1 of the .env file" in p and "long dash" in p for p in info.problems)
    assert_no_key(info.explain(), raw, OPENAI)


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_missing_key_names_the_variable_and_the_signup_page(course, provider):
    info = find_key(provider, start=course)
    spec = PROVIDERS[provider]
    assert info.value is None and not info.ok
    assert info.source is None and info.variable is None
    message = info.problems[0]
    for name in spec.variables:
        assert name in message
    assert spec.signup_url in message
    assert str(course) in message  # where to put the .env file
    assert "no usable key" in info.explain()


def test_missing_key_mentions_the_env_file_that_lacks_it(course):
    env = write_env(course, f"HF_TOKEN={HF}\n")
    info = find_key("groq", start=course)
    assert "GROQ_API_KEY=<your key>" in info.problems[0] and str(env) in info.problems[0]


def test_commented_out_key_is_pointed_out(course):
    write_env(course, f"# GROQ_API_KEY={GROQ}\nHF_TOKEN={HF}\n")
    info = find_key("groq", start=course)
    assert info.value is None
    assert any("Line 1" in p and "comment" in p for p in info.problems)
    assert_no_key(info.explain())


def test_key_under_an_unknown_name_is_suggested_but_not_used(course):
    write_env(course, f"MY_GROQ={GROQ}\n")
    info = find_key("groq", start=course)
    assert info.value is None
    assert any("MY_GROQ" in p and "rename it to GROQ_API_KEY" in p for p in info.problems)


def test_env_file_line_problems_go_to_the_provider_they_mention(course):
    write_env(course, f"GROQ_API_KEY {GROQ}\nHF_TOKEN={HF}\n")
    groq = find_key("groq", start=course)
    hf = find_key("huggingface", start=course)
    assert any("Line 1" in p for p in groq.problems)
    assert hf.ok and not any("Line 1" in m for m in hf.problems + hf.warnings)


# --------------------------------------------------------------------------- Gemini's two names


def test_gemini_prefers_gemini_api_key_and_warns_about_a_different_google_api_key(monkeypatch, course):
    monkeypatch.setenv("GEMINI_API_KEY", GEMINI)
    monkeypatch.setenv("GOOGLE_API_KEY", GEMINI_2)
    info = find_key("gemini", start=course)
    assert info.ok and (info.variable, info.value) == ("GEMINI_API_KEY", GEMINI)
    assert any("google-genai" in w and "GOOGLE_API_KEY" in w and "both" in w for w in info.warnings)


def test_gemini_same_key_under_both_names_is_fine(monkeypatch, course):
    monkeypatch.setenv("GEMINI_API_KEY", GEMINI)
    monkeypatch.setenv("GOOGLE_API_KEY", GEMINI)
    info = find_key("gemini", start=course)
    assert info.ok and info.warnings == []


def test_gemini_google_api_key_alone_is_standard(monkeypatch, course):
    monkeypatch.setenv("GOOGLE_API_KEY", GEMINI)
    info = find_key("gemini", start=course)
    assert info.ok and info.variable == "GOOGLE_API_KEY" and info.warnings == []


def test_gemini_google_api_key_in_env_file_differs(monkeypatch, course):
    monkeypatch.setenv("GEMINI_API_KEY", GEMINI)
    write_env(course, f"GOOGLE_API_KEY={GEMINI_2}\n")
    info = find_key("gemini", start=course)
    assert info.value == GEMINI
    assert any("google-genai uses GOOGLE_API_KEY" in w.replace("library ", "") for w in info.warnings)


# --------------------------------------------------------------------------- Colab secrets


def test_colab_secret_is_used(monkeypatch, course):
    install_colab(monkeypatch, {"GROQ_API_KEY": GROQ})
    info = find_key("groq", start=course)
    assert info.ok and (info.source, info.variable, info.value) == ("colab", "GROQ_API_KEY", GROQ)


def test_colab_is_asked_only_for_the_standard_names(monkeypatch, course):
    # Each request may show Colab's grant-access pop-up, so wrong names are recognised only where the course
    # can read them without asking (environment, .env); Colab is asked for the standard names, once each.
    asked = install_colab(monkeypatch, {"HUGGINGFACE_API_TOKEN": HF})
    info = find_key("huggingface", start=course)
    assert info.value is None and asked == ["HF_TOKEN"]
    asked.clear()
    find_key("gemini", start=course)
    assert asked == ["GEMINI_API_KEY", "GOOGLE_API_KEY"]


def test_colab_is_not_asked_when_environment_or_env_file_has_the_key(monkeypatch, course):
    asked = install_colab(monkeypatch, {"GROQ_API_KEY": GROQ_2, "HF_TOKEN": HF})
    monkeypatch.setenv("GROQ_API_KEY", GROQ)
    write_env(course, f"HF_TOKEN={HF}\n")
    assert find_key("groq", start=course).source == "env"
    assert find_key("huggingface", start=course).source == ".env"
    assert asked == []


def test_colab_secret_not_found_is_a_missing_key(monkeypatch, course):
    asked = install_colab(monkeypatch, {})
    info = find_key("groq", start=course)
    assert info.value is None
    assert "GROQ_API_KEY" in asked
    assert "secret named GROQ_API_KEY" in info.problems[0]
    assert not any("SecretNotFoundError" in p for p in info.problems)


def test_colab_secret_without_notebook_access(monkeypatch, course):
    install_colab(monkeypatch, {"GROQ_API_KEY": NotebookAccessError("Notebook does not have access to secret GROQ_API_KEY")})
    info = find_key("groq", start=course)
    assert info.value is None
    assert any(
        "open the key icon in Colab's left bar and switch on 'Notebook access' for GROQ_API_KEY" in p
        for p in info.problems
    )


def test_colab_timeout_and_other_errors_are_notes(monkeypatch, course):
    install_colab(monkeypatch, {"GROQ_API_KEY": TimeoutException("timed out")})
    info = find_key("groq", start=course)
    assert info.value is None and any("did not answer" in p for p in info.problems)
    install_colab(monkeypatch, {"HF_TOKEN": RuntimeError(f"backend said {HF}")})
    info = find_key("huggingface", start=course)
    assert info.value is None and any("RuntimeError" in p for p in info.problems)
    assert_no_key(info.explain() + repr(info), HF)


def test_colab_secret_with_a_problem(monkeypatch, course):
    install_colab(monkeypatch, {"OPENAI_API_KEY": f"{OPENAI[:30]}\n{OPENAI[30:]}"})
    info = find_key("openai", start=course)
    assert not info.ok and info.source == "colab"
    assert any("Colab secrets" in p and "line break" in p for p in info.problems)


def test_broken_colab_module_does_not_raise(monkeypatch, course):
    module = types.ModuleType("google.colab")  # no userdata at all
    monkeypatch.setitem(sys.modules, "google.colab", module)
    info = find_key("groq", start=course)
    assert info.value is None and any("Colab secrets could not be opened" in p for p in info.problems)


# --------------------------------------------------------------------------- the prompt


def test_no_prompt_unless_asked(clean, course):
    find_keys(start=course)
    check_keys(start=course)
    assert clean == []


def test_prompted_key_is_used(monkeypatch, course):
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return f"  '{GROQ}' "

    monkeypatch.setattr(keys.getpass, "getpass", fake_getpass)
    info = find_key("groq", prompt=True, start=course)
    assert info.ok and (info.source, info.variable, info.value) == ("prompt", "GROQ_API_KEY", GROQ)
    assert len(prompts) == 1 and "Groq" in prompts[0] and "https://console.groq.com/keys" in prompts[0]
    assert any("quotes" in w for w in info.warnings)


def test_prompt_is_skipped_when_the_key_is_found(monkeypatch, clean, course):
    monkeypatch.setenv("GROQ_API_KEY", GROQ)
    assert find_key("groq", prompt=True, start=course).source == "env"
    assert clean == []


def test_empty_prompt_means_no_key(clean, course):
    info = find_key("openai", prompt=True, start=course)
    assert info.value is None and len(clean) == 1
    assert any("left the prompt empty" in p for p in info.problems)


def test_prompt_asks_again_after_a_bad_key(monkeypatch, course, capsys):
    answers = iter([GROQ[:20] + "\u2013" + GROQ[21:], GROQ])
    monkeypatch.setattr(keys.getpass, "getpass", lambda prompt="": next(answers))
    info = find_key("groq", prompt=True, start=course)
    assert info.ok and info.value == GROQ
    out = capsys.readouterr().out
    assert "long dash" in out
    assert_no_key(out, GROQ)


def test_prompt_gives_up_after_three_bad_keys(monkeypatch, course, capsys):
    monkeypatch.setattr(keys.getpass, "getpass", lambda prompt="": OPENAI)
    info = find_key("groq", prompt=True, start=course)
    assert info.value is None
    assert any(p.startswith("At the prompt") and "OpenAI" in p for p in info.problems)
    assert_no_key(capsys.readouterr().out + info.explain())


def test_interrupted_prompt_stops_asking(monkeypatch, course):
    calls: list[str] = []

    def interrupted(prompt: str = "") -> str:
        calls.append(prompt)
        raise KeyboardInterrupt

    monkeypatch.setattr(keys.getpass, "getpass", interrupted)
    infos = find_keys(prompt=True, start=course)
    assert len(calls) == 1
    assert all(info.value is None for info in infos.values())
    assert any("stopped the prompt" in p for p in infos["openai"].problems)


def test_prompt_without_an_input_box(monkeypatch, course):
    class StdinNotImplementedError(NotImplementedError):
        pass

    def no_stdin(prompt: str = "") -> str:
        raise StdinNotImplementedError("raw_input was called, but this frontend does not support input requests.")

    monkeypatch.setattr(keys.getpass, "getpass", no_stdin)
    info = find_key("huggingface", prompt=True, start=course)
    assert info.value is None and any("cannot show an input box" in p for p in info.problems)


# --------------------------------------------------------------------------- never showing a key


def everything_at_once(monkeypatch, course) -> None:
    """Keys in every source, good and bad, under right and wrong names."""
    monkeypatch.setenv("OPENAI_API_KEY", f'"{OPENAI}"')
    monkeypatch.setenv("GOOGLE_API_KEY", GEMINI_2)
    write_env(
        course,
        f"GEMINI_API_KEY={GEMINI}\nOPENAI_API_KEY={OPENAI_2}\nGROQ_API_KEY={GROQ[:9]}\u2014{GROQ[10:]}\n"
        f"{GROQ_2}\nHF_TOKEN '{HF}\n",
    )
    install_colab(monkeypatch, {"GROQ_API_KEY": GROQ_2, "HF_TOKEN": NotebookAccessError("no access")})


def test_no_key_in_check_keys_output_explain_or_repr(monkeypatch, course, capsys):
    everything_at_once(monkeypatch, course)
    infos = check_keys(start=course / "notebooks")
    out = capsys.readouterr().out
    assert_no_key(out)
    for info in infos.values():
        assert_no_key(info.explain())
        assert_no_key(repr(info))
        assert_no_key(str(info))
        assert_no_key(" ".join(info.problems + info.warnings))
    assert infos["openai"].value == OPENAI  # the value is still there for setup() to use
    assert "sk-...Ef6h" in out and "[OK] OpenAI" in out


def test_check_keys_report(monkeypatch, course, capsys):
    everything_at_once(monkeypatch, course)
    infos = check_keys(start=course)
    out = capsys.readouterr().out
    assert set(infos) == set(PROVIDERS)
    assert infos["openai"].ok and infos["openai"].source == "env"
    assert infos["gemini"].source == "env" and infos["gemini"].variable == "GOOGLE_API_KEY"
    assert infos["groq"].ok and infos["groq"].source == "colab" and infos["groq"].variable == "GROQ_API_KEY"
    assert not infos["huggingface"].ok
    assert str(course / ".env") in out
    assert "Notebook access" in out and "long dash" in out
    assert "Line 4" in out  # the bare Groq key on its own line
    assert "Line 5" in out  # the HF_TOKEN line with a space and an open quote


def test_repr_hides_the_value():
    info = KeyInfo(provider="groq", variable="GROQ_API_KEY", value=GROQ, source="env")
    assert GROQ not in repr(info)
    assert "gsk_...A1b2" in repr(info)
    assert KeyInfo(provider="groq").masked == ""
    assert "value=None" in repr(KeyInfo(provider="groq"))


def test_ok_needs_a_value_and_no_problems():
    assert KeyInfo(provider="groq", value=GROQ).ok
    assert not KeyInfo(provider="groq", value=GROQ, problems=["x"]).ok
    assert not KeyInfo(provider="groq").ok


# --------------------------------------------------------------------------- nothing raises


@pytest.mark.parametrize(
    "raw",
    ["\x00", "\u2026", "=", "==", ":", "Bearer", "Bearer ", "OPENAI_API_KEY=", '"', "\ud800", "a" * 5000, "\t\n\r", "${}"],
)
def test_diagnose_never_raises(raw):
    for provider, spec in PROVIDERS.items():
        value, problems, warnings = diagnose(provider, raw, spec.variables[0])
        assert value is None or isinstance(value, str)
        assert isinstance(problems, list) and isinstance(warnings, list)


def test_odd_start_folders_do_not_raise(tmp_path, course):
    (tmp_path / "a_file.txt").write_text("x", encoding="utf-8")
    for start in (tmp_path / "does" / "not" / "exist", tmp_path / "a_file.txt", course, str(course)):
        infos = find_keys(start=start)  # type: ignore[arg-type]
        assert set(infos) == set(PROVIDERS)
        assert find_env_file(start)[0] is None  # type: ignore[arg-type]


def test_env_folder_named_env_does_not_raise(course):
    (course / ".env").mkdir()
    path, notes = find_env_file(course)
    assert path is None and any("is a folder" in n for n in notes)
    assert find_key("groq", start=course).value is None


def test_unreadable_env_file_does_not_raise(course, monkeypatch):
    env = write_env(course, f"GROQ_API_KEY={GROQ}\n")

    def refuse(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    info = find_key("groq", start=course)
    assert info.value is None
    assert any("Could not open" in p and str(env) in p for p in info.problems)


def test_line_numbers_count_blank_lines_and_comments(tmp_path):
    path = write_env(tmp_path, f"\n\n# first\n\nGROQ_API_KEY={GROQ_2}\n\n\nOPENAI_API_KEY\n\nGROQ_API_KEY={GROQ}\n")
    values, problems = read_env_file(path)
    assert values == {"GROQ_API_KEY": GROQ}
    assert any(p.startswith("Line 8 ") for p in problems)
    assert any("lines 5 and 10" in p for p in problems)


def test_env_example_copied_without_filling_in_reads_as_not_set(course):
    write_env(course, "# OpenAI\nOPENAI_API_KEY=\n\nGROQ_API_KEY=\nHF_TOKEN=\nGEMINI_API_KEY=\n# COURSE_MODE=auto\n")
    info = find_key("openai", start=course)
    assert info.value is None and not info.ok
    assert (info.source, info.variable) == (None, None)
    assert info.explain().startswith("[--] OpenAI: no usable key found.")
    assert any("line 2 of the .env file" in p and "exists but is empty" in p for p in info.problems)
    assert any("https://platform.openai.com/api-keys" in p for p in info.problems)


def test_a_utf32_env_is_named_as_utf32(tmp_path, monkeypatch):
    """A .env saved as UTF-32 is read, and named as UTF-32 (its BOM starts like UTF-16's)."""
    from helpers import keys as keys_mod

    (tmp_path / ".git").mkdir()
    (tmp_path / ".env").write_bytes(("GROQ_API_KEY=" + "gsk_" + "Ab3d" * 12 + "\n").encode("utf-32"))
    monkeypatch.chdir(tmp_path)
    env = keys_mod._read_env(tmp_path / ".env")
    assert any("UTF-32" in message for message, _ in env.problems)
    assert not any("UTF-16" in message for message, _ in env.problems)
    assert env.values["GROQ_API_KEY"].startswith("gsk_")


@pytest.mark.parametrize("make", ["dangling_link", "fifo"])
def test_a_dangling_link_or_a_fifo_named_env_is_explained(tmp_path, monkeypatch, make):
    """Not "no .env found": say what the .env is and what to do (and never open a FIFO, which would block)."""
    from helpers import keys as keys_mod

    (tmp_path / ".git").mkdir()
    if make == "dangling_link":
        (tmp_path / ".env").symlink_to(tmp_path / "missing.env")
    else:
        os.mkfifo(tmp_path / ".env")
    found, notes = keys_mod.find_env_file(tmp_path)
    assert found is None
    text = " ".join(notes)
    assert ("does not exist" in text) if make == "dangling_link" else ("not a regular file" in text)


@pytest.mark.parametrize("value", ["OPENAI_API_KEY", "openai_api_key", "HF_TOKEN", "OPENAI_KEY"])
def test_a_variable_name_given_as_the_key_is_named_as_that_mistake(value):
    cleaned, problems, _ = diagnose("openai", value, "OPENAI_API_KEY")
    assert cleaned is None
    assert len(problems) == 1 and "a variable's name, not a key" in problems[0] and "OPENAI_API_KEY=your-key" in problems[0]
