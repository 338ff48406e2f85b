"""helpers/server/grounding.py: which phrases and numbers a grounded field may take, and when."""
from __future__ import annotations

from helpers.server import grounding

WEATHER = {"type": "object", "properties": {"city": {"type": "string"},
                                            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_phrases_skip_small_words_and_keep_names_whole():
    found = grounding.phrases("Is it raining in Buenos Aires today?")
    assert "Buenos Aires" in found
    assert "Buenos" not in found and "Aires" not in found and "in Buenos Aires" not in found


def test_the_request_verb_does_not_start_a_phrase():
    found = grounding.phrases("Translate 'good morning' into Italian.")
    assert "good morning" in found and "Italian" in found
    assert not any(p.startswith("Translate") for p in found)


def test_times_and_addresses_stay_whole():
    assert "12:30" in grounding.phrases("Team lunch on Friday at 12:30 in the canteen.")
    assert grounding.numbers("Team lunch at 12:30, 3 people, 2.5 hours") == [3.0, 2.5]


def test_a_tool_call_is_grounded_and_the_named_choice_kept():
    schema, changed = grounding.ground(WEATHER, user("How hot is it in Cairo, in fahrenheit?"))
    assert changed
    assert schema["properties"]["unit"]["enum"] == ["fahrenheit"]
    assert "Cairo" in schema["properties"]["city"]["enum"]
    assert "fahrenheit" not in schema["properties"]["city"]["enum"]  # another field's choice


def test_nothing_to_choose_from_leaves_the_schema_as_it_was():
    schema, changed = grounding.ground({"type": "object", "properties": {"n": {"type": "integer"}}}, user("Hello there"))
    assert not changed and schema == {"type": "object", "properties": {"n": {"type": "integer"}}}


def test_only_an_extraction_is_grounded_in_a_structured_output():
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "colour": {"type": "string"}}}
    opts: dict = {}
    assert grounding.apply(schema, user("Describe a fruit."), opts, None) is schema
    scope: dict = {}
    asked = [{"role": "system", "content": "Extract the fruit from the text."}, *user("A ripe yellow banana.")]
    grounded = grounding.apply(schema, asked, opts, scope)
    assert "banana" in grounded["properties"]["name"]["enum"]
    assert opts["temperature"] == 0.0 and "grounding.py" in scope["course_notes"][0]


def test_tool_results_and_the_callers_limits_are_respected():
    messages = user("Weather in Oslo?") + [{"role": "user", "content": f"{grounding.TOOL_RESULT_PREFIX}x returned: Lima"}]
    schema, _ = grounding.ground({"type": "object", "properties": {"city": {"type": "string", "maxLength": 4}}}, messages)
    assert schema["properties"]["city"]["enum"] == ["Oslo"]   # not "Lima" (a tool's result), not "Weather" (too long)


RECALL = [{"role": "user", "content": "Hi, I'm Tom."}, {"role": "assistant", "content": "Hello Tom!"},
          {"role": "user", "content": "I work as a nurse."},
          {"role": "user", "content": "Extract my name and my job from our conversation."}]
NAME_AND_JOB = {"type": "object", "properties": {"name": {"type": "string"}, "job": {"type": "string"},
                                                 "age": {"type": "integer"}}}


def test_an_extraction_marks_its_grounded_fields_as_distinct():
    schema = grounding.apply(NAME_AND_JOB, RECALL, {}, None)
    assert schema[grounding.DISTINCT] == {"fields": ["name", "job"], "repeats": []}
    assert grounding.DISTINCT not in grounding.apply(NAME_AND_JOB, [RECALL[-1]], {}, None, tool_call=True)


def test_a_phrase_written_twice_may_fill_two_fields():
    messages = [{"role": "user", "content": "Extract where I live and where I work: I live in Paris and work in Paris."}]
    schema = grounding.apply({"type": "object", "properties": {"home": {"type": "string"}, "work": {"type": "string"}}},
                             messages, {}, None)
    assert "Paris" in schema[grounding.DISTINCT]["repeats"]
