"""No API key in any file the repository holds or would add: detect-secrets plus the course's own patterns.

Fake keys below are built at run time so this file itself holds none.
"""

from __future__ import annotations

import random
import string
import sys
from pathlib import Path

import pytest
from detect_secrets import SecretsCollection
from detect_secrets.settings import default_settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import secret_patterns  # noqa: E402

ALNUM = string.ascii_letters + string.digits
rng = random.Random(20240611)


def fake(prefix: str, length: int, alphabet: str = ALNUM) -> str:
    """A random key-shaped string: ``prefix`` then ``length`` characters."""
    return prefix + "".join(rng.choice(alphabet) for _ in range(length))


# Realistic shapes: OpenAI legacy (48), project keys (long, with - and _), Google (AIza + 35),
# Gemini auth keys (AQ.Ab + 48, with - and _), Groq (gsk_ + 52), Hugging Face (hf_ + 34).
REALISTIC = {
    "OpenAI key": fake("sk-", 48),
    "OpenAI project key": fake("sk-proj-", 120, ALNUM + "-_"),
    "Google API key": fake("AIza", 35, ALNUM + "-_"),
    "Google auth key": fake("AQ.Ab", 48, ALNUM + "-_"),
    "Groq key": fake("gsk_", 52),
    "Hugging Face token": fake("hf_", 34),
}
DUMMIES = [
    "hf_local", "sk-local", "gsk_local", "sk-proj-local", "AIzaLocal", "sk-local-not-a-real-key-for-offline-mode",
    "hf_xxx", "sk-...abcd", "gsk_...a1B2", "OPENAI_API_KEY", "HF_TOKEN", "scikit-learn", "task-" + "a" * 40,
    "AQ.local", "AQ....x9Yz", "AQ." + "Ab" + "x9Yz" * 4, "FAQ." + "section" * 6,
]


def repository_files() -> list[str]:
    return [p.relative_to(ROOT).as_posix() for p in secret_patterns.repository_files(ROOT)]


@pytest.mark.parametrize("kind", REALISTIC)
def test_each_pattern_catches_a_realistic_key_in_context(kind: str) -> None:
    key = REALISTIC[kind]
    for line in (key, f'api_key = "{key}"', f"export X={key}", f'    "source": ["client = Client(\'{key}\')"],'):
        matches = secret_patterns.find_secrets(f"first line\n{line}\n")
        assert [(m.line, m.kind) for m in matches] == [(2, kind)], line


@pytest.mark.parametrize("dummy", DUMMIES)
def test_short_dummies_and_names_are_not_flagged(dummy: str) -> None:
    assert secret_patterns.find_secrets(f'key = "{dummy}"') == []


def test_keys_one_character_short_of_the_minimum_are_not_flagged() -> None:
    minimum = {"OpenAI key": 32, "OpenAI project key": 40, "Google API key": 35, "Google auth key": 32, "Groq key": 40,
               "Hugging Face token": 30}
    prefixes = {"OpenAI key": "sk-", "OpenAI project key": "sk-proj-", "Google API key": "AIza",
                "Google auth key": "AQ.", "Groq key": "gsk_", "Hugging Face token": "hf_"}
    for kind, key in REALISTIC.items():
        at_minimum = key[: len(prefixes[kind]) + minimum[kind]]
        assert [m.kind for m in secret_patterns.find_secrets(at_minimum)] == [kind]
        assert secret_patterns.find_secrets(at_minimum[:-1]) == [], kind


def test_masked_form_never_shows_the_key() -> None:
    for key in REALISTIC.values():
        [match] = secret_patterns.find_secrets(key)
        assert match.masked.endswith("..." + key[-4:]) and len(match.masked) <= len("sk-proj-...") + 4
        assert key[4:-4] not in match.masked


def test_gemini_auth_key_is_caught_and_shown_as_prefix_and_last_four() -> None:
    key = "AQ." + "Ab" + "x9Yz" * 9  # the shape AI Studio creates now
    [match] = secret_patterns.find_secrets(f"GEMINI_API_KEY={key}\n")
    assert match.kind == "Google auth key"
    assert match.masked == "AQ...." + key[-4:]


def test_allowlist_pragma_skips_the_line() -> None:
    key = REALISTIC["Groq key"]
    text = f'a = "{key}"  # pragma: allowlist secret\nb = "{key}"\n'
    assert [m.line for m in secret_patterns.find_secrets(text)] == [2]


def test_detect_secrets_harness_finds_a_planted_key(tmp_path: Path) -> None:
    """Proves the repository scan below can fail: the same call finds a key in a scratch file."""
    planted = tmp_path / "settings.py"
    planted.write_text(f'OPENAI_API_KEY = "{fake("sk-", 20)}T3BlbkFJ{fake("", 20)}"\n')
    secrets = SecretsCollection(root=str(tmp_path))
    with default_settings():
        secrets.scan_file("settings.py")
    assert "OpenAI Token" in {s["type"] for s in secrets.json().get("settings.py", [])}


def test_no_secrets_in_repository_files_detect_secrets() -> None:
    files = repository_files()
    assert "pyproject.toml" in files, "git ls-files found nothing: is this a git checkout?"
    secrets = SecretsCollection(root=str(ROOT))
    with default_settings():
        for name in files:
            secrets.scan_file(name)
    found = [
        f"{name}:{s['line_number']}: {s['type']}"
        for name, items in sorted(secrets.json().items())
        for s in items
    ]
    assert not found, (
        "detect-secrets found possible secrets (remove them and revoke any real key; a deliberate fake "
        "needs '# pragma: allowlist secret' on its line):\n" + "\n".join(found)
    )


def test_no_provider_keys_in_repository_files() -> None:
    found = [
        f"{name}:{m.line}: {m.kind} ({m.masked})"
        for name in repository_files()
        for m in secret_patterns.scan_file(ROOT / name)
    ]
    assert not found, "provider keys found (remove them and revoke them):\n" + "\n".join(found)
