"""helpers.packages: lesson 00's package check, behind one call."""
from importlib import metadata

from helpers import packages


def test_every_package_is_checked_in_order():
    checks = packages.check_packages()
    assert [c.name for c in checks] == list(packages.PACKAGES)
    assert all(c.detail for c in checks)


def test_installed_sdks_pass_and_print_an_ok_line():
    by_name = {c.name: c for c in packages.check_packages()}
    assert by_name["openai"].passed and by_name["openai"].line().startswith("[OK]")


def test_a_missing_essential_package_fails_with_what_to_do(monkeypatch):
    real = metadata.version

    def version(name):
        if name == "groq":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(packages.metadata, "version", version)
    groq = {c.name: c for c in packages.check_packages()}["groq"]
    assert not groq.passed and groq.essential and "make setup" in groq.fix
    assert groq.line().startswith("[FAIL]") and "What to do" in groq.line()


def test_a_version_outside_the_tested_range_is_a_warning(monkeypatch):
    monkeypatch.setattr(packages, "tested_ranges", lambda: {"openai": ">=99"})
    openai = {c.name: c for c in packages.check_packages()}["openai"]
    assert not openai.passed and not openai.essential and openai.line().startswith("[WARN]")
