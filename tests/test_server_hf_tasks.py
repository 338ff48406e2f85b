"""Hugging Face tasks the local server computes for real: zero-shot classification, fill-mask, question answering,
mbart translation, TGI grammars, and the router's stream end, each through the real SDK (or the raw ``requests``
snippet hf.co generates) over real HTTP against the session's local server.
"""
from __future__ import annotations

import json
import math
import secrets

import pytest
import requests
from huggingface_hub import InferenceClient
from huggingface_hub.errors import BadRequestError, HfHubHTTPError

from helpers import hf_local
from helpers import models as catalogue
from helpers.server import hf_tasks
from helpers.server.hf_api import model_info, task_for_model

TOKEN = "hf_" + secrets.token_hex(16)
ZERO_SHOT = "facebook/bart-large-mnli"
FILL_MASK = "google-bert/bert-base-uncased"
QA = "deepset/roberta-base-squad2"
MBART = "facebook/mbart-large-50-many-to-many-mmt"
ROUTER = "https://router.huggingface.co"


@pytest.fixture
def hf(base_url):
    hf_local.enable(base_url)
    try:
        yield InferenceClient(token=TOKEN)
    finally:
        hf_local.disable()


def post(model: str, payload: dict) -> requests.Response:
    """hf.co's ``requests`` snippet for an hf-inference task."""
    return requests.post(f"{ROUTER}/hf-inference/models/{model}", headers={"Authorization": f"Bearer {TOKEN}"},
                         json=payload, timeout=300)


# ---------------------------------------------------------------- which task a model does

@pytest.mark.parametrize("model, task", [
    (MBART, "translation"), ("facebook/mbart-large-50-one-to-many-mmt", "translation"),
    (ZERO_SHOT, "zero-shot-classification"), ("MoritzLaurer/mDeBERTa-v3-base-mnli-xnli", "zero-shot-classification"),
    (QA, "question-answering"), ("distilbert/distilbert-base-cased-distilled-squad", "question-answering"),
    (FILL_MASK, "fill-mask"), ("FacebookAI/roberta-base", "fill-mask"), ("FacebookAI/xlm-roberta-base", "fill-mask"),
    ("facebook/bart-large-cnn", "summarization"), ("dslim/bert-base-NER", "token-classification"),
    ("distilbert/distilbert-base-uncased-finetuned-sst-2-english", "text-classification"),
])
def test_task_for_model(model, task):
    assert task_for_model(model) == task
    assert model_info(model)["pipeline_tag"] == task


# ---------------------------------------------------------------- zero-shot classification

def test_zero_shot_ranks_the_fitting_label_first(hf):
    for text, want in [("The team won the match in the last minute.", "sports"),
                       ("The parliament voted on the new tax law.", "politics"),
                       ("Stir the onions in butter until golden, then add flour.", "cooking")]:
        out = hf.zero_shot_classification(text, ["sports", "politics", "cooking"], model=ZERO_SHOT)
        assert [o.label for o in out][0] == want, (text, out)
        assert sorted(o.label for o in out) == ["cooking", "politics", "sports"]
        assert math.isclose(sum(o.score for o in out), 1.0, abs_tol=1e-3)
        assert out[0].score > 0.5 and [o.score for o in out] == sorted((o.score for o in out), reverse=True)


def test_zero_shot_multi_label_scores_each_label_on_its_own(hf):
    out = hf.zero_shot_classification("The parliament voted on the new tax law.", ["politics", "sports"],
                                      multi_label=True, model=ZERO_SHOT)
    scores = {o.label: o.score for o in out}
    assert all(0 <= s <= 1 for s in scores.values())
    assert scores["politics"] > scores["sports"]
    assert not math.isclose(sum(scores.values()), 1.0, abs_tol=1e-6)  # independent scores, not a distribution


