"""`critic convert --to hf`: the transformers-native folder, its parity with the reference, broken exports.

References come from the upstream definitions: tests/llava_upstream.py (LLaVA's
conv_vicuna_v1 and training tokenization), the release's own files (the LoRA's
non_lora_trainables.bin read with torch), and the reference model of convert/reference.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import torch

from critic.convert.pipeline import ConvertConfig, convert
from critic.core.errors import UsageError
from tests.llava_upstream import (
    IMAGE_TOKEN_INDEX,
    VICUNA_V1_SYSTEM,
    SlowLlamaTokenizer,
    conv_vicuna_v1,
    tokenizer_image_token,
)

QUESTION = "Please compose a coherent paragraph of formal analysis focusing on visual characteristics."
ANSWER = "The light falls from the left across a calm blue field."


def _export(tiny_dir, out, **kw):
    args = dict(base=str(tiny_dir / "base"), vision_tower=str(tiny_dir / "vision-tower"),
                lora=str(tiny_dir / "lora"), out=str(out), to="hf")
    args.update(kw)
    return convert(ConvertConfig(**args), show_progress=False)


@pytest.fixture(scope="module")
def tiny_hf(tiny_dir, tmp_path_factory):
    """The tiny model exported as a float32 transformers folder with the LoRA merged."""
    return _export(tiny_dir, tmp_path_factory.mktemp("hf") / "tiny-hf")


def _verify(folder, tiny_dir):
    from critic.convert.hf_verify import verify_hf

    return verify_hf(folder, tiny_dir / "base", tiny_dir / "vision-tower", tiny_dir / "lora")


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _reseal(folder) -> None:
    """Rewrite the manifest's checksums after a deliberate edit, so verify judges the content."""
    manifest = json.loads((folder / "critic-export.json").read_text())
    manifest["files"] = [{"path": p.name, "size": p.stat().st_size, "sha256": _sha256(p)}
                         for p in sorted(folder.iterdir()) if p.name != "critic-export.json"]
    (folder / "critic-export.json").write_text(json.dumps(manifest))


def test_export_is_a_llava_hf_folder_with_a_manifest(tiny_hf, tiny_dir):
    from safetensors import safe_open

    names = {p.name for p in tiny_hf.iterdir()}
    assert {"config.json", "model.safetensors.index.json", "tokenizer.json", "tokenizer.model",
            "tokenizer_config.json", "preprocessor_config.json", "processor_config.json",
            "critic-export.json"} <= names
    config = json.loads((tiny_hf / "config.json").read_text())
    assert config["architectures"] == ["LlavaForConditionalGeneration"]
    assert (config["vision_feature_layer"], config["vision_feature_select_strategy"]) == (-2, "default")
    assert config["image_token_index"] == 512 and config["text_config"]["vocab_size"] == 513  # 512 pieces + <image>
    assert config["image_seq_length"] == (56 // 14) ** 2
    pre = json.loads((tiny_hf / "preprocessor_config.json").read_text())
    assert pre["do_pad"] is True and pre["image_mean"] == [0.48145466, 0.4578275, 0.40821073]

    manifest = json.loads((tiny_hf / "critic-export.json").read_text())
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert set(listed) == names - {"critic-export.json"}
    assert all(_sha256(tiny_hf / name) == digest for name, digest in listed.items())

    index = json.loads((tiny_hf / "model.safetensors.index.json").read_text())["weight_map"]
    tensors = {}
    for file in set(index.values()):
        with safe_open(str(tiny_hf / file), "pt") as handle:
            tensors.update({k: handle.get_tensor(k) for k in handle.keys()})
    assert set(tensors) == set(index)
    # The projector is the one GalleryGPT trained (non_lora_trainables.bin), not the base's.
    trained = torch.load(tiny_dir / "lora" / "non_lora_trainables.bin", weights_only=True)
    assert torch.equal(tensors["multi_modal_projector.linear_1.weight"],
                       trained["base_model.model.model.mm_projector.0.weight"].float())
    assert torch.equal(tensors["multi_modal_projector.linear_2.bias"],
                       trained["base_model.model.model.mm_projector.2.bias"].float())
    # <image>'s output row is the mean row, so its probability is at most 1 / vocab.
    head = tensors["language_model.lm_head.weight"]
    assert torch.allclose(head[512], head[:512].double().mean(0).float(), atol=1e-6)
    assert any(k.startswith("vision_tower.vision_model.encoder.layers.") for k in tensors)


def test_chat_template_renders_upstream_conv_vicuna_v1(tiny_hf):
    from transformers import AutoProcessor, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_hf))
    processor = AutoProcessor.from_pretrained(str(tiny_hf))
    one = [{"role": "user", "content": "<image>\n" + QUESTION}]
    two = one + [{"role": "assistant", "content": ANSWER}, {"role": "user", "content": "Where is the light?"}]
    for messages, turns in ((one, ["<image>\n" + QUESTION, None]),
                            (two, ["<image>\n" + QUESTION, ANSWER, "Where is the light?", None])):
        expected = "<s>" + conv_vicuna_v1(turns)
        assert tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == expected
        # critic's --server client sends the system prompt itself and the picture as a list part
        listed = [{"role": "system", "content": VICUNA_V1_SYSTEM},
                  {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]},
                  *messages[1:]]
        assert processor.apply_chat_template(listed, tokenize=False, add_generation_prompt=True) == expected


