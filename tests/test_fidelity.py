"""Faithful to the GalleryGPT release: prompt, later-turn tokens, preprocessing, refusals, verify's gates.

Every reference here is written from the upstream definition (tests/llava_upstream.py,
transformers' CLIPImageProcessor), never by calling the code under test.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from llava_upstream import (
    IMAGE_TOKEN_INDEX,
    VICUNA_V1_SYSTEM,
    SlowLlamaTokenizer,
    conv_vicuna_v1,
    tokenizer_image_token,
)
from PIL import Image

from critic.convert.lora import open_lora
from critic.convert.pipeline import ConvertConfig, convert
from critic.convert.verify import verify
from critic.core.errors import BadCheckpoint
from critic.core.images import model_input
from critic.core.prompt import CHAT_TEMPLATE, SYSTEM, Turn, layout_tokens
from critic.engine.base import Settings
from critic.engine.llama import LlamaEngine
from critic.llava.checkpoint import open_checkpoint

TURNS = [Turn("What is here?", "A blue field with a yellow disc."), Turn("And the colour?", "Mostly blue."),
         Turn("Where is the light?")]


def _convert(tiny_dir, out, **kw):
    args = dict(base=str(tiny_dir / "base"), vision_tower=str(tiny_dir / "vision-tower"),
                lora=str(tiny_dir / "lora"), out=str(out), quant="F16")
    args.update(kw)
    return convert(ConvertConfig(**args), show_progress=False)


def _upstream_ids(tiny_dir, turns, legacy: bool) -> list[int]:
    messages = []
    for i, turn in enumerate(turns):
        messages += [("<image>\n" if i == 0 else "") + turn.question, turn.answer]
    return tokenizer_image_token(conv_vicuna_v1(messages), SlowLlamaTokenizer(tiny_dir / "base" / "tokenizer.model",
                                                                              legacy))


def test_the_system_prompt_is_vicuna_v1():
    assert SYSTEM == VICUNA_V1_SYSTEM
    assert "human" not in CHAT_TEMPLATE


@pytest.mark.parametrize("legacy", [False, True])
def test_conversations_are_tokenized_as_llava_trained_them(engine, tiny_dir, legacy):
    """Later turns after </s>: no dummy ▁ for a legacy: false tokenizer (the release's), ▁ for legacy: true."""
    upstream = _upstream_ids(tiny_dir, TURNS, legacy)
    layout = layout_tokens(engine.tokenize, engine.bos, engine.eos, TURNS, legacy=legacy)
    assert layout.before + [IMAGE_TOKEN_INDEX] + layout.after == upstream


def test_the_tiny_vocabulary_tells_the_two_settings_apart(tiny_dir):
    assert _upstream_ids(tiny_dir, TURNS, False) != _upstream_ids(tiny_dir, TURNS, True)


def test_the_engine_asks_later_questions_as_in_training(engine, tiny_dir, painting):
    """What the engine evaluates for a restored conversation equals LLaVA's tokens after the image."""
    from critic.engine.base import TurnRecord

    assert engine.legacy is False
    session = engine.open_session(painting)
    session.restore([TurnRecord(t.question, t.answer) for t in TURNS[:2]])
    "".join(session.ask(TURNS[2].question, Settings(max_tokens=1)))
    upstream = _upstream_ids(tiny_dir, TURNS, legacy=False)
    split = upstream.index(IMAGE_TOKEN_INDEX)
    ids = engine.llama.input_ids[: session.context_used].tolist()
    generated = session.turns[-1].timings.generated_tokens
    after = upstream[split + 1:]
    assert ids[:split] == upstream[:split]
    assert ids[len(ids) - generated - len(after): len(ids) - generated] == after
    session.close()


def _paintings() -> list[Image.Image]:
    """Generated pictures: a landscape and a portrait seascape at a scan's size, two small flat ones."""
    from critic.example import draw_example

    pictures = [draw_example(1280, 1013), draw_example(700, 900)]
    pictures += [Image.new("RGB", (300, 120), (200, 30, 40)), Image.new("RGB", (90, 90), (20, 200, 40))]
    for picture in pictures[-2:]:
        picture.paste((240, 240, 10), (10, 10, 60, 60))
    return pictures


def test_pictures_are_preprocessed_in_llavas_order():
    """Pad to square, then resize, as LLaVA's process_images with CLIPImageProcessor; llama.cpp's order differs."""
    from transformers import CLIPImageProcessorPil

    mean, std = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
    processor = CLIPImageProcessorPil(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336},
                                      image_mean=mean, image_std=std, resample=3)
    background = tuple(int(x * 255) for x in mean)

    def normalised(picture) -> np.ndarray:
        return (np.asarray(picture, np.float32) / 255 - mean) / std

    for picture in _paintings():
        side = max(picture.size)
        square = Image.new("RGB", (side, side), background)
        square.paste(picture, ((side - picture.width) // 2, (side - picture.height) // 2))
        reference = processor(square, return_tensors="np")["pixel_values"][0].transpose(1, 2, 0)
        ours = normalised(model_input(picture, 336, mean, "pad"))
        assert np.abs(ours - reference).max() < 1e-5
        if picture.width != picture.height:  # resize first, then pad: what llama.cpp would do
            scale = 336 / side
            resized = picture.resize((round(picture.width * scale), round(picture.height * scale)),
                                     Image.Resampling.BICUBIC)
            swapped = Image.new("RGB", (336, 336), background)
            swapped.paste(resized, ((336 - resized.width) // 2, (336 - resized.height) // 2))
            assert np.abs(normalised(swapped) - reference).max() > 0.1


# -- refusals -------------------------------------------------------------------------------------

def test_a_lora_without_its_projector_is_refused(tiny_dir, tmp_path):
    ckpt = open_checkpoint(tiny_dir / "base", tiny_dir / "vision-tower")
    bare = tmp_path / "lora"
    shutil.copytree(tiny_dir / "lora", bare)
    (bare / "non_lora_trainables.bin").unlink()
    with pytest.raises(BadCheckpoint, match="no non_lora_trainables.bin"):
        open_lora(bare, ckpt)
    step = next(p for p in (tiny_dir / "lora").iterdir() if p.name.startswith("checkpoint-"))
    with pytest.raises(BadCheckpoint, match="checkpoint-N/ folder never has it"):
        open_lora(step, ckpt)
    assert open_lora(bare, ckpt, allow_base_projector=True).projector == {}


def _other_tower(tiny_dir, tmp_path) -> Path:
    """OpenAI's CLIP as users find it: same shapes, other weights, its own name."""
    tower = tmp_path / "clip-vit-large-patch14-336"
    shutil.copytree(tiny_dir / "vision-tower", tower)
    config = json.loads((tower / "config.json").read_text())
    (tower / "config.json").write_text(json.dumps({**config, "_name_or_path": "openai/clip-vit-large-patch14-336"}))
    weights = torch.load(tower / "pytorch_model.bin", weights_only=True)
    generator = torch.Generator().manual_seed(7)
    torch.save({k: (v.float() + 0.2 * torch.randn(v.shape, generator=generator)).to(v.dtype) if v.dim() > 1 else v
                for k, v in weights.items()}, tower / "pytorch_model.bin")
    return tower


def test_another_vision_tower_is_refused(tiny_dir, tmp_path):
    tower = _other_tower(tiny_dir, tmp_path)
    with pytest.raises(BadCheckpoint, match="ShareGPT4V-7B_Pretrained_vit-large336-l12.*--allow-other-tower"):
        open_checkpoint(tiny_dir / "base", tower)
    assert open_checkpoint(tiny_dir / "base", tower, allow_other_tower=True).vision.hidden > 0
    renamed = tmp_path / "ShareGPT4V-7B_Pretrained_vit-large336-l12"
    shutil.copytree(tower, renamed)
    open_checkpoint(tiny_dir / "base", renamed)  # the folder's name, as downloaded, is enough


@pytest.mark.parametrize("field,value,message", [
    ("mm_vision_select_feature", "cls_patch", "mm_vision_select_feature 'cls_patch'"),
    ("mm_vision_select_layer", -1, "vision feature layer -1"),
    ("image_aspect_ratio", "anyres", "image_aspect_ratio 'anyres'"),
    ("mm_projector_type", "linear", "projector 'linear'"),
    ("mm_use_im_start_end", True, "mm_use_im_start_end"),
])
def test_config_fields_are_honoured_or_refused(tiny_dir, tmp_path, field, value, message):
    base = tmp_path / "base"
    shutil.copytree(tiny_dir / "base", base)
    config = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**config, field: value}))
    with pytest.raises(BadCheckpoint, match=message):
        open_checkpoint(base, tiny_dir / "vision-tower")


def test_square_aspect_ratio_is_honoured_as_clips_crop(tiny_dir, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(tiny_dir / "base", base)
    config = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**config, "image_aspect_ratio": "square"}))
    assert open_checkpoint(base, tiny_dir / "vision-tower").preprocess == "crop"


