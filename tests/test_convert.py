"""convert/: the tiny model's layout, GGUF read-back, parity with transformers, quantization, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from critic.convert.lora import open_lora
from critic.convert.pipeline import ConvertConfig, convert
from critic.convert.reference import load_reference
from critic.convert.verify import verify
from critic.core.errors import BadCheckpoint, BadModelFile, UsageError
from critic.core.gguf_check import check_pair, read_header
from critic.core.manifest import Manifest
from critic.llava.checkpoint import open_checkpoint


def _convert(tiny_dir, out, **kw):
    args = dict(base=str(tiny_dir / "base"), vision_tower=str(tiny_dir / "vision-tower"),
                lora=str(tiny_dir / "lora"), out=str(out), quant="F16")
    args.update(kw)
    return convert(ConvertConfig(**args), show_progress=False)


def test_tiny_model_is_laid_out_like_the_release(tiny_dir):
    """The fixture's files are the release's (../shared/DESIGN.md), written out here from it."""
    base, tower, lora = tiny_dir / "base", tiny_dir / "vision-tower", tiny_dir / "lora"
    config = json.loads((base / "config.json").read_text())
    assert config["architectures"] == ["LLaVALlamaForCausalLM"] and config["model_type"] == "llava"
    assert config["mm_vision_tower"] == "Lin-Chen/ShareGPT4V-7B_Pretrained_vit-large336-l12"
    assert config["mm_projector_type"] == "mlp2x_gelu" and config["mm_vision_select_layer"] == -2
    assert config["mm_vision_select_feature"] == "patch" and config["image_aspect_ratio"] == "pad"
    assert config["torch_dtype"] == "bfloat16" and config["tune_vision_tower"] is False
    assert {p.name for p in base.glob("*.bin")} == {"pytorch_model-00001-of-00002.bin",
                                                   "pytorch_model-00002-of-00002.bin"}
    assert not list(base.glob("*.safetensors"))
    index = json.loads((base / "pytorch_model.bin.index.json").read_text())
    assert "model.mm_projector.0.weight" in index["weight_map"]
    shards = {}
    for shard in base.glob("pytorch_model-*.bin"):
        shards.update(torch.load(shard, weights_only=True))
    assert shards["model.layers.0.self_attn.q_proj.weight"].dtype == torch.bfloat16
    inv_freq = [n for n in shards if n.endswith("rotary_emb.inv_freq")]
    assert len(inv_freq) == config["num_hidden_layers"] and shards[inv_freq[0]].dtype == torch.float32
    assert not any("vision_tower" in n for n in shards)
    tokenizer = json.loads((base / "tokenizer_config.json").read_text())
    assert tokenizer["tokenizer_class"] == "LlamaTokenizer" and tokenizer["legacy"] is False

    tower_config = json.loads((tower / "config.json").read_text())
    assert tower_config["architectures"] == ["CLIPVisionModel"] and tower_config["hidden_act"] == "quick_gelu"
    weights = torch.load(tower / "pytorch_model.bin", weights_only=True)
    assert all(t.dtype == torch.bfloat16 for t in weights.values())
    assert not any("position_ids" in n for n in weights) and (tower / "preprocessor_config.json").exists()

    names = {p.name for p in lora.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "non_lora_trainables.bin", "config.json",
            "README.md", "trainer_state.json"} <= names
    steps = [p for p in lora.iterdir() if p.name.startswith("checkpoint-")]
    assert steps and not (steps[0] / "non_lora_trainables.bin").exists()
    from safetensors.torch import load_file

    adapter = load_file(str(lora / "adapter_model.safetensors"))
    assert "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" in adapter
    trained = torch.load(lora / "non_lora_trainables.bin", weights_only=True)
    assert set(trained) == {f"base_model.model.model.mm_projector.{i}.{k}" for i in (0, 2) for k in ("weight", "bias")}
    assert all(t.dtype == torch.bfloat16 for t in trained.values())
    ckpt = open_checkpoint(base, tower)
    assert ckpt.tokenizer_legacy is False and ckpt.preprocess == "pad"
    assert not torch.allclose(trained["base_model.model.model.mm_projector.0.weight"].float(),
                              ckpt.load("projector:0.weight"))


def test_written_gguf_reads_back_with_the_names_and_shapes_written(tiny_gguf, tiny_dir):
    manifest = Manifest.read(tiny_gguf)
    llm, mm = check_pair(*manifest.file_paths(tiny_gguf))
    ckpt = open_checkpoint(tiny_dir / "base", tiny_dir / "vision-tower")
    hp = ckpt.llm
    assert llm.tensors["token_embd.weight"][0] == (hp.hidden, hp.vocab)
    assert llm.tensors["blk.1.ffn_down.weight"][0] == (hp.ffn, hp.hidden)
    assert llm.fields["llama.block_count"] == hp.layers
    assert llm.fields["tokenizer.ggml.bos_token_id"] == 1 and llm.fields["tokenizer.ggml.eos_token_id"] == 2
    assert "curious user" in llm.fields["tokenizer.chat_template"]
    assert llm.fields["critic.tokenizer.legacy"] is False and manifest.tokenizer_legacy is False
    assert mm.tensors["v.class_embd"][1] == "F32"
    assert "v.post_ln.weight" not in mm.tensors
    assert mm.fields["clip.projector_type"] == "mlp"
    assert mm.tensors["v.blk.0.ffn_up.weight"][0] == (ckpt.vision.hidden, ckpt.vision.ffn)
    n_pos = (ckpt.vision.image_size // ckpt.vision.patch_size) ** 2 + 1
    assert mm.tensors["v.position_embd.weight"][0] == (ckpt.vision.hidden, n_pos)
    assert manifest.llm.sha256 and manifest.class_token_layout == "exact"
    assert manifest.prompt_format == "vicuna_v1" and manifest.image["preprocess"] == "pad"
    patch0 = read_header(manifest.patch0_path(tiny_gguf))
    assert mm.fields["critic.class_token_layout"] == "rotated"
    assert patch0.fields["critic.class_token_layout"] == "patch0"
    saved = json.loads((tiny_gguf / "convert-config.json").read_text())
    assert saved["quant"] == "F16"


def test_streamed_merge_equals_peft_merge(tiny_dir):
    model, ckpt = load_reference(tiny_dir / "base", tiny_dir / "vision-tower", tiny_dir / "lora")
    fresh = open_checkpoint(tiny_dir / "base", tiny_dir / "vision-tower")
    lora = open_lora(tiny_dir / "lora", fresh)
    assert lora.scale == 2.0 and len(lora.factors) == 7 * fresh.llm.layers
    params = dict(model.named_parameters())
    for name in lora.factors:
        ours = lora.merged(name, fresh.load(name))
        theirs = params["model.language_model." + name.split(":", 1)[1].removeprefix("model.")]
        assert torch.allclose(ours, theirs, atol=1e-5), name
        assert not torch.allclose(ours, fresh.load(name), atol=1e-3), f"{name}: the LoRA changed nothing"


@pytest.fixture(scope="module")
def tiny_report(tiny_gguf, tiny_dir):
    """verify on the release-exact fixture, with the single-encode tables measured too."""
    report = verify(tiny_gguf, tiny_dir / "base", tiny_dir / "vision-tower", tiny_dir / "lora", layouts=True)
    print(json.dumps({k: report.to_dict()[k] for k in ("text", "image", "conversion_max_dlogit")}, indent=1))
    return report


def test_f16_files_match_transformers(tiny_report):
    report = tiny_report
    assert report.failures == []
    assert report.tokens_equal and report.template_equal
    assert report.conversion_max_dlogit <= 1e-2
    assert report.text["top1_agreement"] == 1.0 and report.text["decisive_positions"] > 0
    assert report.text["max_dlogit"] <= 1e-2 * report.text["logit_scale"]


def test_every_image_token_equals_transformers(tiny_report):
    """The goal of the exact layout: N of N rows, and image-prompt logits held to the text gate."""
    image = tiny_report.image
    assert image["image_tokens"] == 16 and image["image_tokens_exact"] == 16
    assert image["image_rel_error"] < 3e-2
    assert image["top1_agreement"] == 1.0 and image["decisive_positions"] > 0
    assert image["max_dlogit"] <= 1e-2 * image["logit_scale"]


def test_class_token_layout_matches_llama_cpp_behaviour(tiny_report):
    """Fails loudly if llama.cpp stops appending the class token after the patches.

    If this fails after upgrading llama-cpp-python, llama.cpp fixed its CLIP class-token
    order (upstream PR #25844): one encode through the stock table then gives every image
    token, so the exact layout's second mmproj can be retired (convert with `--layout stock`,
    make that the default), and this test updated.
    """
    rotated, stock = tiny_report.layouts["rotated F32"], tiny_report.layouts["stock F32"]
    assert rotated["patch_rel_error_shifted_by_one"] < 2e-3, "rotated table no longer reproduces patches 1..N-1"
    assert rotated["last_row_vs_class_token"] < 2e-3, "llama.cpp no longer hands the class token last"
    assert rotated["patch_rel_error_aligned"] > 0.1
    assert stock["patch_rel_error_aligned"] > 0.1, "stock layout now matches: llama.cpp fixed the order"
    assert stock["patch_rel_error_shifted_by_one"] > 10 * rotated["patch_rel_error_shifted_by_one"]


def test_converting_without_the_lora_is_caught(tiny_dir, tmp_path):
    plain = _convert(tiny_dir, tmp_path / "plain", lora=None)
    report = verify(plain, tiny_dir / "base", tiny_dir / "vision-tower", tiny_dir / "lora")
    assert report.failures, "a model converted without the LoRA passed verification against it"


@pytest.mark.parametrize("quant,expected_type", [("Q8_0", "Q8_0"), ("Q4_K_M", "Q4_K")])
def test_quantized_files_stay_close(tiny256, tmp_path, quant, expected_type):
    out = _convert(tiny256, tmp_path / quant, quant=quant, mmproj_quant="Q8_0" if quant == "Q8_0" else "F16")
    manifest = Manifest.read(out)
    header = read_header(manifest.file_paths(out)[0])
    assert header.tensors["blk.0.attn_q.weight"][1] == expected_type
    if quant == "Q8_0":
        assert read_header(manifest.file_paths(out)[1]).tensors["v.blk.0.attn_q.weight"][1] == "Q8_0"
    report = verify(out, tiny256 / "base", tiny256 / "vision-tower", tiny256 / "lora")
    print(quant, json.dumps({"text": report.text, "image": report.image}))
    assert report.failures == []
    assert report.image["image_tokens_exact"] == report.image["image_tokens"]


def test_bad_checkpoints_give_one_line_errors(tiny_dir, tmp_path):
    with pytest.raises(BadCheckpoint, match="no such folder"):
        open_checkpoint(tmp_path / "missing", tiny_dir / "vision-tower")
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(BadCheckpoint, match="neither an original LLaVA"):
        open_checkpoint(odd, tiny_dir / "vision-tower")
    ckpt = open_checkpoint(tiny_dir / "base", tiny_dir / "vision-tower")

    from safetensors.torch import load_file, save_file

    bad_lora = tmp_path / "lora"
    bad_lora.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (bad_lora / name).write_bytes((tiny_dir / "lora" / name).read_bytes())
    torch.save({"x": _Unsafe()}, bad_lora / "non_lora_trainables.bin")
    with pytest.raises(BadCheckpoint, match="non_lora_trainables.bin: refused to load"):
        open_lora(bad_lora, ckpt)

    (bad_lora / "non_lora_trainables.bin").write_bytes((tiny_dir / "lora" / "non_lora_trainables.bin").read_bytes())
    config = json.loads((bad_lora / "adapter_config.json").read_text())
    (bad_lora / "adapter_config.json").write_text(json.dumps({**config, "r": 16}))
    with pytest.raises(BadCheckpoint, match="says r=16"):
        open_lora(bad_lora, ckpt)

    weights = load_file(str(tiny_dir / "lora" / "adapter_model.safetensors"))
    (bad_lora / "adapter_config.json").write_text(json.dumps(config))
    save_file({k.replace("layers.0.", "layers.7."): v for k, v in weights.items()},
              str(bad_lora / "adapter_model.safetensors"))
    with pytest.raises(BadCheckpoint, match="does not exist in the base"):
        open_lora(bad_lora, ckpt)

    save_file({k: torch.cat([v, v], dim=-1) if "lora_A" in k else v for k, v in weights.items()},
              str(bad_lora / "adapter_model.safetensors"))
    with pytest.raises(BadCheckpoint, match="shape mismatch"):
        open_lora(bad_lora, ckpt)


class _Unsafe:
    """An object a weights-only unpickler must refuse."""


def test_quantize_refuses_a_non_gguf(tmp_path):
    from critic.convert.quantize import quantize

    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"not a gguf at all")
    with pytest.raises(BadModelFile, match="not a GGUF"):
        quantize(fake, tmp_path / "out.gguf", "Q8_0")


def test_interrupted_run_leaves_nothing_and_a_rerun_works(tiny_dir, tmp_path, monkeypatch):
    import critic.convert.pipeline as pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # stands in for a kill between the two files

    monkeypatch.setattr(pipeline, "write_mmproj", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _convert(tiny_dir, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    out = _convert(tiny_dir, tmp_path / "out")
    assert (out / "critic.json").exists()
    with pytest.raises(UsageError, match="--force"):
        _convert(tiny_dir, tmp_path / "out")


def test_killed_process_leaves_no_final_output(tiny_dir, tmp_path):
    out = tmp_path / "killed"
    code = (
        "import os, signal, convert.pipeline as p\n"
        "real = p.write_mmproj\n"
        "def die(*a, **k):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "p.write_mmproj = die\n"
        f"p.convert(p.ConvertConfig(base={str(tiny_dir / 'base')!r}, vision_tower={str(tiny_dir / 'vision-tower')!r},"
        f" out={str(out)!r}, quant='F16'), show_progress=False)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert result.returncode == -9
    assert not out.exists()
    leftovers = [p for p in tmp_path.iterdir()]
    assert all(p.name.startswith(".") for p in leftovers)  # only a hidden temporary folder
    _convert(tiny_dir, out, lora=None)
    assert (out / "critic.json").exists()


def test_cli_usage_errors_are_one_line(tmp_path):
    from critic.cli import main

    assert main(["convert", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == BadCheckpoint.exit_code
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2


def test_verify_is_a_subcommand_and_base_keeps_its_short_form(tmp_path, capsys):
    from critic.cli import build_parser, main

    parse = build_parser().parse_args
    converting = parse(["convert", "--out", "o", "ckpt", "--lora", "adapter"])
    assert (converting.base, converting.out, converting.lora, converting.convert_command) == ("ckpt", "o", "adapter", None)
    checking = parse(["convert", "verify", "o", "--reference", "ckpt", "--lora", "adapter"])
    assert (checking.convert_command, checking.target, checking.reference, checking.lora) == ("verify", "o", "ckpt", "adapter")
    assert parse(["convert", "./verify", "--out", "o"]).base == "./verify"  # a checkpoint folder named verify
    for wrong, said in ((["convert", "ckpt", "o"], "the output folder goes with --out"),
                        (["convert", "verify", "o"], "--reference"),
                        (["convert", "verify", "o", "--reference", "ckpt", "--out", "x"], "unrecognized arguments")):
        with pytest.raises(SystemExit) as exit_info:
            parse(wrong)
        assert exit_info.value.code == 2 and said in capsys.readouterr().err
    assert main(["convert", "--out", str(tmp_path / "o")]) == 2
    assert "give the checkpoint folder" in capsys.readouterr().err
