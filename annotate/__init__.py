"""PaintingForm: formal analyses of famous paintings, written by LLMs that never name them.

The data pipeline of GalleryGPT (section 3), run by `critic annotate run`:

1. ingest      a CSV or JSONL of paintings (id, title, artist, image, popularity);
               duplicates, missing images and titles, and untitled or anonymous works dropped
2. knowledge   one provider says whether it knows each painting; unknown ones dropped
3. overall     each analyst writes one paragraph on visual form from title and artist alone
4. picks       each analyst names up to 5 perspectives (critic.core.perspectives); the
               intersection is kept, then each analyst writes one analysis per perspective
5. checks      an answer that is not an analysis (a refusal, a yes/no, an apology, JSON, a
               list, under 40 words, off topic, not English: `critic.annotate.validate`) or a pick
               naming no known perspective is asked again (--invalid-retries), then dropped;
               an analysis naming the title or the artist is regenerated (--leak-retries),
               then dropped
6. split       the least popular paintings, artist shares kept, go to the test set
7. export      train.json, test.json and stats.json in the output folder

Every answer is stored in `<out>/annotate.sqlite` the moment it arrives (`critic.annotate.answer_store`),
so a rerun, or a run after a kill, sends only what is not stored yet.

Output formats (all JSON, written atomically):

`train.json` — LLaVA conversations, one per kept analysis, which `critic train` reads::

    [{"id": "<painting>-<provider>-<kind>", "image": "relative/path.jpg",
      "conversations": [{"from": "human", "value": "<image>\\n<instruction>"},
                        {"from": "gpt", "value": "<analysis>"}]}]

`image` is relative to the images folder given to the run; the instruction is one of a few
phrasings of the overall question (critic.core.perspectives.DEFAULT_QUESTION among them) or of a
perspective's question (`critic.annotate.instructions`).

`test.json` — one record per test painting, with every reference analysis of both analysts::

    [{"id": "...", "image": "relative/path.jpg", "title": "...", "artist": "...",
      "references": [{"provider": "<provider name>", "kind": "overall", "text": "..."},
                     {"provider": "...", "kind": "<perspective key>", "text": "..."}]}]

`kind` is "overall" for the answer to the overall question (what the paper's metrics score
against DEFAULT_QUESTION), otherwise a key of critic.core.perspectives.PERSPECTIVES.

`stats.json` — counts per stage, per perspective, per artist, leak rejections, tokens and cost,
and `rejections`: per stage (overall, picks, perspective) the rejected answers by reason
(keys of annotate.validate.REASONS), how many were asked again and how many dropped::

    "rejections": {"overall": {"by_reason": {"refusal": 2, "yes_no": 1}, "regenerated": 3,
                               "dropped": 0}, "picks": {...}, "perspective": {...}}
"""