def test_one_turn_prompt_tokenizes_as_llava_trained(tiny_hf, tiny_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_hf))
    release = SlowLlamaTokenizer(tiny_dir / "base" / "tokenizer.model", legacy=False)  # the release's setting
    prompt = conv_vicuna_v1(["<image>\n" + QUESTION, None])
    expected = tokenizer_image_token(prompt, release)
    got = tokenizer("<s>" + prompt, add_special_tokens=False).input_ids
    assert [IMAGE_TOKEN_INDEX if i == 512 else i for i in got] == expected


def test_export_loads_in_transformers_and_equals_the_reference(tiny_hf, tiny_dir):
    report = _verify(tiny_hf, tiny_dir)
    assert report.failures == []
    assert report.files_intact and report.loads_clean and report.template_equal and report.tokens_equal
    assert report.text["max_dlogit"] <= 1e-4 and report.image["max_dlogit"] <= 1e-4
    assert report.text["top1_all_positions"] == 1.0 and report.image["top1_all_positions"] == 1.0
    assert report.image_tokens == 16 and report.pixels_max_diff <= 1e-6
    assert report.later_turn_token_diffs == 1  # ▁USER after </s>, where training had USER


def test_export_generates_like_the_reference(tiny_hf, tiny_dir):
    """Greedy answers through the folder's own processor equal the reference's, token for token."""
    from PIL import Image
    from transformers import AutoProcessor, CLIPImageProcessorPil, LlavaForConditionalGeneration

    from critic.convert.reference import image_features, load_reference
    from critic.convert.verify import expand2square

    model = LlavaForConditionalGeneration.from_pretrained(str(tiny_hf), dtype=torch.float32).eval()
    processor = AutoProcessor.from_pretrained(str(tiny_hf))
    picture = Image.new("RGB", (84, 56), (200, 40, 30))
    picture.paste((20, 60, 200), (0, 0, 30, 56))
    prompt = "<s>" + conv_vicuna_v1(["<image>\n" + QUESTION, None])
    inputs = processor(text=prompt, images=picture, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        got = model.generate(**inputs, max_new_tokens=8, do_sample=False)[0, inputs["input_ids"].shape[1]:]

    reference, ckpt = load_reference(tiny_dir / "base", tiny_dir / "vision-tower", tiny_dir / "lora")
    release = SlowLlamaTokenizer(ckpt.tokenizer_model, legacy=False)
    ids = tokenizer_image_token(prompt[len("<s>"):], release)
    split = ids.index(IMAGE_TOKEN_INDEX)
    clip = CLIPImageProcessorPil.from_pretrained(str(tiny_dir / "vision-tower"))
    square = expand2square(picture, tuple(int(x * 255) for x in clip.image_mean))
    pixels = clip(square, return_tensors="pt")["pixel_values"]
    embed = reference.model.language_model.get_input_embeddings()
    with torch.no_grad():
        sequence = torch.cat([embed(torch.tensor([ids[:split]])), image_features(reference, pixels),
                              embed(torch.tensor([ids[split + 1:]]))], dim=1)
        want = []
        for _ in range(8):
            token = int(reference(inputs_embeds=sequence).logits[0, -1].argmax())
            want.append(token)
            if token == 2:
                break
            sequence = torch.cat([sequence, embed(torch.tensor([[token]]))], dim=1)
    assert got.tolist()[:len(want)] == want


def test_broken_exports_fail_verify(tiny_hf, tiny_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    # The projector left out: transformers would fill it with random numbers and only warn.
    broken = tmp_path / "no-projector"
    shutil.copytree(tiny_hf, broken)
    index_path = broken / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    for file in set(index["weight_map"].values()):
        tensors = load_file(str(broken / file))
        save_file({k: v for k, v in tensors.items() if not k.startswith("multi_modal_projector.")},
                  str(broken / file), metadata={"format": "pt"})
    index["weight_map"] = {k: v for k, v in index["weight_map"].items() if not k.startswith("multi_modal_projector.")}
    index_path.write_text(json.dumps(index))
    _reseal(broken)
    report = _verify(broken, tiny_dir)
    assert not report.loads_clean and any("missing keys" in f and "multi_modal_projector" in f
                                          for f in report.failures)
    assert any(f.startswith("image prompt") for f in report.failures)

    # LLaVA's other v1 template (conv_llava_v1 says "human"): every number else is right.
    wrong = tmp_path / "wrong-template"
    shutil.copytree(tiny_hf, wrong)
    for name, key in (("tokenizer_config.json", "chat_template"), ("chat_template.json", "chat_template")):
        data = json.loads((wrong / name).read_text())
        data[key] = data[key].replace("curious user", "curious human")
        (wrong / name).write_text(json.dumps(data))
    _reseal(wrong)
    report = _verify(wrong, tiny_dir)
    assert not report.template_equal and any("chat template" in f for f in report.failures)

    # A file changed after the export: caught by its checksum.
    (wrong / "generation_config.json").write_text("{}")
    report = _verify(wrong, tiny_dir)
    assert any("generation_config.json: sha256 differs" in f for f in report.failures)


def test_bfloat16_export_holds_to_the_f16_gates(tiny_hf, tiny_dir, tmp_path):
    out = _export(tiny_dir, tmp_path / "bf16", dtype="bfloat16")
    report = _verify(out, tiny_dir)
    assert report.failures == [] and report.dtype == "bfloat16"
    assert 0 < report.text["max_dlogit"] <= 0.01 * report.text["logit_scale"]  # the merged weights rounded once

    def weights(folder):
        return sum(f.stat().st_size for f in folder.glob("*.safetensors"))

    assert weights(out) < 0.55 * weights(tiny_hf)


def test_export_is_atomic_refuses_an_existing_folder_and_cli_verifies(tiny_dir, tmp_path, monkeypatch, capsys):
    import critic.convert.hf_export as hf_export
    from critic.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # a kill between the tokenizer and the weights

    monkeypatch.setattr(hf_export, "write_weights", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _export(tiny_dir, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()

    args = ["convert", str(tiny_dir / "base"), "--vision-tower", str(tiny_dir / "vision-tower"),
            "--lora", str(tiny_dir / "lora"), "--to", "hf", "--out", str(tmp_path / "out")]
    assert main(args) == 0
    with pytest.raises(UsageError, match="--force"):
        _export(tiny_dir, tmp_path / "out")
    assert main(args + ["--force"]) == 0
    assert main(["convert", "verify", str(tmp_path / "out"), "--reference", str(tiny_dir / "base"),
                 "--vision-tower", str(tiny_dir / "vision-tower"), "--lora", str(tiny_dir / "lora"),
                 "--json", str(tmp_path / "parity.json")]) == 0
    assert "all thresholds met" in capsys.readouterr().out
    assert json.loads((tmp_path / "parity.json").read_text())["tokens_equal"] is True


def test_models_add_explains_an_hf_folder(tiny_hf):
    from critic.core.errors import BadModelFile
    from critic.engine import registry

    with pytest.raises(BadModelFile, match="serving engines"):
        registry.add_folder(tiny_hf)