# -- the release's other forms convert and verify --------------------------------------------------

def test_the_hub_config_and_a_bin_adapter_convert_and_verify(tiny_dir, tmp_path):
    from safetensors.torch import load_file

    base, lora = tmp_path / "base", tmp_path / "lora"
    shutil.copytree(tiny_dir / "base", base)
    shutil.copytree(tiny_dir / "lora", lora)
    config = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**config, "architectures": ["Share4VLlamaForCausalLM"],
                                                  "model_type": "share4v"}))
    torch.save(load_file(str(lora / "adapter_model.safetensors")), lora / "adapter_model.bin")
    (lora / "adapter_model.safetensors").unlink()
    out = _convert(tiny_dir, tmp_path / "out", base=str(base), lora=str(lora))
    report = verify(out, base, tiny_dir / "vision-tower", lora)
    assert report.failures == []


# -- verify fails on each wrong conversion ----------------------------------------------------------

def test_verify_fails_on_the_wrong_template(tiny_gguf, tiny_dir, monkeypatch):
    import critic.core.prompt

    monkeypatch.setattr(critic.core.prompt, "SYSTEM", VICUNA_V1_SYSTEM.replace("user", "human"))
    report = verify(tiny_gguf, tiny_dir / "base", tiny_dir / "vision-tower", tiny_dir / "lora")
    assert not report.tokens_equal
    assert any("token ids differ" in f for f in report.failures)


