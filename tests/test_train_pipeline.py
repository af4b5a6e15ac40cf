"""The proof that the whole pipeline carries the picture: train → merge → GGUF → llama.cpp.

Synthetic paintings are mostly one of four colours; each training analysis names its
painting's colour. The tiny model is trained with `critic train` (LoRA + projector, as for
the real model), converted with `critic convert --quant Q8_0`, installed with `critic models
add` and run with `critic analyze` (greedy) on 40 held-out paintings: the colour it names
must be right for ≥ 90% of them.

The control trains the same way on the same records with the image paths permuted across
records so that every analysis colour is paired exactly equally often with paintings of each
colour (`critic.train.synthetic.shuffle_images`): the text is unchanged and the pairing carries no
colour. Its accuracy on the same held-out paintings must stay near chance (≤ 50% with four
colours, chance being 25%). Both runs are deterministic (fixed seeds).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("accelerate")
pytest.importorskip("llama_cpp")

from critic.cli import main as critic_main  # noqa: E402
from critic.train.synthetic import colour_named, make_set, shuffle_images  # noqa: E402


@pytest.fixture
def one_thread():
    """Two shared cores: one torch thread avoids oversubscription stalls."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train_convert_analyze(tiny: Path, images: Path, records: list[dict], work: Path, name: str) -> dict[str, str]:
    """Train on `records`, convert, install, analyse images/test; return {image file name: analysis}."""
    work.mkdir()
    (work / "train.json").write_text(json.dumps(records))
    (work / "config.json").write_text(json.dumps({
        "base": str(tiny / "base"), "vision_tower": str(tiny / "vision-tower"), "data": str(work / "train.json"),
        "image_root": str(images), "out": str(work / "lora"),
        "lora_rank": 8, "lora_alpha": 16, "learning_rate": 3e-3, "batch_size": 16, "micro_batch_size": 16,
        "max_steps": 150, "warmup_ratio": 0.05, "bf16": False, "save_every": 1000, "log_every": 10, "seed": 0,
    }))
    assert critic_main(["train", "--config", str(work / "config.json"), "--no-progress"]) == 0
    assert critic_main(["convert", str(tiny / "base"), "--vision-tower", str(tiny / "vision-tower"),
                        "--lora", str(work / "lora"), "--out", str(work / "model"), "--quant", "Q8_0",
                        "--name", name]) == 0
    assert critic_main(["models", "add", str(work / "model"), "--name", name]) == 0
    results = work / "analyses.jsonl"
    critic_main(["analyze", str(images / "test"), "--model", name, "--format", "json", "--out", str(results),
                 "--no-facts", "--max-tokens", "16", "--threads", "1"])
    answers = {}
    for line in results.read_text().splitlines():
        record = json.loads(line)
        assert record["status"] == "ok", record
        answers[Path(record["image"]["path"]).name] = record["analysis"]
    return answers


def accuracy(answers: dict[str, str], test: list[dict]) -> float:
    truth = {Path(r["image"]).name: r["colour"] for r in test}
    assert set(answers) == set(truth)
    return sum(colour_named(answers[n]) == c for n, c in truth.items()) / len(truth)


@pytest.mark.slow
def test_the_painting_not_the_text_decides_the_colour_named(tmp_path, one_thread, capsys):
    from critic.convert.tiny import TinySpec, VisionSpec, build

    # A small init scale keeps the random tiny model trainable in 150 steps; 28 px, 14 px
    # patches: four image tokens, enough for a colour.
    tiny = build(tmp_path / "tiny", TinySpec(init_scale=0.3, vision=VisionSpec(image_size=28, patch_size=14)))
    images = tmp_path / "images"
    train = make_set(images, "train", 160, seed=0)
    test = make_set(images, "test", 40, seed=1)

    answers = train_convert_analyze(tiny, images, train, tmp_path / "paired", "paired")
    control = train_convert_analyze(tiny, images, shuffle_images(train, seed=2), tmp_path / "shuffled", "shuffled")
    paired_accuracy, control_accuracy = accuracy(answers, test), accuracy(control, test)
    print(f"paired {paired_accuracy:.2f}, shuffled-image control {control_accuracy:.2f}")
    assert paired_accuracy >= 0.9, answers
    assert control_accuracy <= 0.5, control
    # The answers are analyses in the trained form, not a colour word alone.
    assert all(a.startswith(("The", "the")) for a in answers.values()), answers

    # Training and the runtime tokenize identically: the training sample of a held-out record
    # equals critic.core.prompt's layout through llama.cpp's own tokenizer.
    from critic.core.manifest import Manifest
    from critic.core.prompt import layout_tokens
    from critic.engine.base import ModelInfo
    from critic.engine.llama import LlamaEngine
    from critic.train.encode import encode, hf_tokenizer, plain_encoder
    from critic.train.records import read_records

    (tmp_path / "test.json").write_text(json.dumps(test))
    tokenizer = hf_tokenizer(tiny / "base")
    engine = LlamaEngine(*Manifest.read(tmp_path / "paired" / "model").file_paths(tmp_path / "paired" / "model"),
                         ModelInfo("paired"), threads=1)
    try:
        for record in read_records(tmp_path / "test.json")[:8]:
            example = encode(record.index, Path("x"), record.turns, plain_encoder(tokenizer), 1, 2, 4, 2048)
            layout = layout_tokens(engine.tokenize, engine.bos, engine.eos, record.turns)
            assert (list(example.before), list(example.after)) == (layout.before, layout.after)
    finally:
        engine.close()
