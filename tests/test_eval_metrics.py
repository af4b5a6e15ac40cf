"""Table 1 metrics, each checked against values worked out by hand from its definition."""

from __future__ import annotations

import math

import pytest

from critic.core.errors import UsageError
from critic.evaluation.metrics import (
    implementation,
    installed_wordnet,
    meteor_thesaurus,
    score_texts,
    tokenize,
)

# Two hypotheses; the first has two references, the second one.
HYPS = ["The red sky swirls above the dark hills.", "Thick strokes of blue paint!"]
REFS = [
    ["The red sky swirls over the dark hills.", "A red sky swirls above dark hills."],
    ["Thick strokes of blue and yellow paint."],
]


def test_tokens_are_lowercase_words_without_punctuation():
    assert tokenize("The sky's swirling, post-impressionist strokes — vivid!") == [
        "the", "sky", "s", "swirling", "post", "impressionist", "strokes", "vivid",
    ]
    assert tokenize("Ｆｕｌｌ-width") == ["full", "width"]  # NFKC first


def test_bleu_matches_the_formula_on_hand_counted_ngrams():
    # Clipped n-gram matches over the corpus (hypothesis 1 | hypothesis 2):
    # 1-grams 8/8 | 5/5; 2-grams 6/7 | 3/4; 3-grams 4/6 | 2/3; 4-grams 2/5 | 1/2.
    precisions = [13 / 13, 9 / 11, 6 / 9, 3 / 7]
    # Hypothesis lengths 8 and 5; closest reference lengths 8 and 7.
    brevity = math.exp(1 - 15 / 13)
    expected = 100 * brevity * math.exp(sum(math.log(p) for p in precisions) / 4)
    assert score_texts(HYPS, REFS).bleu == pytest.approx(expected, rel=1e-9)


def test_gleu_is_matched_ngrams_over_the_larger_count_with_the_best_reference():
    # Hypothesis 1 has 26 1-4-grams. Reference 1 (26 n-grams) shares 7+5+3+1 = 16;
    # reference 2 (22 n-grams) shares 6+4+2+1 = 13, so reference 1 (16/26) is used.
    # Hypothesis 2 has 14 n-grams, its reference 22; they share 5+3+2+1 = 11.
    expected = 100 * (16 + 11) / (26 + 22)
    assert score_texts(HYPS, REFS).gleu == pytest.approx(expected, rel=1e-12)


def _meteor(matches: int, hyp_len: int, ref_len: int, chunks: int) -> float:
    """METEOR from its definition: F-mean (alpha 0.9) times (1 - 0.5 * frag^3)."""
    p, r = matches / hyp_len, matches / ref_len
    fmean = p * r / (0.9 * p + 0.1 * r)
    return fmean * (1 - 0.5 * (chunks / matches) ** 3)


def test_meteor_exact_and_stem_matches_the_definition():
    # Hypothesis 1 against reference 1: 7 exact matches ("above"/"over" do not match),
    # in 2 chunks; against reference 2: 6 matches in 2 chunks. The best counts.
    first = max(_meteor(7, 8, 8, 2), _meteor(6, 8, 7, 2))
    # Hypothesis 2: all 5 words match, "paint" apart from the rest: 2 chunks.
    second = _meteor(5, 5, 7, 2)
    scores = score_texts(HYPS, REFS, meteor="stem")
    assert scores.meteor == pytest.approx(100 * (first + second) / 2, rel=1e-12)
    assert scores.meteor_variant == "stem"


def test_meteor_stem_stage_matches_inflections_but_not_synonyms():
    # "swirling strokes" vs "swirl stroke": both match on Porter stems, one chunk of 2.
    stemmed = score_texts(["swirling strokes"], [["swirl stroke"]], meteor="stem")
    assert stemmed.meteor == pytest.approx(100 * 1 * (1 - 0.5 * (1 / 2) ** 3))
    # "big" and "large" are WordNet synonyms; without a thesaurus they never match.
    assert score_texts(["large"], [["big"]], meteor="stem").meteor == 0.0


def test_rouge_l_is_the_lcs_f1_with_the_best_reference():
    # Hypothesis 1: LCS 7 with reference 1 (P = R = 7/8), 6 with reference 2.
    # Hypothesis 2: LCS 5, P = 5/5, R = 5/7.
    def f1(p, r):
        return 2 * p * r / (p + r)

    first = max(f1(7 / 8, 7 / 8), f1(6 / 8, 6 / 7))
    second = f1(1.0, 5 / 7)
    assert score_texts(HYPS, REFS).rouge_l == pytest.approx(100 * (first + second) / 2, rel=1e-12)


def test_a_perfect_hypothesis_scores_100_except_meteors_one_chunk_penalty():
    text = "Bold diagonal strokes of orange lead the eye toward a small dark figure on the bridge."
    scores = score_texts([text], [[text, "Something else entirely."]])
    for value in (scores.bleu, scores.gleu, scores.rouge_l):
        assert value == pytest.approx(100.0)
    # 16 words in one chunk: METEOR keeps a fragmentation penalty of 0.5 * (1/16)^3.
    assert scores.meteor == pytest.approx(100 * (1 - 0.5 * (1 / 16) ** 3), rel=1e-12)


def test_an_empty_hypothesis_scores_zero_and_does_not_crash():
    scores = score_texts([""], [["A calm blue sea."]], meteor="stem")
    assert (scores.bleu, scores.gleu, scores.meteor, scores.rouge_l) == (0.0, 0.0, 0.0, 0.0)


def test_nothing_is_downloaded(monkeypatch):
    import nltk

    def refuse(*args, **kwargs):
        raise AssertionError("nltk.download was called")

    monkeypatch.setattr(nltk, "download", refuse)
    score_texts(HYPS, REFS, meteor="auto")


def test_meteor_variant_follows_what_is_on_disk():
    _, variant = meteor_thesaurus("auto")
    assert variant == ("wordnet" if installed_wordnet() is not None else "stem")
    with pytest.raises(UsageError):
        meteor_thesaurus("synonyms")


@pytest.mark.skipif(installed_wordnet() is not None, reason="nltk's WordNet data is installed here")
def test_asking_for_wordnet_without_it_says_how_to_get_it():
    with pytest.raises(UsageError, match="--meteor stem"):
        score_texts(HYPS, REFS, meteor="wordnet")


@pytest.mark.skipif(installed_wordnet() is None, reason="nltk's WordNet data is not installed here")
def test_with_wordnet_synonyms_match():
    assert score_texts(["large"], [["big"]], meteor="wordnet").meteor > 0


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError):
        score_texts(["a"], [["a"], ["b"]])
    with pytest.raises(ValueError):
        score_texts(["a"], [[]])
    with pytest.raises(UsageError):
        score_texts([], [])


def test_implementation_names_library_versions_and_choices():
    from importlib.metadata import version

    notes = implementation("stem")
    assert version("nltk") in notes["bleu"] and "no smoothing" in notes["bleu"]
    assert "exact + Porter stem" in notes["meteor"] and "WordNet synonyms" not in notes["meteor"]
    assert version("rouge-score") in notes["rouge_l"] and "use_stemmer=True" in notes["rouge_l"]
    assert "WordNet synonyms" in implementation("wordnet")["meteor"]
