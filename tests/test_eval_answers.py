"""The rule that decides when a short answer counts, and style-name parsing."""

from __future__ import annotations

import pytest

from critic.evaluation.normalise import answer_contains, answer_matches, normalize_answer, parse_choice
from critic.evaluation.readers import ARTBENCH_STYLES

STYLES = list(ARTBENCH_STYLES.values())


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("A woman.", "woman"),
        ("  The   Baby!  ", "baby"),
        ("Two", "2"),
        ("an artist's palette", "artists palette"),
        ("Ukiyo-e", "ukiyo e"),
        ("1601-1650", "1601 1650"),
        ("Oil on canvas", "oil on canvas"),
        ("Ｔｅｍｐｅｒａ", "tempera"),
        ("There is a man", "there is man"),
    ],
)
def test_normalisation(raw, normal):
    assert normalize_answer(raw) == normal


def test_matching_is_exact_after_normalisation():
    assert answer_matches("A woman.", "woman")
    assert answer_matches("two", "2")
    assert not answer_matches("A woman holding a baby.", "woman")
    assert not answer_matches("women", "woman")


def test_contains_is_whole_words_only():
    assert answer_contains("A woman holding a baby.", "baby")
    assert not answer_contains("Babylon", "baby")
    assert not answer_contains("", "baby")


@pytest.mark.parametrize(
    ("said", "style"),
    [
        ("Impressionism", "Impressionism"),
        ("post-impressionism.", "Post-Impressionism"),
        ("This painting is Post-Impressionist.", "Post-Impressionism"),
        ("It looks impressionist rather than post-impressionist.", "Impressionism"),
        ("surrealism", "Surrealism"),
        ("Realism", "Realism"),
        ("Romantic", "Romanticism"),
        ("ukiyo-e", "Ukiyo-e"),
        ("Ukiyoe woodblock", "Ukiyo-e"),
        ("The style is Art Nouveau.", "Art Nouveau"),
        ("I am not sure.", None),
    ],
)
def test_parse_choice(said, style):
    assert parse_choice(said, STYLES) == style
