"""train/'s pure parts: records, image paths, label masking, data order, config, preprocessing."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from critic.core.errors import BadData, BadImage, UsageError
from critic.core.prompt import Turn, layout_tokens
from critic.train.config import TrainConfig, check_config, config_from_dict, differences, load_config
from critic.train.encode import IGNORE, encode
from critic.train.order import Schedule, StepBatches
from critic.train.records import read_records, resolve_image, scan_images


def word_tokenize(text: str) -> list[int]:
    """A stand-in tokenizer with a stable id per word (enough for the masking rules)."""
    return [10 + (sum(map(ord, w)) % 1000) for w in text.replace("\n", " \n ").split(" ") if w]


def write_data(path, records) -> str:
    path.write_text(json.dumps(records))
    return str(path)


def record(i, image, *turns):
    conversations = []
    for q, a in turns:
        conversations += [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
    return {"id": f"r{i}", "image": image, "conversations": conversations}


# ---------------------------------------------------------------- records


def test_records_take_the_image_token_out_and_keep_every_turn(tmp_path):
    data = write_data(tmp_path / "d.json", [
        record(0, "a.png", ("Describe the colour.\n<image>", "Red dominates."), ("And the line?", "Curved.")),
    ])
    (rec,) = read_records(data)
    assert rec.turns == (Turn("Describe the colour.", "Red dominates."), Turn("And the line?", "Curved."))
    assert rec.image == "a.png" and rec.id == "r0"


@pytest.mark.parametrize("bad, message", [
    ({"id": 1, "image": "a.png", "conversations": [{"from": "gpt", "value": "x"}, {"from": "human", "value": "y"}]},
     "alternate"),
    ({"id": 1, "image": "a.png", "conversations": [{"from": "human", "value": "q"}]}, "alternate"),
    ({"id": 1, "image": "a.png", "conversations": [{"from": "robot", "value": "q"}]}, "unknown speaker"),
    ({"id": 1, "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}, "no 'image'"),
    ({"id": 1, "image": "a.png", "conversations": []}, "non-empty"),
])
def test_malformed_records_are_named(tmp_path, bad, message):
    data = write_data(tmp_path / "d.json", [record(0, "a.png", ("q", "a")), bad])
    with pytest.raises(BadData, match=message) as err:
        read_records(data)
    assert "#1" in str(err.value)


def test_not_a_list_or_not_json_is_bad_data(tmp_path):
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "b.json").write_text("[{")
    with pytest.raises(BadData, match="JSON list"):
        read_records(tmp_path / "a.json")
    with pytest.raises(BadData, match="not valid JSON"):
        read_records(tmp_path / "b.json")


@pytest.mark.parametrize("path", ["../outside.png", "/etc/passwd", "sub/../../outside.png", "link/outside.png"])
def test_image_paths_may_not_leave_the_root(tmp_path, path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", root / "link")
    with pytest.raises(BadData, match="leaves the image root"):
        resolve_image(root, path)
    assert resolve_image(root, "sub/./a.png") == (root / "sub" / "a.png").resolve()


def test_missing_and_unreadable_images_are_counted_or_fail_fast(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(root / "good.png")
    (root / "broken.png").write_bytes(b"not an image at all")
    records = read_records(write_data(tmp_path / "d.json", [
        record(0, "good.png", ("q", "a")), record(1, "missing.png", ("q", "a")), record(2, "broken.png", ("q", "a")),
    ]))
    usable, report = scan_images(records, root)
    assert [r.id for r, _ in usable] == ["r0"]
    assert (report.records, report.missing, report.unreadable) == (3, 1, 1)
    assert report.missing_examples == [{"id": "r1", "image": "missing.png"}]
    assert report.unreadable_examples[0]["id"] == "r2"
    with pytest.raises(BadImage, match="missing.png: missing"):
        scan_images(records, root, fail_fast=True)
    escaping = read_records(write_data(tmp_path / "e.json", [record(0, "../good.png", ("q", "a"))]))
    with pytest.raises(BadData, match="leaves the image root"):
        scan_images(escaping, root)


# ---------------------------------------------------------------- tokens and labels


def test_labels_cover_exactly_the_answers_and_their_eos_in_every_turn():
    turns = (Turn("What colour?", "Red and warm."), Turn("And the line?", "Curved lines."))
    example = encode(0, "x.png", turns, word_tokenize, 1, 2, image_tokens=4, max_length=2048)
    layout = layout_tokens(word_tokenize, 1, 2, turns)
    assert list(example.before) == layout.before and list(example.after) == layout.after
    first, second = word_tokenize("Red and warm.") + [2], word_tokenize("Curved lines.") + [2]
    labelled = [t for t, label in zip(example.after, example.labels) if label != IGNORE]
    assert labelled == first + second
    assert [label for label in example.labels if label != IGNORE] == first + second
    # Everything else (questions, the system prompt, the image) is masked.
    masked = [t for t, label in zip(example.after, example.labels) if label == IGNORE]
    assert masked == word_tokenize("\nWhat colour? ASSISTANT:") + word_tokenize("USER: And the line? ASSISTANT:")
    assert not example.truncated


def test_truncation_cuts_the_tail_and_drops_samples_with_no_answer_left():
    turns = (Turn("q", "one two three four five six"),)
    full = encode(0, "x.png", turns, word_tokenize, 1, 2, image_tokens=4, max_length=2048)
    cut = full.length(4) - 3
    short = encode(0, "x.png", turns, word_tokenize, 1, 2, image_tokens=4, max_length=cut)
    assert short.truncated and short.length(4) == cut
    assert short.after == full.after[:-3] and short.labels == full.labels[:-3]
    answer_start = len(word_tokenize("\nq ASSISTANT:"))
    room = len(full.before) + 4 + answer_start
    assert encode(0, "x.png", turns, word_tokenize, 1, 2, image_tokens=4, max_length=room) is None


# ---------------------------------------------------------------- data order


def test_each_epoch_is_a_permutation_and_the_order_is_a_function_of_the_seed():
    schedule = Schedule(samples=50, batch_size=8, micro_batch_size=2, processes=1, epochs=2, seed=3)
    assert schedule.steps_per_epoch == 6 and schedule.total_steps == 12 and schedule.accumulation == 4
    first = [i for s in range(6) for i in schedule.step_samples(s)]
    assert len(set(first)) == 48 and set(first) <= set(range(50))
    second = [i for s in range(6, 12) for i in schedule.step_samples(s)]
    assert second != first
    again = Schedule(samples=50, batch_size=8, micro_batch_size=2, processes=1, epochs=2, seed=3)
    assert [again.step_samples(s) for s in range(12)] == [schedule.step_samples(s) for s in range(12)]
    other = Schedule(samples=50, batch_size=8, micro_batch_size=2, processes=1, epochs=2, seed=4)
    assert other.step_samples(0) != schedule.step_samples(0)


def test_processes_share_each_global_batch_whatever_their_number():
    one = Schedule(samples=64, batch_size=16, micro_batch_size=4, processes=1)
    four = Schedule(samples=64, batch_size=16, micro_batch_size=2, processes=4)
    for step in range(one.total_steps):
        shares = [i for rank in range(4) for mb in four.micro_batches(step, rank) for i in mb]
        assert shares == one.step_samples(step) == [i for mb in one.micro_batches(step, 0) for i in mb]
    resumed = list(StepBatches(one, 2, 0))
    assert resumed == [mb for step in range(2, one.total_steps) for mb in one.micro_batches(step, 0)]
    assert len(StepBatches(one, 2, 0)) == len(resumed)


def test_schedule_refuses_what_cannot_run():
    assert "fewer than one batch" in Schedule(5, 16, 16, 1).check()
    assert "multiple" in Schedule(64, 16, 4, 3).check()
    assert Schedule(64, 16, 4, 2).check() is None


# ---------------------------------------------------------------- config


def test_config_file_then_flags_and_errors(tmp_path):
    (tmp_path / "c.toml").write_text('base = "b"\ndata = "d.json"\nlora_rank = 8\nlearning_rate = 1\n')
    config = load_config(tmp_path / "c.toml", {"lora_rank": 4, "out": "o", "image_root": "i"})
    assert (config.lora_rank, config.learning_rate, config.base, config.out) == (4, 1.0, "b", "o")
    assert isinstance(config.learning_rate, float)
    check_config(config)
    (tmp_path / "c.yaml").write_text("lora_targets: q_proj\nbf16: false\n")
    assert load_config(tmp_path / "c.yaml").lora_targets == ["q_proj"]
    with pytest.raises(UsageError, match="unknown setting.*lora_rnak"):
        config_from_dict({"lora_rnak": 3})
    with pytest.raises(UsageError, match="'bf16' must be true or false"):
        config_from_dict({"bf16": "yes"})
    with pytest.raises(UsageError, match="no image_root given"):
        check_config(TrainConfig(base="b", data="d", out="o"))
    with pytest.raises(UsageError, match="not a multiple"):
        check_config(TrainConfig(base="b", data="d", out="o", image_root="i", batch_size=16, micro_batch_size=5))
    saved = TrainConfig(base="b", data="d", out="o", image_root="i")
    changed = TrainConfig(base="elsewhere", data="d", out="o", image_root="i", learning_rate=1e-4, log_every=1)
    assert differences(saved, changed) == ["learning_rate"]
    assert json.loads(saved.to_json())["lora_alpha"] == 256


def test_paper_defaults():
    config = TrainConfig()
    assert (config.lora_rank, config.lora_alpha, config.learning_rate, config.batch_size) == (128, 256, 2e-5, 16)
    assert (config.schedule, config.warmup_ratio, config.bf16, config.gradient_checkpointing) == ("cosine", 0.03, True, "auto")
    assert config.max_length == 2048 and config.train_projector
    assert config.lora_targets == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


# ---------------------------------------------------------------- pixels


def test_pixels_pad_with_the_tower_mean_and_normalise():
    from critic.train.batch import Pixels

    mean, std = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
    from critic.core.images import pad_colour

    pixels = Pixels(28, mean, std)
    assert pad_colour(mean) == (122, 116, 104)
    wide = Image.new("RGB", (56, 28), (255, 0, 0))
    array = pixels.array(wide)
    assert array.shape == (3, 28, 28) and array.dtype == np.float32
    centre = array[:, 14, 14] * np.array(std) + np.array(mean)
    corner = array[:, 0, 0] * np.array(std) + np.array(mean)
    assert np.allclose(centre, (1, 0, 0), atol=1e-3)
    assert np.allclose(corner * 255, (122, 116, 104), atol=0.5)
