"""annotate's pure parts: ingest, answer parsing, leakage, split, providers, retry delays, store."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from critic.annotate.answer_store import Answer, AnswerStore, Key
from critic.annotate.client import RetryPolicy, redact, retry_after_seconds
from critic.annotate.instructions import OVERALL_PHRASINGS, instruction
from critic.annotate.leakage import artist_names, find_leaks, title_phrases
from critic.annotate.paintings import Painting, fold, ingest
from critic.annotate.prompts import (
    Malformed,
    knowledge_prompt,
    overall_prompt,
    parse_analysis,
    parse_known,
    parse_picks,
    perspective_prompt,
    picks_prompt,
    prompt_sha,
)
from critic.annotate.providers import DEFAULT_PROVIDERS_TOML, parse_providers
from critic.annotate.split import artist_quotas, split
from critic.core.errors import BadData, UsageError
from critic.core.perspectives import DEFAULT_QUESTION, PERSPECTIVES, perspective

# ---- ingest -------------------------------------------------------------------------------

def _images(folder, names):
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")
    return folder


def test_ingest_csv_reports_every_dropped_row(tmp_path):
    images = _images(tmp_path / "img", ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg", "g.jpg"])
    (tmp_path / "secret.jpg").write_bytes(b"x")
    (tmp_path / "p.csv").write_text(
        "ID,Title,Artist,Image,Popularity\n"
        "1,The Starry Night,Vincent van Gogh,a.jpg,900\n"
        "1,Duplicate id,Someone,b.jpg,5\n"
        "2,,Claude Monet,b.jpg,5\n"
        "3,Untitled (Blue),Mark Rothko,c.jpg,5\n"
        "4,Landscape,Unknown artist,d.jpg,5\n"
        "5,Water Lilies,Claude Monet,missing.jpg,5\n"
        "6,Escape,Claude Monet,../secret.jpg,5\n"
        "7,The Starry Night,Vincent van Gogh,e.jpg,950\n"
        "8,\"Impression, Sunrise\",Claude Monet,f.jpg,lots\n"
        "9,Sans titre,Henri Matisse,g.jpg,1\n",
        encoding="utf-8",
    )
    kept, report = ingest(tmp_path / "p.csv", images)
    assert report.rows == 10
    assert report.dropped == {
        "duplicate id": 1, "missing title": 1, "untitled": 2, "unknown artist": 1,
        "missing image": 2, "duplicate work": 1,
    }
    assert report.examples["missing image"] == ["5", "6"]
    # the more popular copy of the same work is kept; an unparsable popularity counts as 0
    assert [p.id for p in kept] == ["7", "8"] or [p.id for p in kept] == ["8", "7"]
    assert {p.id: p.popularity for p in kept} == {"7": 950.0, "8": 0.0}
    assert report.missing_popularity == 1
    assert report.kept == 2


def test_ingest_jsonl_and_bad_files(tmp_path):
    images = _images(tmp_path / "img", ["a.png"])
    good = tmp_path / "p.jsonl"
    good.write_text(json.dumps({"id": 1, "title": "Guernica", "artist": "Pablo Picasso",
                                "image": "a.png", "popularity": 3}) + "\n\n", encoding="utf-8")
    kept, _ = ingest(good, images)
    assert kept == [Painting("1", "Guernica", "Pablo Picasso", "a.png", 3.0)]

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": 1}\n{oops\n', encoding="utf-8")
    with pytest.raises(BadData, match=r"broken.jsonl line 2: not JSON"):
        ingest(broken, images)
    no_column = tmp_path / "p.csv"
    no_column.write_text("id,name,image\n1,x,a.png\n", encoding="utf-8")
    with pytest.raises(BadData, match="title, artist column"):
        ingest(no_column, images)
    with pytest.raises(BadData, match="no images folder"):
        ingest(good, tmp_path / "nowhere")


# ---- answers ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, known", [
    ('{"known": true}', True),
    ('{"known": false}', False),
    ('```json\n{"Known": "yes"}\n```', True),
    ('Sure! {"known": false} is my answer.', False),
    ("Yes, I know it well.", True),
    ("No. I have not heard of it, yes really.", False),
    ("true", True),
])
def test_parse_known(text, known):
    assert parse_known(text) is known


@pytest.mark.parametrize("text", [
    "I think I might know it, yes.",   # "yes" inside is not an answer
    '{"known": "perhaps"}',
    '{"answer_text": true}',
    "",
])
def test_parse_known_rejects_what_is_not_an_answer(text):
    with pytest.raises(Malformed):
        parse_known(text)


def test_parse_picks():
    assert parse_picks('{"perspectives": ["composition", "light", "colour palette"]}') == [
        "composition", "light", "color"]
    assert parse_picks("```\n[\"Texture\", \"form and shape\", \"texture\"]\n```") == ["texture", "form"]
    assert parse_picks("1. composition\n2. light and shadow\n3. banana") == ["composition", "light"]
    assert parse_picks(json.dumps([p.key for p in PERSPECTIVES]), limit=5) == [p.key for p in PERSPECTIVES[:5]]
    assert parse_picks('{"perspectives": []}') == []
    # naming none is an answer the pipeline rejects and asks again, not a malformed reply
    assert parse_picks("I cannot say.") == []


def test_parse_analysis():
    assert parse_analysis('"Broad bands of blue\n\nand ochre fill it."') == "Broad bands of blue and ochre fill it."
    with pytest.raises(Malformed):
        parse_analysis("  ")


def test_prompts_name_the_work_and_differ_per_attempt():
    p = Painting("1", "The Scream", "Edvard Munch", "a.png")
    for prompt in (knowledge_prompt(p), overall_prompt(p), picks_prompt(p), perspective_prompt(p, PERSPECTIVES[0])):
        text = prompt.messages[-1][1]
        assert "The Scream" in text and "Edvard Munch" in text
    first, second = overall_prompt(p, 0), overall_prompt(p, 1)
    assert prompt_sha(first.body("m", "none")) != prompt_sha(second.body("m", "none"))
    body = knowledge_prompt(p).body("m", "json_schema")
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["known"]
    assert "response_format" not in knowledge_prompt(p).body("m", "none")
    assert knowledge_prompt(p).body("m", "json_object")["response_format"]["type"] == "json_object"


# ---- leakage ------------------------------------------------------------------------------

def test_leaks_found_case_and_accent_insensitively():
    p = Painting("1", "The Starry Night", "Vincent van Gogh", "a.png")
    assert [leak.kind for leak in find_leaks("Van Gogh's swirling sky", p)] == ["artist"]
    assert {leak.kind for leak in find_leaks("as in THE STARRY NIGHT", p)} == {"title"}
    assert [leak.words for leak in find_leaks("a starry night over a village", p)] == ["starry night"]
    assert find_leaks("Goghish blues and a night sky full of stars", p) == []
    renoir = Painting("2", "Bal du moulin de la Galette", "Pierre-Auguste Renoir", "b.png")
    assert [leak.words for leak in find_leaks("RENOIR's dappled light", renoir)] == ["renoir"]
    assert [leak.kind for leak in find_leaks("the bal du moulin de la galette crowd", renoir)] == ["title"]
    durer = Painting("3", "Young Hare", "Albrecht Dürer", "c.png")
    assert find_leaks("a drawing in the manner of Albrecht DURER", durer)[0].words == "albrecht durer"
    assert find_leaks("durer", durer)[0].words == "durer"


def test_artist_and_title_forms():
    assert artist_names("Pieter Bruegel the Elder") == ["pieter bruegel", "bruegel"]
    assert artist_names("Gogh, Vincent van") == ["vincent van gogh", "gogh"]
    assert artist_names("El Greco (Domenikos Theotokopoulos)") == [
        "el greco", "greco", "domenikos theotokopoulos", "theotokopoulos"]
    assert artist_names("Rembrandt") == ["rembrandt"]
    assert title_phrases("The Scream") == ["the scream"]
    assert title_phrases("La Grande Jatte") == ["la grande jatte", "grande jatte"]
    assert fold("Ça m'étonne, Øystein!") == "ca m etonne oystein"


# ---- split --------------------------------------------------------------------------------

def test_quotas_keep_artist_shares_and_sum_exactly():
    counts = {"a": 50, "b": 30, "c": 15, "d": 5}
    quotas = artist_quotas(counts, 20)
    assert quotas == {"a": 10, "b": 6, "c": 3, "d": 1}
    rng = random.Random(1)
    for _ in range(200):
        counts = {f"x{i}": rng.randint(1, 40) for i in range(rng.randint(1, 12))}
        total = rng.randint(0, sum(counts.values()))
        quotas = artist_quotas(counts, total)
        assert sum(quotas.values()) == total
        size = sum(counts.values())
        for artist, n in counts.items():
            assert abs(quotas[artist] - total * n / size) < 1
            assert quotas[artist] <= n


def test_split_sends_least_popular_of_each_artist_to_test():
    paintings = [Painting(f"a{i}", f"A{i}", "Artist A", "x.png", popularity=i) for i in range(6)]
    paintings += [Painting(f"b{i}", f"B{i}", "Artist B", "x.png", popularity=100 - i) for i in range(3)]
    paintings += [Painting(f"c{i}", f"C{i}", "ARTIST Á", "x.png", popularity=50) for i in range(0)]
    train, test = split(paintings, 3)
    assert sorted(p.id for p in test) == ["a0", "a1", "b2"]
    assert len(train) == 6 and not {p.id for p in train} & {p.id for p in test}
    train, test = split(paintings, 100)
    assert train == [] and len(test) == 9


# ---- providers ----------------------------------------------------------------------------

def test_default_providers_and_roles():
    providers = parse_providers(DEFAULT_PROVIDERS_TOML)
    assert providers.knowledge == "gemini" and providers.analysts == ("openai", "gemini")
    assert providers["openai"].api_key_env == "OPENAI_API_KEY"
    assert providers["gemini"].cost(1_000_000, 1_000_000) == pytest.approx(0.5)


def test_provider_files_that_cannot_work(monkeypatch):
    base = '[[provider]]\nname = "a"\nbase_url = "http://127.0.0.1:1/v1"\nmodel = "m"\n'
    with pytest.raises(BadData, match="api_key_env"):
        parse_providers(base + 'api_key = "sk-x"\n')
    with pytest.raises(BadData, match="not defined"):
        parse_providers('[roles]\nanalysts = ["a", "zz"]\n' + base)
    with pytest.raises(BadData, match="unknown provider setting"):
        parse_providers(base + "temprature = 1\n")
    with pytest.raises(BadData, match="not valid TOML"):
        parse_providers("[[provider]\n")
    monkeypatch.delenv("NOPE_KEY", raising=False)
    with pytest.raises(UsageError, match=r"\$NOPE_KEY"):
        parse_providers(base + 'api_key_env = "NOPE_KEY"\n')["a"].api_key()
    assert parse_providers(base)["a"].api_key() == "no-key"


# ---- retries ------------------------------------------------------------------------------

def test_retry_delays_grow_with_jitter_and_honour_retry_after():
    policy = RetryPolicy(retries=5, base=1.0, cap=8.0)
    rng = random.Random(0)
    for failures, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 8.0)):
        delays = [policy.delay(failures, None, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 40  # jittered
    assert policy.delay(1, 7.5, rng) == 7.5
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_seconds({}) is None
    assert redact("Incorrect API key provided: Bearer sk-abc12345", ["sk-abc12345"]) == \
        "Incorrect API key provided: Bearer ***"


# ---- instructions -------------------------------------------------------------------------

def test_instructions_vary_and_are_stable():
    overall = Counter(instruction("overall", f"p{i}-a-overall") for i in range(200))
    assert set(overall) == set(OVERALL_PHRASINGS) and DEFAULT_QUESTION in overall
    assert instruction("overall", "p1-a-overall") == instruction("overall", "p1-a-overall")
    light = {instruction("light", f"p{i}-a-light") for i in range(200)}
    assert perspective("light").question in light and len(light) > 3
    assert all("light and shadow" in text for text in light)


# ---- store --------------------------------------------------------------------------------

def test_store_keeps_answers_across_opens_and_answers_replace_failures(tmp_path):
    key = Key("overall", "p1", "alpha", "0" * 64)
    with AnswerStore(tmp_path) as store:
        store.put(Answer(key, "overall", 0, False, None, "junk", "malformed answer"), [], "m")
        assert store.get(key).ok is False
        store.put(Answer(key, "overall", 0, True, "a paragraph", "a paragraph", None, 10, 20, 2), [], "m")
    with AnswerStore(tmp_path, readonly=True) as store:
        answer = store.get(key)
        assert (answer.ok, answer.value, answer.tokens_out, answer.tries) == (True, "a paragraph", 20, 2)
        assert store.get(Key("overall", "p2", "alpha", "0" * 64)) is None
        assert len(list(store.rows())) == 1
