"""Elliptical follow-ups: "And on Zarif?" after "Which outlets reported on Bagheri?" asks the
same question about someone else, so it keeps that question's frame (and its intent), not
just the new name."""

from __future__ import annotations

import pytest

from assistant.answer.followup import rewrite_follow_up
from assistant.core import Assistant

OUTLETS = "Which outlets reported on Bagheri?"


@pytest.mark.parametrize(
    ("question", "standalone"),
    [
        ("And on Zarif?", "Which outlets reported on Zarif?"),
        ("What about Zarif?", "Which outlets reported on Zarif?"),
        ("and Mohammad Javad Zarif?", "Which outlets reported on Mohammad Javad Zarif?"),
        ("How about Zarif and Pezeshkian?", "Which outlets reported on Zarif and Pezeshkian?"),
    ],
)
def test_an_elliptical_follow_up_asks_the_earlier_question_about_its_names(
    question: str, standalone: str
) -> None:
    assert rewrite_follow_up(question, [(OUTLETS, "...")]).text == standalone


def test_a_chain_of_them_keeps_the_first_frame() -> None:
    history = [(OUTLETS, "..."), ("And on Zarif?", "...")]
    assert rewrite_follow_up("And on Pezeshkian?", history).text == (
        "Which outlets reported on Pezeshkian?"
    )


@pytest.mark.parametrize(
    ("question", "previous"),
    [
        ("And what did he say?", OUTLETS),  # a pronoun, not a name: carried as before
        ("How about the talks?", OUTLETS),  # no name to put in
        ("And who did Zarif meet?", OUTLETS),  # a question of its own
        ("And Bagheri?", "Who did Zarif meet in Baghdad?"),  # two subjects: which one?
    ],
)
def test_other_follow_ups_are_not_rewritten_into_the_earlier_question(
    question: str, previous: str
) -> None:
    assert rewrite_follow_up(question, [(previous, "...")]).text == question


def test_seed_outlets_follow_up_names_the_outlets_of_the_new_name(assistant: Assistant) -> None:
    first = assistant.ask(OUTLETS)
    answer = assistant.ask("And on Zarif?", history=[(OUTLETS, first.text)])
    assert answer.intent == "coverage" and not answer.refused, answer.text
    assert answer.standalone_question == "Which outlets reported on Zarif?"
    assert [c.article_id for c in answer.citations] == ["003_5636c687975dd817"]
    assert all(c.supported for c in answer.citations)