def test_verify_fails_without_the_trained_projector(tiny_dir, tmp_path):
    bare = tmp_path / "lora"
    shutil.copytree(tiny_dir / "lora", bare)
    (bare / "non_lora_trainables.bin").unlink()
    out = _convert(tiny_dir, tmp_path / "out", lora=str(bare), allow_base_projector=True)
    report = verify(out, tiny_dir / "base", tiny_dir / "vision-tower", tiny_dir / "lora")
    assert report.failures and report.image["image_tokens_exact"] < report.image["image_tokens"]


def test_verify_fails_with_the_wrong_tower(tiny_dir, tmp_path):
    out = _convert(tiny_dir, tmp_path / "out", vision_tower=str(_other_tower(tiny_dir, tmp_path)),
                   allow_other_tower=True)
    report = verify(out, tiny_dir / "base", tiny_dir / "vision-tower", tiny_dir / "lora")
    assert report.failures and report.image["image_tokens_exact"] < report.image["image_tokens"]


def test_verify_fails_when_preprocessing_resizes_before_padding(tiny_gguf, tiny_dir, monkeypatch):
    def llama_cpp_order(self, image):
        picture = image.convert("RGB").copy()
        picture.thumbnail((self.image_size, self.image_size), Image.Resampling.BICUBIC)
        canvas = Image.new("RGB", (self.image_size, self.image_size), (122, 116, 104))
        canvas.paste(picture, ((self.image_size - picture.width) // 2, (self.image_size - picture.height) // 2))
        return canvas

    monkeypatch.setattr(LlamaEngine, "model_input", llama_cpp_order)
    report = verify(tiny_gguf, tiny_dir / "base", tiny_dir / "vision-tower", tiny_dir / "lora")
    assert report.failures and report.image["image_tokens_exact"] < report.image["image_tokens"]


def test_verify_writes_its_report_as_json(tiny_gguf, tiny_dir, tmp_path):
    from critic.cli import main

    out = tmp_path / "parity.json"
    code = main(["convert", "verify", str(tiny_gguf), "--reference", str(tiny_dir / "base"), "--vision-tower",
                 str(tiny_dir / "vision-tower"), "--lora", str(tiny_dir / "lora"), "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    assert {"top1_agreement", "decisive_positions", "max_dlogit", "logit_scale", "mean_kl"} <= set(data["text"])
    assert {"top1_agreement", "decisive_positions", "max_dlogit", "logit_scale", "mean_kl", "image_tokens",
            "image_tokens_exact"} <= set(data["image"])
    assert data["image"]["image_tokens_exact"] == data["image"]["image_tokens"] == 16


@pytest.mark.parametrize("hidden,quant", [(64, "Q8_0"), (256, "F16"), (1024, "F16"), (1024, "Q8_0")])
def test_verify_passes_correct_conversions_of_every_size(tmp_path, hidden, quant):
    from critic.convert.tiny import TinySpec, build

    tiny = build(tmp_path / "tiny", TinySpec(hidden=hidden, heads=4 if hidden < 1024 else 8))
    out = _convert(tiny, tmp_path / "out", quant=quant)
    report = verify(out, tiny / "base", tiny / "vision-tower", tiny / "lora")
    print(hidden, quant, json.dumps({"text": report.text, "image": report.image}))
    assert report.failures == []
    assert report.image["image_tokens_exact"] == report.image["image_tokens"]


@pytest.mark.slow
def test_all_576_image_tokens_of_a_clip_l_336_model_equal_transformers(tmp_path):
    """CLIP ViT-L/14-336's shapes (24 layers, 1024 wide, 576 patches), random weights."""
    from critic.convert.tiny import VISION_PRESETS, TinySpec, build

    tiny = build(tmp_path / "tiny", TinySpec(hidden=256, vision=VISION_PRESETS["clip-l"]))
    out = _convert(tiny, tmp_path / "out")
    report = verify(out, tiny / "base", tiny / "vision-tower", tiny / "lora")
    print(json.dumps({"text": report.text, "image": report.image}))
    assert report.failures == []
    assert report.image["image_tokens"] == 576 and report.image["image_tokens_exact"] == 576
    assert report.image["max_dlogit"] <= 1e-2 * report.image["logit_scale"]


def test_training_tokenizes_conversations_as_llava_did(tiny_dir):
    """train/ encodes with the base's legacy setting, read from its tokenizer_config.json."""
    from pathlib import Path as _Path

    from critic.train.encode import encode, hf_tokenizer, plain_encoder

    ckpt = open_checkpoint(tiny_dir / "base", tiny_dir / "vision-tower")
    tokenizer = hf_tokenizer(tiny_dir / "base")
    example = encode(0, _Path("x.png"), TURNS[:2], plain_encoder(tokenizer), 1, 2, 16, 2048,
                     legacy=ckpt.tokenizer_legacy)
    assert list(example.before) + [IMAGE_TOKEN_INDEX] + list(example.after) == _upstream_ids(tiny_dir, TURNS[:2],
                                                                                               legacy=False)


def test_an_installed_exact_model_runs_every_image_token(installed_model):
    from critic.engine import open_engine

    assert installed_model.manifest.patch0 and (installed_model.folder / installed_model.manifest.patch0.path).exists()
    engine = open_engine(threads=1)
    try:
        assert engine.exact and engine.info.image_layout == "exact"
    finally:
        engine.close()
