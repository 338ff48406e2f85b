"""The python-genai README's examples against the local server, with the real SDK over real HTTP: unknown models,
the model list and its pages, Gemini's built-in tools (Google Search, code execution) and PDF input."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from google import genai
from google.genai import errors, types

from helpers import models as catalogue
from helpers.server import gemini_api

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from make_pdf_asset import ASSET, LINES, pdf_bytes  # noqa: E402

MODEL = catalogue.chat("gemini")  # a Gemini 3 model: a PDF page counts 560 tokens
OLDER = "gemini-2.5-flash-lite"  # a Gemini 2.5 model: 258 tokens a page
QUICK = {"max_output_tokens": 40, "thinking_config": {"thinking_level": "minimal"}}


def make_client(base_url: str, **http: object) -> genai.Client:
    return genai.Client(api_key="local-test-key", http_options=types.HttpOptions(base_url=base_url, **http))


@pytest.fixture
def client(base_url) -> genai.Client:
    return make_client(base_url)


# ---------------------------------------------------------------- unknown models (README: Error Handling)

@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_unknown_model_is_googles_404_for_the_version_asked(base_url, version):
    client = make_client(base_url, api_version=version)
    with pytest.raises(errors.APIError) as e:
        client.models.generate_content(model="invalid-model-name", contents="What is your name?")
    assert e.value.code == 404 and e.value.status == "NOT_FOUND"
    assert e.value.message.startswith(f"models/invalid-model-name is not found for API version {version}, "
                                      "or is not supported for generateContent. Call ListModels")
    assert MODEL in e.value.message  # what to use instead


def test_unknown_model_404_names_the_method_and_spares_known_names(client):
    with pytest.raises(errors.ClientError) as e:
        client.models.count_tokens(model="gpt-6-luna", contents="hi")  # an OpenAI model is not a Gemini model
    assert e.value.code == 404 and "not supported for countTokens" in e.value.message
    with pytest.raises(errors.ClientError) as e:
        client.models.get(model="no-such-model")
    assert e.value.code == 404
    for name in (MODEL, "gemini-3.6-flash", "gemini-flash-latest", "gemini-embedding-2", "models/" + MODEL):
        assert gemini_api.is_known(name), name
    for name in ("invalid-model-name", "gemini-1.0-pro-vision", "dall-e-3", "gpt-6-luna"):
        assert not gemini_api.is_known(name), name


def test_retired_model_404_is_worded_for_the_path(base_url):
    client = make_client(base_url, api_version="v1beta")
    with pytest.raises(errors.ClientError) as e:
        client.models.generate_content(model="gemini-1.5-flash", contents="hi")
    assert e.value.code == 404
    assert "for API version v1beta, or is not supported for generateContent" in e.value.message
    assert catalogue.retired()["gemini-1.5-flash"] in e.value.message


def test_imagen_predict_is_a_404(base_url):
    """generate_images (Imagen's :predict) in google-genai 3.4 refuses before sending with a Gemini API key; older
    SDKs (Colab's 2.x) send it, and Imagen is shut down on the Gemini API: Google's 404."""
    import httpx

    r = httpx.post(f"{base_url}/v1beta/models/imagen-4.0-generate-001:predict", headers={"x-goog-api-key": "k"},
                   json={"instances": [{"prompt": "a cat"}], "parameters": {"sampleCount": 1}}, timeout=60)
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    assert "is not supported for predict" in r.json()["error"]["message"]


# ---------------------------------------------------------------- the model list (README: List Base Models)

def test_models_list_pager_as_in_the_readme(client):
    every = [m.name for m in client.models.list()]
    current = [mid for (provider, mid), m in catalogue.entries().items()
               if provider == "gemini" and m.status_on() != "shut_down"]
    assert set(every) >= {f"models/{mid}" for mid in current}
    assert not any(catalogue.info("gemini", n.split("/", 1)[1]).status_on() == "shut_down" for n in every
                   if catalogue.info("gemini", n.split("/", 1)[1]))
    size = len(every) - 1  # so that there is exactly one more page
    pager = client.models.list(config={"page_size": size})
    assert pager.page_size == size and len(pager.page) == size and pager[0].name == every[0]
    pager.next_page()
    assert pager[0].name == every[-1] and len(pager.page) == 1
    with pytest.raises(IndexError):
        pager.next_page()  # no nextPageToken on the last page


def test_listed_models_carry_real_fields(client):
    by_name = {m.name: m for m in client.models.list()}
    chat, embed = by_name[f"models/{MODEL}"], by_name[f"models/{catalogue.get('gemini', 'embeddings')}"]
    info = catalogue.info("gemini", MODEL)
    assert chat.input_token_limit == info.context_tokens and chat.output_token_limit == info.max_output_tokens
    assert "generateContent" in chat.supported_actions and "embedContent" in embed.supported_actions
    assert chat.display_name.startswith("Gemini 3.5 Flash-Lite") and "local" in chat.display_name
    assert chat.thinking is True


# ---------------------------------------------------------------- built-in tools

def test_google_search_is_honest_about_not_searching(client):
    r = client.models.generate_content(
        model=MODEL, contents="Who won yesterday's football match?",
        config=types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())], **QUICK))
    cand = r.candidates[0]
    assert r.text.startswith(gemini_api.NO_SEARCH_NOTE)
    assert len(r.text) > len(gemini_api.NO_SEARCH_NOTE)  # and the local model's answer follows
    meta = cand.grounding_metadata
    assert meta is not None and not meta.web_search_queries and not meta.grounding_chunks  # nothing invented


def test_google_search_stream_ends_with_grounding_metadata(client):
    chunks = list(client.models.generate_content_stream(
        model=MODEL, contents="What is the weather in Paris today?",
        config=types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())], **QUICK)))
    assert "".join(c.text or "" for c in chunks).startswith(gemini_api.NO_SEARCH_NOTE)
    assert chunks[-1].candidates[0].grounding_metadata is not None
    assert chunks[-1].candidates[0].finish_reason is not None


def test_code_execution_shows_code_that_was_not_run(client):
    r = client.models.generate_content(
        model=MODEL, contents="What is the sum of the first 10 prime numbers?",
        config=types.GenerateContentConfig(tools=[types.Tool(code_execution=types.ToolCodeExecution())],
                                           max_output_tokens=60))
    parts = r.candidates[0].content.parts
    kinds = [next(k for k in ("executable_code", "code_execution_result", "text") if getattr(p, k) is not None)
             for p in parts]
    assert kinds == ["executable_code", "code_execution_result", "text"]  # Gemini's order
    assert parts[0].executable_code.language == types.Language.PYTHON and parts[0].executable_code.code.strip()
    assert parts[1].code_execution_result.outcome == types.Outcome.OUTCOME_FAILED  # never OUTCOME_OK: not run
    assert r.code_execution_result.startswith("Not run")
    assert r.executable_code == parts[0].executable_code.code
    assert r.text.startswith(gemini_api.NOT_RUN_NOTE)


def test_code_execution_streams_the_code_first(client):
    chunks = list(client.models.generate_content_stream(
        model=MODEL, contents="What is 2 to the power of 20?",
        config=types.GenerateContentConfig(tools=[types.Tool(code_execution=types.ToolCodeExecution())],
                                           max_output_tokens=40)))
    first = chunks[0].candidates[0].content.parts
    assert first[0].executable_code is not None and first[1].code_execution_result is not None
    assert chunks[-1].candidates[0].finish_reason is not None
    assert chunks[-1].usage_metadata.candidates_token_count > 0


# ---------------------------------------------------------------- PDF input

def test_pdf_is_read_and_counted_by_the_page(client, base_url):
    pdf = types.Part.from_bytes(data=pdf_bytes(LINES), mime_type="application/pdf")
    counted = client.models.count_tokens(model=MODEL, contents=[pdf])
    assert counted.total_tokens == gemini_api.PDF_PAGE_TOKENS_GEMINI_3  # one page, nothing else
    assert client.models.count_tokens(model=OLDER, contents=[pdf]).total_tokens == gemini_api.PDF_PAGE_TOKENS_OLDER
    with_question = client.models.count_tokens(model=MODEL, contents=[pdf, "When is the library open?"])
    assert with_question.total_tokens > counted.total_tokens
    r = client.models.generate_content(model=MODEL, contents=[pdf, "When is the library open on Saturday?"],
                                       config=QUICK)
    assert r.text and r.usage_metadata.prompt_token_count > 40  # the PDF's text reached the model


def test_pdf_note_has_the_text_or_says_it_cannot_read_it():
    import base64

    data = base64.b64encode(pdf_bytes(LINES)).decode()
    note = gemini_api.pdf_note(data)
    try:
        import pypdf  # noqa: F401
    except ImportError:
        assert "could not read its text" in note
    else:
        assert all(line in note for line in LINES) and "as read by the local server" in note
    assert "not a PDF" in gemini_api.pdf_note(base64.b64encode(b"hello").decode())
    assert gemini_api.pdf_pages_and_text(pdf_bytes(LINES))[0] == 1


def test_the_committed_pdf_asset_is_current():
    assert ASSET.read_bytes() == pdf_bytes(LINES), "run python tools/make_pdf_asset.py"
