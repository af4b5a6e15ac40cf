"""Every image case and every bad-model case, through the real loader, checks and llama.cpp."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from critic.core.errors import BadImage, BadModelFile, ModelMismatch, ModelNotFound
from critic.core.images import NEUTRAL_BACKGROUND, load_image
from critic.core.manifest import Manifest
from critic.engine import open_engine, registry
from critic.engine.base import ModelInfo, Settings
from critic.engine.llama import LlamaEngine


def _scene(size=(80, 60)) -> Image.Image:
    image = Image.new("RGB", size, (200, 40, 30))
    image.paste((30, 60, 200), (0, 0, size[0] // 2, size[1]))
    return image


def _make(kind: str, folder) -> tuple:
    """Write one image case; return (path, check on the loaded RGB image)."""
    scene = _scene()
    path = folder / f"{kind}"
    if kind == "jpeg":
        path = path.with_suffix(".jpg"); scene.save(path, quality=90)
    elif kind == "png":
        path = path.with_suffix(".png"); scene.save(path)
    elif kind == "webp":
        path = path.with_suffix(".webp"); scene.save(path, lossless=True)
    elif kind == "bmp":
        path = path.with_suffix(".bmp"); scene.save(path)
    elif kind == "gif-animated":
        path = path.with_suffix(".gif")
        second = Image.new("RGB", scene.size, (0, 255, 0))
        scene.save(path, save_all=True, append_images=[second])
    elif kind == "tiff-16bit":
        path = path.with_suffix(".tif")
        ramp = (np.linspace(0, 65535, 80)[None, :].repeat(60, 0)).astype(np.uint16)
        Image.fromarray(ramp).save(path)  # uint16 → mode I;16
        return path, lambda rgb: rgb.getpixel((79, 30))[0] > 240 and rgb.getpixel((0, 30))[0] < 10
    elif kind == "tiff-multipage":
        path = path.with_suffix(".tiff")
        scene.save(path, save_all=True, append_images=[Image.new("RGB", scene.size, (0, 255, 0))])
    elif kind == "cmyk":
        path = path.with_suffix(".jpg"); scene.convert("CMYK").save(path, quality=95)
    elif kind == "palette":
        path = path.with_suffix(".png"); scene.convert("P", palette=Image.Palette.ADAPTIVE).save(path)
    elif kind == "grey":
        path = path.with_suffix(".png"); scene.convert("L").save(path)
        return path, lambda rgb: rgb.mode == "RGB" and len(set(rgb.getpixel((5, 5)))) == 1
    elif kind == "alpha":
        path = path.with_suffix(".png")
        rgba = scene.convert("RGBA")
        rgba.putalpha(Image.new("L", scene.size, 0))
        rgba.save(path)
        return path, lambda rgb: rgb.getpixel((5, 5)) == NEUTRAL_BACKGROUND
    elif kind == "exif-rotated":
        path = path.with_suffix(".jpg")
        exif = Image.Exif()
        exif[0x0112] = 6  # rotate 90° clockwise on display
        scene.save(path, exif=exif, quality=95)
        return path, lambda rgb: rgb.size == (60, 80)
    elif kind == "huge":
        path = path.with_suffix(".png"); _scene((5000, 3000)).save(path)
        return path, lambda rgb: max(rgb.size) == 2048
    return path, lambda rgb: rgb.mode == "RGB" and rgb.getpixel((5, 5))[2] > rgb.getpixel((5, 5))[0]


CASES = ["jpeg", "png", "webp", "bmp", "gif-animated", "tiff-16bit", "tiff-multipage", "cmyk", "palette",
         "grey", "alpha", "exif-rotated", "huge"]


@pytest.mark.parametrize("kind", CASES)
def test_every_image_case_loads_and_runs(kind, tmp_path, engine):
    path, check = _make(kind, tmp_path)
    loaded = load_image(path)
    assert loaded.image.mode == "RGB" and check(loaded.image), kind
    session = engine.open_session(loaded)
    "".join(session.ask("Describe it.", Settings(max_tokens=2)))
    assert session.image_encodes == 1


def test_bad_images_are_one_line_errors_naming_the_file(tmp_path, monkeypatch):
    text = tmp_path / "notes.jpg"
    text.write_text("this is not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    whole = tmp_path / "whole.jpg"
    _scene((400, 300)).save(whole, quality=90)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(whole.read_bytes()[:2000])
    for path, words in [(text, "not a picture file"), (empty, "empty"), (truncated, "damaged or truncated"),
                        (tmp_path / "absent.png", "no such file"), (tmp_path, "folder")]:
        with pytest.raises(BadImage) as info:
            load_image(path)
        assert str(path) in str(info.value) and words in str(info.value) and "\n" not in str(info.value)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    with pytest.raises(BadImage, match="decompression bomb"):
        load_image(whole)


# -- bad models ---------------------------------------------------------------------------

def _files(tiny_gguf):
    return Manifest.read(tiny_gguf).file_paths(tiny_gguf)


def _rewrite_gguf(source, target, drop_key=None, retype=None):
    """Copy a GGUF, dropping one key or storing one tensor in another type (a malformed file)."""
    import gguf

    reader = gguf.GGUFReader(source)
    arch = reader.fields["general.architecture"]
    writer = gguf.GGUFWriter(target, bytes(arch.parts[arch.data[0]]).decode())
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name in ("general.architecture", drop_key):
            continue
        value_type = field.types[0]
        if value_type == gguf.GGUFValueType.ARRAY:
            sub = field.types[1]
            values = [bytes(field.parts[i]) if sub == gguf.GGUFValueType.STRING else field.parts[i].tolist()[0]
                      for i in field.data]
            writer.add_array(name, values)
        elif value_type == gguf.GGUFValueType.STRING:
            writer.add_string(name, bytes(field.parts[field.data[0]]).decode())
        else:
            writer.add_key_value(name, field.parts[field.data[0]].tolist()[0], value_type)
    for tensor in reader.tensors:
        data = np.array(tensor.data)
        if retype and tensor.name == retype:
            data = data.astype(np.float16)
        writer.add_tensor(tensor.name, data, raw_dtype=tensor.tensor_type if tensor.tensor_type.name not in
                          ("F32", "F16") else None)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_bad_model_files_are_refused_before_llama_cpp(tiny_gguf, tmp_path):
    llm, mmproj = _files(tiny_gguf)
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"definitely not gguf" * 10)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(llm.read_bytes()[: llm.stat().st_size // 2])
    no_key = tmp_path / "no-key.gguf"
    _rewrite_gguf(mmproj, no_key, drop_key="clip.vision.image_size")
    f16_class = tmp_path / "f16-class.gguf"
    _rewrite_gguf(mmproj, f16_class, retype="v.class_embd")
    cases = [
        ((junk, mmproj), BadModelFile, "not a GGUF"),
        ((truncated, mmproj), BadModelFile, "truncated"),
        ((mmproj, llm), BadModelFile, "expected 'llama'"),
        ((llm, no_key), BadModelFile, "clip.vision.image_size"),
        ((llm, f16_class), BadModelFile, "class_embd"),
    ]
    for (a, b), error, words in cases:
        with pytest.raises(error, match=words):
            registry.add_files(a, b, name="bad")
        with pytest.raises(error, match=words):
            LlamaEngine(a, b, ModelInfo("bad"))


def test_a_mismatched_pair_is_refused(tiny_gguf, tmp_path):
    from critic.convert.pipeline import ConvertConfig, convert
    from critic.convert.tiny import TinySpec, build

    other = build(tmp_path / "other", TinySpec(hidden=96, heads=4))
    out = convert(ConvertConfig(base=str(other / "base"), vision_tower=str(other / "vision-tower"),
                                out=str(tmp_path / "other-gguf"), quant="F16"), show_progress=False)
    llm, _ = _files(tiny_gguf)
    _, other_mmproj = _files(out)
    with pytest.raises(ModelMismatch, match="different models"):
        registry.add_files(llm, other_mmproj, name="mixed")


def test_registry_round_trip_and_damage_after_install(tiny_gguf, capsys):
    from critic.cli import main

    assert main(["models", "list"]) == 0
    assert "no model installed" in capsys.readouterr().out
    with pytest.raises(ModelNotFound, match="critic convert"):
        registry.find()
    assert main(["models", "add", str(tiny_gguf)]) == 0
    llm, mmproj = _files(tiny_gguf)
    assert main(["models", "add", "--llm", str(llm), "--mmproj", str(mmproj), "--name", "second"]) == 0
    capsys.readouterr()
    assert main(["models", "list"]) == 0
    listing = capsys.readouterr().out
    assert "* tiny" in listing.replace("  ", " ") or "*" in listing.splitlines()[1]
    assert "second" in listing and "F16" in listing
    assert "* the default model" in listing
    assert main(["models", "show", "second", "--json"]) == 0
    assert '"name": "second"' in capsys.readouterr().out
    assert main(["models", "show", "tiny"]) == 0
    summary = capsys.readouterr().out
    assert summary.startswith("tiny  (default model") and "patch-0 mmproj" in summary and "{" not in summary
    assert main(["models", "default", "second"]) == 0
    assert registry.find().name == "second"
    capsys.readouterr()
    assert main(["models", "default"]) == 0
    assert capsys.readouterr().out.strip() == "default model: second"

    installed = registry.find("tiny")
    target = installed.paths()[0]
    data = bytearray(target.read_bytes())
    target.unlink()  # break the hard link before damaging the copy
    data[-10] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(BadModelFile, match="sha256 differs"):
        open_engine("tiny")
    assert main(["models", "rm", "tiny"]) == 0
    assert [m.name for m in registry.installed()] == ["second"]
