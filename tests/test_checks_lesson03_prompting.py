"""Lesson 03, exercise 6: the few-shot prompt check judges the messages a learner builds, never a model's answer.

A right prompt passes; each way of getting the structure wrong fails with the hint that names the fix.
"""
from __future__ import annotations

import pytest

from helpers.checks import lesson03
from helpers.checks.base import CheckFailed, NotDoneYet

SYSTEM = ("You sort customer-support tickets. The ticket is the text between <ticket> and </ticket>. "
          "Choose one category: billing, delivery or technical. Answer with one line: category: <category>.")
EXAMPLES = [
    {"role": "user", "content": "<ticket>My parcel has been stuck in Lyon for a week.</ticket>"},
    {"role": "assistant", "content": "category: delivery"},
    {"role": "user", "content": "<ticket>Why does my invoice show a fee I never agreed to?</ticket>"},
    {"role": "assistant", "content": "category: billing"},
    {"role": "user", "content": "<ticket>The login page says error 500.</ticket>"},
    {"role": "assistant", "content": "category: technical"},
]


def right(ticket):
    return [{"role": "system", "content": SYSTEM}, *EXAMPLES, {"role": "user", "content": f"<ticket>{ticket}</ticket>"}]


def test_a_prompt_with_every_part_passes():
    assert lesson03.exercise_6(right).ok


def test_two_example_pairs_are_enough():
    def two_pairs(ticket):
        return right(ticket)[:5] + right(ticket)[-1:]

    assert lesson03.exercise_6(two_pairs).ok


WRONG = {
    "no system message": (lambda t: right(t)[1:], "one system message"),
    "no format instruction": (lambda t: [{"role": "system", "content": "Sort tickets into billing, delivery or technical."},
                                         *right(t)[1:]], "what the answer must look like"),
    "examples out of order": (lambda t: [right(t)[0], right(t)[2], right(t)[1], *right(t)[3:]], "user/assistant example pairs"),
    "one example only": (lambda t: right(t)[:3] + right(t)[-1:], "at least two"),
    "no delimiters around the ticket": (lambda t: right(t)[:-1] + [{"role": "user", "content": t}], "between <ticket> and </ticket>"),
    "example answers in free text": (lambda t: [*right(t)[:2], {"role": "assistant", "content": "It is about delivery."},
                                                *right(t)[3:]], "category: <category>"),
    "a ticket written in, not the argument": (lambda t: right("My card was declined."), "the ticket it was given"),
    "the ticket in the system message": (lambda t: [{"role": "system", "content": SYSTEM + " Ticket: " + t}, *right(t)[1:]],
                                         "instructions and data apart"),
    "a string, not a list": (lambda t: str(right(t)), "not a list"),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_a_prompt_missing_a_part_fails_with_its_hint(name, capsys):
    build_prompt, expected = WRONG[name]
    with pytest.raises(CheckFailed):
        lesson03.exercise_6(build_prompt)
    shown = capsys.readouterr().out
    assert expected in shown, shown


def test_an_unfinished_exercise_is_not_done_yet():
    def build_prompt(ticket):
        raise NotImplementedError("Exercise: write your code here")

    with pytest.raises(NotDoneYet):
        lesson03.exercise_6(build_prompt)


def test_a_function_that_raises_is_reported_not_crashed(capsys):
    def build_prompt(ticket):
        return right(ticket)[99]

    with pytest.raises(CheckFailed):
        lesson03.exercise_6(build_prompt)
    assert "IndexError" in capsys.readouterr().out
