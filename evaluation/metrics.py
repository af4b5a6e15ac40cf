"""Table 1's text metrics: BLEU-4, GLEU, METEOR and ROUGE-L, from nltk and rouge-score.

Every number comes from a maintained implementation; this module only fixes the choices
the paper leaves open and writes them down (`implementation()`), so a score is never
separated from how it was computed:

- tokens: NFKC, lowercase, nltk's `wordpunct_tokenize`, punctuation-only tokens dropped
  (the same tokens feed BLEU, GLEU and METEOR);
- BLEU: nltk `corpus_bleu`, 4-gram, uniform weights, no smoothing, every reference of a
  painting used at once;
- GLEU: nltk `corpus_gleu`, 1- to 4-grams, every reference used at once;
- METEOR: nltk `meteor_score` (alpha 0.9, beta 3, gamma 0.5), best reference per
  painting, mean over paintings. Its synonym stage needs WordNet; nltk would download it,
  which critic never does at run time. With nltk's WordNet data already installed the
  full exact+stem+synonym matcher runs ("wordnet"); without it the synonym stage is given
  an empty thesaurus and the score is METEOR with exact and Porter-stem matching only
  ("stem"), reported under that name;
- ROUGE-L: rouge-score `RougeScorer(["rougeL"], use_stemmer=True)` F-measure with its own
  tokenizer (lowercase, non-alphanumerics to spaces, Porter stems), `score_multi` (the
  reference with the best F) per painting, mean over paintings.

All four are reported ×100. nltk and rouge-score come with the `eval` extra and are
imported inside the functions that need them.
"""

from __future__ import annotations

import unicodedata
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from critic.core.errors import UsageError, require

METEOR_VARIANTS = ("auto", "wordnet", "stem")
METRIC_KEYS = ("bleu", "gleu", "meteor", "rouge_l")
TOKENIZATION = "NFKC, lowercase, nltk wordpunct_tokenize, punctuation-only tokens dropped"


@dataclass(frozen=True)
class TextScores:
    """Corpus scores ×100 for one set of hypotheses against their references."""

    bleu: float
    gleu: float
    meteor: float
    rouge_l: float
    n: int
    meteor_variant: str

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)


class _NoSynonyms:
    """A thesaurus with no entries: turns nltk's METEOR into exact+stem matching."""

    def synsets(self, word: str) -> list:
        """No synsets for any word."""
        return []


def tokenize(text: str) -> list[str]:
    """The tokens BLEU, GLEU and METEOR see."""
    require("nltk", "eval")
    from nltk.tokenize import wordpunct_tokenize

    text = unicodedata.normalize("NFKC", text).lower()
    return [tok for tok in wordpunct_tokenize(text) if any(ch.isalnum() for ch in tok)]


def installed_wordnet() -> Any | None:
    """nltk's WordNet reader when its data is already on disk, else None; never downloads."""
    require("nltk", "eval")
    import nltk

    for resource in ("corpora/wordnet", "corpora/wordnet.zip"):
        try:
            nltk.data.find(resource)
        except LookupError:
            continue
        from nltk.corpus import wordnet

        try:
            wordnet.synsets("paint")  # loads the lazy reader; fails here if the data is broken
        except (LookupError, OSError):
            return None
        return wordnet
    return None


def meteor_thesaurus(variant: str = "auto") -> tuple[Any, str]:
    """The WordNet-like object nltk's METEOR gets, and the variant name actually used."""
    if variant not in METEOR_VARIANTS:
        raise UsageError(f"unknown METEOR variant '{variant}': choose one of {', '.join(METEOR_VARIANTS)}")
    if variant == "stem":
        return _NoSynonyms(), "stem"
    wordnet = installed_wordnet()
    if wordnet is not None:
        return wordnet, "wordnet"
    if variant == "wordnet":
        raise UsageError(
            "METEOR with synonyms needs nltk's WordNet data on disk, and critic never downloads "
            "at run time: install it once while online (`python -m nltk.downloader wordnet`) "
            "or use `--meteor stem`"
        )
    return _NoSynonyms(), "stem"


def meteor_label(variant: str) -> str:
    """How a METEOR column is titled for a variant."""
    return "METEOR" if variant == "wordnet" else "METEOR (exact+stem)"


def score_texts(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], meteor: str = "auto"
) -> TextScores:
    """BLEU-4, GLEU, METEOR and ROUGE-L (×100) of each hypothesis against all its references."""
    if len(hypotheses) != len(references):
        raise ValueError("one list of references per hypothesis")
    if not hypotheses:
        raise UsageError("nothing to score: no outputs have references")
    if any(not refs for refs in references):
        raise ValueError("every hypothesis needs at least one reference")
    require("nltk", "eval")
    require("rouge_score", "eval")
    from nltk.translate.bleu_score import corpus_bleu
    from nltk.translate.gleu_score import corpus_gleu
    from nltk.translate.meteor_score import meteor_score
    from rouge_score import rouge_scorer

    thesaurus, variant = meteor_thesaurus(meteor)
    hyp_tokens = [tokenize(h) for h in hypotheses]
    ref_tokens = [[tokenize(r) for r in refs] for refs in references]

    with warnings.catch_warnings():
        # nltk warns when an n-gram order has no match at all; the score (0) is still right.
        warnings.simplefilter("ignore", UserWarning)
        bleu = corpus_bleu(ref_tokens, hyp_tokens, weights=(0.25, 0.25, 0.25, 0.25))
    gleu = corpus_gleu(ref_tokens, hyp_tokens, min_len=1, max_len=4)
    meteors = [
        meteor_score(refs, hyp, wordnet=thesaurus) if hyp else 0.0
        for refs, hyp in zip(ref_tokens, hyp_tokens)
    ]
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouges = [
        scorer.score_multi(list(refs), hyp)["rougeL"].fmeasure
        for refs, hyp in zip(references, hypotheses)
    ]
    n = len(hypotheses)
    return TextScores(
        bleu=100.0 * float(bleu),
        gleu=100.0 * float(gleu),
        meteor=100.0 * sum(meteors) / n,
        rouge_l=100.0 * sum(rouges) / n,
        n=n,
        meteor_variant=variant,
    )


def implementation(meteor_variant: str) -> dict[str, str]:
    """Which library, version and settings produced each number."""
    from importlib.metadata import PackageNotFoundError, version

    def ver(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    nltk_v, rouge_v = ver("nltk"), ver("rouge-score")
    matcher = "exact + Porter stem + WordNet synonyms" if meteor_variant == "wordnet" else (
        "exact + Porter stem (no WordNet on disk: synonym stage empty)"
    )
    return {
        "tokenization": TOKENIZATION,
        "bleu": f"nltk {nltk_v} corpus_bleu, 4-gram, weights 0.25 each, no smoothing, all references",
        "gleu": f"nltk {nltk_v} corpus_gleu, n-grams 1-4, all references",
        "meteor": f"nltk {nltk_v} meteor_score, {matcher}, alpha 0.9 beta 3 gamma 0.5, "
                  "best reference per item, mean over items",
        "rouge_l": f"rouge-score {rouge_v} ROUGE-L F1, use_stemmer=True, its own tokenizer, "
                   "best reference per item (score_multi), mean over items",
        "scale": "x100",
    }