def test_zero_shot_requests_snippet_gets_labels_and_scores(base_url):
    hf_local.enable(base_url)
    try:
        r = post(ZERO_SHOT, {"inputs": "Hi, I recently bought a device from your company but it is not working as "
                                       "advertised and I would like to get reimbursed!",
                             "parameters": {"candidate_labels": ["refund", "legal", "faq"]}})
        assert r.status_code == 200, r.text
        data = r.json()
        assert isinstance(data, list) and {d["label"] for d in data} == {"refund", "legal", "faq"}
        assert all(set(d) == {"label", "score"} for d in data)
        assert data[0]["label"] == "refund"
        bad = post(ZERO_SHOT, {"inputs": "Some text."})
        assert bad.status_code == 400 and "candidate_labels" in bad.json()["error"]
    finally:
        hf_local.disable()


# ---------------------------------------------------------------- fill-mask

def test_fill_mask_uses_the_models_top_tokens(hf):
    out = hf.fill_mask("The capital of France is [MASK].", model=FILL_MASK)
    assert len(out) == 5
    assert out[0].token_str == "Paris" and out[0].sequence == "The capital of France is Paris."
    assert out[0].score > out[-1].score > 0 and isinstance(out[0].token, int)
    hot = hf.fill_mask("I drank a cup of hot <mask> this morning.", model="FacebookAI/roberta-base", top_k=3)
    assert len(hot) == 3 and {"tea", "coffee", "chocolate"} & {o.token_str for o in hot}
    assert all(o.sequence.startswith("I drank a cup of hot ") and o.sequence.endswith(" this morning.") for o in hot)


def test_fill_mask_targets_are_scored_by_the_model(hf):
    out = hf.fill_mask("I drank a cup of hot [MASK] this morning.", targets=["car", "tea"], model=FILL_MASK)
    assert [o.token_str for o in out] == ["tea", "car"] and out[0].score > 10 * out[1].score


def test_fill_mask_without_a_mask_or_with_nothing_before_it_is_a_clear_400(hf):
    with pytest.raises(BadRequestError, match="mask token"):
        hf.fill_mask("No gap here.", model=FILL_MASK)
    with pytest.raises(BadRequestError, match="words before"):
        hf.fill_mask("[MASK] is the capital of France.", model=FILL_MASK)


# ---------------------------------------------------------------- question answering

def test_question_answering_returns_a_span_of_the_context(hf):
    context = "Marie Curie was born in Warsaw in 1867. She won the Nobel Prize in Physics in 1903 with her husband."
    out = hf.question_answering("When did she win the Nobel Prize?", context, model=QA)
    assert context[out.start:out.end] == out.answer
    assert out.answer == "1903" and 0 < out.score <= 1
    forest = "The Amazon rainforest covers much of South America. Brazil holds about 60% of the forest."
    out = hf.question_answering("Which country holds most of the forest?", forest, model=QA)
    assert out.answer == "Brazil" and forest[out.start:out.end] == "Brazil"


def test_question_answering_top_k_gives_distinct_spans(hf):
    context = "My name is Clara and I live in Berkeley. I work as an engineer at a bakery."
    out = hf.question_answering("Where do I live?", context, model=QA, top_k=2)
    assert isinstance(out, list) and len(out) == 2
    assert len({(o.start, o.end) for o in out}) == 2
    assert all(context[o.start:o.end] == o.answer for o in out)
    assert out[0].score >= out[1].score


# ---------------------------------------------------------------- mbart translation, TGI grammars

def test_mbart_translates(hf):
    out = hf.translation("Good morning", model=MBART, src_lang="en_XX", tgt_lang="fr_XX")
    assert out.translation_text.strip() and out.translation_text.strip() != "Good morning"
    with pytest.raises(BadRequestError, match="tgt_lang"):
        hf.translation("Good morning", model=MBART)  # mbart names no target language: ask for one


