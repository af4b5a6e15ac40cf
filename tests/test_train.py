"""Training the tiny model for real: loss falls, the output is what convert reads, a merged
LoRA equals base plus adapter, a killed run resumes into the same run, and the CLI edges."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("accelerate")

from critic.cli import build_parser  # noqa: E402
from critic.cli import main as critic_main
from critic.core.errors import UsageError  # noqa: E402
from critic.train.config import TrainConfig  # noqa: E402
from critic.train.loop import KILL_AFTER_STEP, LOG_NAME, train  # noqa: E402
from critic.train.synthetic import make_set  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Two shared cores: one torch thread avoids oversubscription stalls (subprocesses get OMP_NUM_THREADS=1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def subprocess_env(**extra) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **extra}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """32 synthetic paintings with their analyses."""
    folder = tmp_path_factory.mktemp("train-data")
    records = make_set(folder / "images", "train", 32, seed=0)
    (folder / "train.json").write_text(json.dumps(records))
    return folder


def tiny_config(tiny_dir: Path, data: Path, out: Path, **changes) -> TrainConfig:
    """A CPU run on the tiny model: LoRA + projector as for the real model, fp32, accumulation 2."""
    config = TrainConfig(
        base=str(tiny_dir / "base"), vision_tower=str(tiny_dir / "vision-tower"), data=str(data / "train.json"),
        image_root=str(data / "images"), out=str(out), lora_rank=8, lora_alpha=16, learning_rate=3e-3,
        batch_size=8, micro_batch_size=4, max_steps=12, warmup_ratio=0.1, bf16=False, gradient_checkpointing="on",
        save_every=4, log_every=1, seed=1,
    )
    return replace(config, **changes)


def losses(out: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (out / LOG_NAME).read_text().splitlines())]


@pytest.fixture(scope="module")
def trained(tiny_dir, data, tmp_path_factory) -> TrainConfig:
    """One finished 12-step run."""
    config = tiny_config(tiny_dir, data, tmp_path_factory.mktemp("run") / "out")
    result = train(config, show_progress=False)
    assert (result.steps, result.resumed_from, result.report.usable) == (12, 0, 32)
    return config


def test_loss_falls(trained):
    values = losses(Path(trained.out))
    assert len(values) == 12
    assert sum(values[-3:]) / 3 < 0.6 * sum(values[:3]) / 3, values


def test_output_is_the_lora_layout_convert_reads(trained, tiny_dir):
    from safetensors.torch import load_file

    from critic.convert.lora import open_lora
    from critic.llava.checkpoint import open_checkpoint
    from critic.llava.tensors import load_torch_pickle

    out = Path(trained.out)
    config = json.loads((out / "adapter_config.json").read_text())
    assert (config["peft_type"], config["r"], config["lora_alpha"]) == ("LORA", 8, 16)
    assert sorted(config["target_modules"]) == sorted(trained.lora_targets)
    keys = set(load_file(str(out / "adapter_model.safetensors")))
    assert "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" in keys
    assert "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight" in keys
    assert len(keys) == 2 * 7 * 2  # A and B, 7 linears, 2 layers
    projector = load_torch_pickle(out / "non_lora_trainables.bin")
    assert set(projector) == {f"base_model.model.model.mm_projector.{i}.{leaf}" for i in (0, 2) for leaf in ("weight", "bias")}

    ckpt = open_checkpoint(trained.base, trained.vision_tower)
    base_projector = ckpt.load("projector:0.weight").clone()
    lora = open_lora(out, ckpt)
    assert (lora.rank, lora.alpha, len(lora.factors)) == (8, 16.0, 14)
    assert not torch.allclose(ckpt.load("projector:0.weight"), base_projector)  # the trained projector replaced it
    saved = json.loads((out / "train-config.json").read_text())
    assert saved == asdict(trained)
    assert json.loads((out / "data-report.json").read_text())["usable"] == 32
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-0000008", "step-0000012"]
    assert (out / "checkpoints" / "step-0000008" / "adapter_config.json").exists()


def test_merged_lora_equals_base_plus_adapter(trained, data):
    """peft's unmerged forward of the trained adapter == the merge convert's reader feeds peft."""
    from critic.convert.reference import load_reference, splice_logits
    from critic.core.images import load_image
    from critic.core.perspectives import DEFAULT_QUESTION
    from critic.core.prompt import Turn, layout_tokens
    from critic.train.batch import Pixels
    from critic.train.encode import hf_tokenizer, plain_encoder
    from critic.train.model import LlavaTrainer, attach_lora, load_llava, read_adapter

    out = Path(trained.out)
    unmerged, ckpt = load_llava(trained.base, trained.vision_tower)
    attach_lora(unmerged, 8, 16, 0.0, trained.lora_targets)
    trainer = LlavaTrainer(unmerged).eval()
    state = read_adapter(out)
    params = dict(trainer.named_parameters())
    assert set(state) == {n for n, p in params.items() if p.requires_grad}
    with torch.no_grad():
        for name, tensor in state.items():
            params[name].copy_(tensor)
    merged, _ = load_reference(trained.base, trained.vision_tower, lora=out)
    base, _ = load_reference(trained.base, trained.vision_tower)

    tokenizer = hf_tokenizer(trained.base)
    layout = layout_tokens(plain_encoder(tokenizer), 1, 2, [Turn(DEFAULT_QUESTION, "The dominant colour is red.")])
    pixels = Pixels(ckpt.vision.image_size, ckpt.vision.mean, ckpt.vision.std)
    image = load_image(data / "images" / "train" / "00001.png").image
    pv = torch.from_numpy(pixels.array(image))[None]

    def logits(model):
        with torch.no_grad():
            features = LlavaTrainer(model).image_features(pv)
            return splice_logits(model, layout.before, features, layout.after)

    expected, got, plain = logits(unmerged), logits(merged), logits(base)
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4), (got - expected).abs().max()
    assert (plain - expected).abs().max() > 0.1  # the adapter really changes the model


def test_resume_after_kill_continues_the_same_run(tiny_dir, data, tmp_path):
    """kill -9 after step 5 (last checkpoint at 4), then --resume: the same losses and weights as one unbroken run."""
    from safetensors.torch import load_file

    whole = tiny_config(tiny_dir, data, tmp_path / "whole", max_steps=7, save_every=2)
    train(whole, show_progress=False)

    broken = replace(whole, out=str(tmp_path / "broken"))
    (tmp_path / "broken.json").write_text(json.dumps(asdict(broken)))
    env = subprocess_env(**{KILL_AFTER_STEP: "5"})
    proc = subprocess.run([sys.executable, "-m", "critic", "train", "--config", str(tmp_path / "broken.json"),
                           "--no-progress"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    out = Path(broken.out)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-0000002", "step-0000004"]
    assert len(losses(out)) == 5 and not (out / "adapter_config.json").exists()

    with pytest.raises(UsageError, match="add --resume"):
        train(broken, show_progress=False)
    result = train(broken, resume=True, show_progress=False)
    assert (result.resumed_from, result.steps, result.report.usable) == (4, 7, 32)
    assert [r["step"] for r in map(json.loads, (out / LOG_NAME).read_text().splitlines())] == list(range(1, 8))
    assert losses(out) == pytest.approx(losses(Path(whole.out)), rel=1e-4)
    a = load_file(str(Path(whole.out) / "adapter_model.safetensors"))
    b = load_file(str(out / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5, rtol=1e-4), key
    # The unbroken run's adapter differs from its own step-4 checkpoint: equality above is not vacuous.
    early = load_file(str(Path(whole.out) / "checkpoints" / "step-0000006" / "adapter_model.safetensors"))
    assert any(not torch.allclose(a[k], early[k], atol=1e-5) for k in a)


@pytest.mark.slow
def test_two_processes_run_the_same_steps_as_one(tiny_dir, data, tmp_path):
    """Two CPU processes (DDP over gloo): same global batches, same losses, same adapter."""
    from safetensors.torch import load_file

    one = tiny_config(tiny_dir, data, tmp_path / "one", max_steps=4, lora_dropout=0.0)
    train(one, show_progress=False)
    two = replace(one, out=str(tmp_path / "two"))
    (tmp_path / "two.json").write_text(json.dumps(asdict(two)))
    # accelerate's own launcher runs CPU jobs as one process; torchrun + ACCELERATE_USE_CPU is its multi-CPU path.
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "critic", "train", "--config", str(tmp_path / "two.json"), "--no-progress"],
                          env=subprocess_env(ACCELERATE_USE_CPU="true"), capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert losses(Path(two.out)) == pytest.approx(losses(Path(one.out)), rel=1e-4)
    a = load_file(str(Path(one.out) / "adapter_model.safetensors"))
    b = load_file(str(Path(two.out) / "adapter_model.safetensors"))
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5, rtol=1e-4), key
    state = Path(two.out) / "checkpoints" / "step-0000004" / "state"
    assert {p.name for p in state.glob("random_states_*")} == {"random_states_0.pkl", "random_states_1.pkl"}


def test_shipped_deepspeed_configs_fill_from_the_settings():
    from accelerate.utils import DeepSpeedPlugin

    from critic.train.loop import deepspeed_config_path

    for stage in (2, 3):
        plugin = DeepSpeedPlugin(hf_ds_config=str(deepspeed_config_path(f"zero{stage}")))
        assert plugin.zero_stage == stage
        for key in ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "gradient_clipping"):
            assert plugin.deepspeed_config[key] == "auto"
    with pytest.raises(UsageError, match="neither zero2, zero3 nor a DeepSpeed JSON"):
        deepspeed_config_path("zero9")


def test_a_transformers_native_base_trains_the_same(tiny_dir, data, tmp_path):
    """The same weights saved as a LlavaForConditionalGeneration folder: same losses, an adapter convert reads for it."""
    import shutil

    from critic.convert.lora import open_lora
    from critic.convert.reference import load_reference
    from critic.llava.checkpoint import open_checkpoint

    native = tmp_path / "native"
    model, _ = load_reference(tiny_dir / "base", tiny_dir / "vision-tower")
    model.save_pretrained(native)
    for name in ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(tiny_dir / "base" / name, native / name)
    shutil.copy(tiny_dir / "vision-tower" / "preprocessor_config.json", native)

    original = tiny_config(tiny_dir, data, tmp_path / "original", max_steps=3)
    converted = replace(original, base=str(native), vision_tower=None, out=str(tmp_path / "from-native"))
    train(original, show_progress=False)
    train(converted, show_progress=False)
    assert open_checkpoint(native).layout == "transformers"
    assert losses(Path(converted.out)) == pytest.approx(losses(Path(original.out)), rel=1e-4)
    assert len(open_lora(converted.out, open_checkpoint(native)).factors) == 14


def test_cli_refuses_what_would_lose_or_mix_runs(tiny_dir, data, tmp_path, capsys):
    base = ["train", "--base", str(tiny_dir / "base"), "--vision-tower", str(tiny_dir / "vision-tower"),
            "--data", str(data / "train.json"), "--image-root", str(data / "images"), "--out", str(tmp_path / "o"),
            "--lora-rank", "4", "--lora-alpha", "8", "--batch-size", "8", "--micro-batch-size", "8",
            "--max-steps", "2", "--no-bf16", "--gradient-checkpointing", "off", "--no-progress", "--lora-targets", "q_proj", "v_proj"]
    assert critic_main(base) == 0
    saved = json.loads((tmp_path / "o" / "train-config.json").read_text())
    assert (saved["lora_rank"], saved["lora_targets"], saved["bf16"]) == (4, ["q_proj", "v_proj"], False)
    next_step = capsys.readouterr().out.split("convert it with `")[1].split("`")[0]
    convert = build_parser().parse_args(shlex.split(next_step)[1:])  # a command `critic convert` accepts
    assert (convert.base, convert.vision_tower, convert.lora) == (
        str(tiny_dir / "base"), str(tiny_dir / "vision-tower"), str(tmp_path / "o"))
    assert convert.out and convert.convert_command is None  # converting, not verify
    assert critic_main(base) == 2
    assert "add --resume" in capsys.readouterr().err
    assert critic_main([*base, "--resume", "--learning-rate", "1e-3"]) == 2
    assert "different learning_rate" in capsys.readouterr().err
    assert critic_main(["train", "--resume", "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    assert "already finished" in capsys.readouterr().out
    # Killed after the last checkpoint but before the adapter reached OUT: --resume finishes the export.
    (tmp_path / "o" / "adapter_config.json").unlink()
    (tmp_path / "o" / "adapter_model.safetensors").unlink()
    assert critic_main(["train", "--resume", "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    assert (tmp_path / "o" / "adapter_config.json").exists() and (tmp_path / "o" / "adapter_model.safetensors").exists()


def test_cli_errors_are_one_line_with_the_fix(tiny_dir, data, tmp_path, capsys):
    common = ["--base", str(tiny_dir / "base"), "--vision-tower", str(tiny_dir / "vision-tower"),
              "--image-root", str(data / "images"), "--no-progress"]
    assert critic_main(["train", *common, "--data", str(data / "train.json"), "--out", str(tmp_path / "a")]) == 2
    assert "needs a CUDA GPU; on a CPU add --no-bf16" in capsys.readouterr().err
    (tmp_path / "escape.json").write_text(json.dumps([{
        "id": "x", "image": "../../etc/passwd",
        "conversations": [{"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "a"}]}]))
    assert critic_main(["train", *common, "--no-bf16", "--data", str(tmp_path / "escape.json"),
                        "--out", str(tmp_path / "b")]) == 9
    assert "leaves the image root" in capsys.readouterr().err
    (tmp_path / "bad.toml").write_text("lora_rnak = 3\n")
    assert critic_main(["train", "--config", str(tmp_path / "bad.toml")]) == 2
    assert "unknown setting(s) lora_rnak" in capsys.readouterr().err


def test_missing_images_are_reported_and_skipped(tiny_dir, data, tmp_path):
    records = json.loads((data / "train.json").read_text())
    records[3]["image"] = "train/nowhere.png"
    (tmp_path / "d.json").write_text(json.dumps(records))
    config = replace(tiny_config(tiny_dir, data, tmp_path / "o", max_steps=1, batch_size=4, micro_batch_size=4),
                     data=str(tmp_path / "d.json"))
    result = train(config, show_progress=False)
    report = json.loads((tmp_path / "o" / "data-report.json").read_text())
    assert (report["missing"], report["usable"], result.report.missing) == (1, 31, 1)
    assert report["missing_examples"] == [{"id": records[3]["id"], "image": "train/nowhere.png"}]
    assert 3 not in json.loads((tmp_path / "o" / "data-index.json").read_text())["records"]


def test_critic_help_does_not_import_torch():
    code = "import sys, critic.cli as c; c.build_parser(); print(sorted(m for m in ('torch', 'transformers', 'peft', 'accelerate') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.strip() == "[]", proc.stderr
