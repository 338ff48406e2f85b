"""A Hugging Face task called without a model uses the catalogue's default for it (issue 15).

``InferenceClient`` asks the Hub's ``/api/tasks`` for the task's recommended model when a call names none (the
SDK's own docstring examples do this); the local Hub answers from ``helpers/models.toml``'s ``[huggingface]``
defaults. Real SDK, real HTTP, the session's local server.
"""
from __future__ import annotations

import secrets

import httpx
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.inference._providers import hf_inference

from helpers import hf_local
from helpers import models as catalogue
from helpers.server.hf_api import _PURPOSE_TASK
from helpers.server.lifecycle import course_headers

TOKEN = "hf_" + secrets.token_hex(16)  # a fake token made at run time  # pragma: allowlist secret
# (purpose in [huggingface], the task's name on the Hub)
TASK_DEFAULTS = [("zero_shot", "zero-shot-classification"), ("fill_mask", "fill-mask"),
             ("question_answering", "question-answering")]


@pytest.fixture
def hf(base_url):
    """Hugging Face calls go to the local server, with the SDK's cached /api/tasks answer forgotten."""
    hf_inference._fetch_recommended_models.cache_clear()
    hf_local.enable(base_url)
    try:
        yield InferenceClient(token=TOKEN)
    finally:
        hf_local.disable()
        hf_inference._fetch_recommended_models.cache_clear()


def paths_seen(base_url: str, n: int = 8) -> list[str]:
    seen = httpx.get(f"{base_url}/_course/requests", params={"n": n}, headers=course_headers()).json()
    return [s["path"] for s in seen]


def test_every_huggingface_default_names_its_task():
    missing = [p for p in catalogue.purposes("huggingface") if p not in _PURPOSE_TASK]
    assert not missing, (f"[huggingface] in helpers/models.toml has defaults {missing} that no task is known for: "
                         "add them to _PURPOSE_TASK in helpers/server/hf_api.py")


def test_hub_tasks_recommends_the_catalogue_defaults(base_url):
    tasks = httpx.get(f"{base_url}/hf/hub/api/tasks", timeout=30).json()
    for purpose, task in TASK_DEFAULTS:
        assert tasks[task]["widgetModels"][0] == catalogue.get("huggingface", purpose), task
    assert tasks["zero-shot-classification"]["label"] == "Zero-Shot Classification"  # hf.co's spelling


@pytest.mark.parametrize("purpose, task", TASK_DEFAULTS)
def test_a_call_without_a_model_goes_to_the_default(hf, base_url, purpose, task):
    if task == "zero-shot-classification":
        out = hf.zero_shot_classification("The team won the final in extra time.", ["sports", "cooking"])
        assert {e.label for e in out} == {"sports", "cooking"}
    elif task == "fill-mask":
        out = hf.fill_mask("The goal of life is <mask>.")  # RoBERTa's mask, as huggingface_hub's example writes
        assert out and all(e.sequence.startswith("The goal of life is") for e in out)
    else:
        out = hf.question_answering(question="What's my name?", context="My name is Clara and I live in Berkeley.")
        assert out.answer and out.answer in "My name is Clara and I live in Berkeley."
    paths = paths_seen(base_url)
    assert "/hf/hub/api/tasks" in paths
    assert f"/hf/router/hf-inference/models/{catalogue.get('huggingface', purpose)}" in paths
