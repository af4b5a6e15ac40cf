"""critic.annotate.validate on its own: real analyses kept, every kind of non-analysis rejected for
its reason, and each threshold where it says it is."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from annotate_samples import BAD, EXPECTED, GOOD

from critic.annotate.paintings import Painting
from critic.annotate.prompts import (
    KNOWLEDGE,
    OVERALL,
    PERSPECTIVE,
    PICKS,
    overall_prompt,
    perspective_prompt,
    picks_prompt,
)
from critic.annotate.validate import (
    MIN_VISUAL_TERMS,
    MIN_WORDS,
    REASONS,
    check,
    check_analysis,
    check_picks,
    measure,
)
from critic.core.perspectives import PERSPECTIVES


@pytest.mark.parametrize("name", sorted(GOOD))
def test_real_analyses_are_kept(name):
    assert check_analysis(GOOD[name]) is None


def _reference_analyses() -> list[str]:
    data = json.loads(resources.files("critic.data").joinpath("sample_refs.json").read_text(encoding="utf-8"))
    return [text for record in data for text in record["references"]]


def test_the_projects_reference_analyses_are_kept():
    texts = _reference_analyses()
    assert len(texts) >= 8
    assert [check_analysis(t) for t in texts] == [None] * len(texts)


@pytest.mark.parametrize("name", sorted(BAD))
def test_non_analyses_are_rejected_for_what_they_are(name):
    assert check_analysis(BAD[name]) == EXPECTED[name]


def test_every_reason_is_reachable_and_described():
    assert set(EXPECTED.values()) | {"no_perspective"} == set(REASONS)
    assert all(REASONS.values())


# A sentence of visual description, repeated to reach a length: 12 words, 4 visual terms.
SENTENCE = "Broad strokes of blue and ochre cross the surface of the picture."


def _words(n: int) -> str:
    words = (SENTENCE + " ") * (n // 12 + 1)
    return " ".join(words.split()[:n])


def test_length_threshold():
    assert measure(_words(MIN_WORDS)).words == MIN_WORDS
    assert check_analysis(_words(MIN_WORDS - 1)) == "too_short"
    assert check_analysis(_words(MIN_WORDS)) is None


def test_visual_vocabulary_threshold():
    # 48 words of English prose about a room, with a chosen number of visual words at the end
    plain = ("The story of this object is told in many books, and each of them says that it was "
             "made for a family who kept it in their house for a long time before they sold it "
             "to a dealer who took it to the city where it has been ever since. ")
    visual = ["shadow", "diagonal", "impasto", "ultramarine"]
    for n in range(len(visual) + 1):
        text = plain + "It shows " + " and ".join(visual[:n] or ["nothing"]) + "."
        assert measure(text).visual_terms == n
        assert check_analysis(text) == (None if n >= MIN_VISUAL_TERMS else "off_topic"), n


def test_words_inside_a_real_analysis_are_not_refusals():
    # first-person phrases only: "cannot", "sorry" and "no" in description are fine
    text = GOOD["light_with_cannot"] + " No figure looks sorry; nothing here is unable to move."
    assert check_analysis(text) is None
    assert check_analysis("The answer is no. " + GOOD["space_landscape"]) is None


def test_one_bullet_or_a_colon_in_prose_is_not_a_list():
    assert check_analysis("- " + GOOD["texture_impasto"]) is None
    assert check_analysis("Three colours dominate: " + GOOD["color_american"]) is None


def test_picks_and_other_stages():
    assert check_picks([]) == "no_perspective"
    assert check_picks(["composition"]) is None
    assert check(PICKS, "I would rather not say.", []) == "no_perspective"
    assert check(PICKS, '{"perspectives": ["light"]}', ["light"]) is None
    assert check(OVERALL, BAD["yes_no"], "Yes, I know this painting well.") == "yes_no"
    assert check(PERSPECTIVE, GOOD["rhythm_dancers"], "...") is None
    assert check(KNOWLEDGE, "Yes, I know this painting well.", True) is None


def test_regeneration_prompts_say_what_was_wrong():
    p = Painting("1", "The Scream", "Edvard Munch", "a.png")
    refused = overall_prompt(p, 1, problem=REASONS["refusal"]).messages[-1][1]
    assert "Attempt 2: an earlier answer was a refusal." in refused
    leaked = overall_prompt(p, 1).messages[-1][1]
    assert "named the painting or its artist" in leaked and "refusal" not in leaked
    listed = perspective_prompt(p, PERSPECTIVES[0], 2, problem=REASONS["list"]).messages[-1][1]
    assert "Attempt 3: an earlier answer was a list instead of a paragraph." in listed
    assert picks_prompt(p, 5, 0).messages == picks_prompt(p, 5).messages
    assert "Attempt 2: an earlier answer named no perspective" in picks_prompt(p, 5, 1).messages[-1][1]