def test_text_generation_honours_a_json_grammar(hf):
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"]}
    text = hf.text_generation("Describe a person as JSON with a name and an age.", model=catalogue.chat("huggingface"),
                              grammar={"type": "json", "value": schema}, max_new_tokens=60)
    data = json.loads(text)
    assert isinstance(data["name"], str) and isinstance(data["age"], int)
    with pytest.raises(HfHubHTTPError, match="regular expression"):
        hf.text_generation("A date:", model=catalogue.chat("huggingface"),
                           grammar={"type": "regex", "value": r"\d{4}-\d{2}-\d{2}"}, max_new_tokens=12)


# ---------------------------------------------------------------- the router's stream end

def test_docs_requests_stream_snippet_reads_every_chunk(base_url):
    """hf.co's snippet prints ``chunk["choices"][0]["delta"]["content"]`` for every chunk before [DONE]."""
    hf_local.enable(base_url)
    try:
        url = f"{ROUTER}/v1/chat/completions"

        def query(payload):
            response = requests.post(url, headers={"Authorization": f"Bearer {TOKEN}"}, json=payload, stream=True,
                                     timeout=300)
            for line in response.iter_lines():
                if not line.startswith(b"data:"):
                    continue
                if line.strip() == b"data: [DONE]":
                    return
                yield json.loads(line.decode("utf-8").lstrip("data:").rstrip("/n"))

        chunks = list(query({"messages": [{"role": "user", "content": "What is the capital of France?"}],
                             "max_tokens": 12, "model": catalogue.chat("huggingface"), "stream": True}))
        text = "".join(chunk["choices"][0]["delta"]["content"] for chunk in chunks)  # a KeyError fails the test
        assert text.strip()
        assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    finally:
        hf_local.disable()


def test_candidate_answers_skip_the_questions_words():
    context = "My name is Clara and I live in Berkeley."
    spans = [context[s:e] for s, e in hf_tasks.candidate_answers(context, 0, len(context), "What is my name?")]
    assert "Clara" in spans and "Berkeley" in spans
    assert not any(s.lower().startswith(("my", "name", "is ")) for s in spans)
    assert hf_tasks.expected_kind("How many trees are there?") == "number"
    assert hf_tasks.expected_kind("Where does she live?") == "name"


# ---------------------------------------------------------------- images and sound: real shapes, said plainly

SHAPES = __import__("pathlib").Path(__file__).resolve().parents[1] / "notebooks" / "assets" / "shapes.png"


def _tone_wav() -> bytes:
    import io
    import struct
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000)))
                               for i in range(4000)))
    return buf.getvalue()


def test_image_classification_says_the_local_model_cannot_see(hf):
    for kwargs in ({}, {"top_k": 3}):  # raw bytes, and JSON with base64 when there are parameters
        out = hf.image_classification(str(SHAPES), model="google/vit-base-patch16-224", **kwargs)
        assert len(out) == 1 and out[0].score == 0.0
        assert out[0].label.startswith("local server") and "cannot see" in out[0].label


def test_object_detection_box_is_the_whole_image_and_labelled(hf):
    out = hf.object_detection(str(SHAPES), model="facebook/detr-resnet-50")
    assert len(out) == 1 and out[0].score == 0.0 and "cannot see" in out[0].label
    box = out[0].box
    assert (box.xmin, box.ymin, box.xmax, box.ymax) == (0, 0, 240, 120)  # shapes.png is 240 x 120


def test_speech_recognition_says_the_local_model_cannot_hear(hf):
    out = hf.automatic_speech_recognition(_tone_wav(), model="openai/whisper-large-v3")
    assert "cannot hear" in out.text and out.text.startswith("[local server")
    with pytest.raises(BadRequestError, match="sound file"):
        hf.automatic_speech_recognition(str(SHAPES), model="openai/whisper-large-v3")  # an image is no sound


def test_media_helpers_read_real_headers():
    data = SHAPES.read_bytes()
    assert hf_tasks.media_kind(data) == "image" and hf_tasks.image_size(data) == (240, 120)
    assert hf_tasks.media_kind(_tone_wav()) == "audio" and hf_tasks.media_kind(b"hello") is None
