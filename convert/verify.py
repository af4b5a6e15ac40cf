"""`critic convert verify`: the converted files against the transformers reference.

The reference is built from the upstream definitions, never from critic's own prompt or
preprocessing code, so a mistake there shows up here:

- the prompt: LLaVA's ``conv_vicuna_v1`` (what GalleryGPT's ``--version v1`` trains with),
  stated below from LLaVA's ``conversation.py``; its tokenization is LLaVA's
  ``tokenizer_image_token`` over the slow ``LlamaTokenizer`` of transformers 4.3x with the
  checkpoint's ``legacy`` setting, written out on SentencePiece (`llava_training_ids`);
- the picture: LLaVA's ``expand2square`` with the CLIP mean colour, then transformers'
  PIL ``CLIPImageProcessor`` (`llava_pixels`); critic's engine preprocesses the raw
  picture itself, so a wrong order shows up in the image rows;
- the model: the checkpoint in ``LlavaForConditionalGeneration`` with the LoRA merged by
  peft, independently of convert/'s streaming merge.

Measured (`ParityReport`, `--json FILE`):

- ``tokens_equal`` (one and two turns) and ``template_equal`` (the GGUF chat template
  rendered with jinja2 against the upstream text);
- ``conversion_max_dlogit``: an F32 copy of the merged LLM against transformers, text prompt;
- ``text``: the shipped LLM on a text prompt, every position; ``image``: the shipped files
  on an image prompt, every position after the image, plus ``image_tokens`` and
  ``image_tokens_exact`` (rows whose max |Δ| is within the mmproj type's tolerance of the
  rows' scale, row i against transformers' row i).

Gates (exit status 1 when one fails). Top-1 agreement counts only *decisive* positions:
those whose reference top-1/top-2 margin exceeds `DECISIVE` × the numeric noise, measured
as the max |Δlogit| between the reference and the same reference with its weights and
every linear layer's input rounded to F16 (what ggml's F16 matmul does). Random weights
make near-ties, and a near-tie flip is not an error; both counts are reported.

- the conversion itself: max |Δlogit| ≤ 1e-2 (measured ~1e-5);
- F16 LLM: decisive top-1 100 % and max |Δlogit| ≤ 1 % of the largest |logit|, for the text
  prompt and the image prompt alike;
- an F16 file read through a q8_0 KV cache (``--kv-cache q8_0``), image prompt: decisive top-1
  100 % and mean KL ≤ 0.01 (the cache's rounding alone moves the largest logits by ~1.4 %);
- Q8_0 / Q5_K_M / Q4_K_M: decisive top-1 and mean KL within the bounds in `THRESHOLDS`,
  set for the random-weight test models (Gaussian weights give K-quants nothing to exploit;
  a broken quantization gives top-1 near 1/vocab and KL of several nats);
- image rows: with the ``exact`` layout every row within tolerance (F32 2e-3, F16 3e-2,
  Q8_0 1e-1 of the rows' scale); ``rotated``/``stock`` files are for other front ends and
  are held to the text gates only, their image numbers reported.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from critic.core.manifest import Manifest

IMAGE_PLACEHOLDER = -200  # LLaVA's IMAGE_TOKEN_INDEX
# conv_vicuna_v1, as LLaVA's conversation.py defines it: system, sep " ", sep2 "</s>".
UPSTREAM_SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
                   "The assistant gives helpful, detailed, and polite answers to the user's questions.")
QUESTION = "Please compose a coherent paragraph of formal analysis focusing on visual characteristics."
ANSWER = "The light falls from the left across a calm blue field."
FOLLOW_UP = "Where is the darkest area?"
DECISIVE = 3.0
THRESHOLDS = {
    "F32": {"top1": 1.0, "max_dlogit": 1e-2},
    "F16": {"top1": 1.0, "max_dlogit_relative": 1e-2},
    "Q8_0": {"top1": 0.90, "kl": 0.02},
    "Q5_K_M": {"top1": 0.55, "kl": 0.4},
    "Q4_K_M": {"top1": 0.40, "kl": 0.6},
    "KV_Q8_0": {"top1": 1.0, "kl": 0.01},  # an F16 file read through a q8_0 KV cache (measured KL 7e-4)
}
FEATURE_TOLERANCE = {"F32": 2e-3, "F16": 3e-2, "Q8_0": 1e-1}


@dataclass
class Comparison:
    """Logits of the files against the reference at a set of positions."""

    positions: int = 0
    decisive_positions: int = 0
    top1_agreement: float = 0.0
    top1_all_positions: float = 0.0
    max_dlogit: float = 0.0
    logit_scale: float = 0.0
    noise: float = 0.0
    mean_kl: float = 0.0


@dataclass
class ParityReport:
    """Everything verify measured."""

    quantization: str
    mmproj_quantization: str = ""
    layout: str = ""
    tokens_equal: bool = False
    template_equal: bool = False
    conversion_max_dlogit: float = 0.0
    kv_cache: str = "f16"
    text: dict = field(default_factory=dict)
    image: dict = field(default_factory=dict)
    layouts: dict[str, dict] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def vicuna_v1_prompt(turns: list[tuple[str, str | None]], image: bool = True) -> str:
    """conv_vicuna_v1.get_prompt() for (question, answer) turns, `<image>\\n` before the first question."""
    text = UPSTREAM_SYSTEM + " "
    for i, (question, answer) in enumerate(turns):
        text += "USER: " + ("<image>\n" if i == 0 and image else "") + question + " "
        text += f"ASSISTANT: {answer}</s>" if answer is not None else "ASSISTANT:"
    return text


def llava_training_ids(tokenizer_model: Path, prompt: str, legacy: bool) -> list[int]:
    """LLaVA's ``tokenizer_image_token`` with transformers 4.3x's slow LlamaTokenizer.

    Each ``<image>``-separated chunk is ``tokenizer(chunk).input_ids`` (BOS first; later
    chunks lose it). Inside a chunk the tokenizer splits at ``</s>`` (EOS). ``legacy:
    true`` encodes each piece with SentencePiece's dummy prefix; ``legacy: false`` loads the
    model without it, prefixes only the chunk's start with ``▁`` (encoding ``<unk>▁text`` and
    dropping the ``<unk>`` pieces), and encodes text after ``</s>`` with no prefix.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    proto = model_pb2.ModelProto()
    proto.ParseFromString(Path(tokenizer_model).read_bytes())
    plain = spm.SentencePieceProcessor(model_proto=proto.SerializeToString())
    proto.normalizer_spec.add_dummy_prefix = False
    bare = spm.SentencePieceProcessor(model_proto=proto.SerializeToString())
    unk = len(bare.encode("<unk>"))

    def encode_chunk(chunk: str) -> list[int]:
        ids = [plain.bos_id()]
        for i, piece in enumerate(chunk.split("</s>")):
            if i:
                ids.append(plain.eos_id())
            if not piece:
                continue
            if legacy:
                ids += plain.encode(piece)
            elif i == 0:
                ids += bare.encode("<unk>" + "\u2581" + piece.replace("\u2581", " "))[unk:]
            else:
                ids += bare.encode(piece)
        return ids

    chunks = [encode_chunk(c) for c in prompt.split("<image>")]
    ids = chunks[0]
    for chunk in chunks[1:]:
        ids += [IMAGE_PLACEHOLDER] + chunk[1:]
    return ids


def expand2square(picture, background):
    """LLaVA's expand2square: the picture centred on a square of `background`.

    Deliberately not `critic.core.images.pad_to_square`: the reference must not call the code it checks.
    """
    from PIL import Image

    width, height = picture.size
    if width == height:
        return picture
    side = max(width, height)
    canvas = Image.new(picture.mode, (side, side), background)
    canvas.paste(picture, ((side - width) // 2, (side - height) // 2))
    return canvas


def clip_processor(ckpt, tower: Path | None):
    """transformers' PIL CLIPImageProcessor from the tower's (or the base's) preprocessor_config.json."""
    from transformers import CLIPImageProcessorPil

    for folder in (tower, ckpt.path):
        if folder is not None and (Path(folder) / "preprocessor_config.json").exists():
            return CLIPImageProcessorPil.from_pretrained(str(folder))
    size = ckpt.vision.image_size
    return CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                                 image_mean=list(ckpt.vision.mean), image_std=list(ckpt.vision.std))


def llava_pixels(picture, processor, preprocess: str):
    """LLaVA's process_images: pad to square with the processor's mean colour (for ``pad``), then the processor."""
    if preprocess == "pad":
        picture = expand2square(picture.convert("RGB"), tuple(int(x * 255) for x in processor.image_mean))
    return processor(picture, return_tensors="pt")["pixel_values"]


def test_image(size: int, path: str | None = None):
    """The painting to measure with: `path`, or a drawn non-square picture (so padding matters)."""
    from PIL import Image, ImageDraw

    from critic.core.images import load_image

    if path:
        return load_image(path).image
    width, height = size * 3 // 2, size
    picture = Image.new("RGB", (width, height), (40, 70, 150))
    draw = ImageDraw.Draw(picture)
    for i in range(0, width, max(2, size // 8)):
        draw.line((i, 0, width - i, height), fill=(230, 180 - i % 100, 60), width=max(1, size // 28))
    draw.ellipse((width // 4, height // 5, width // 2, height // 2), fill=(250, 240, 210))
    return picture


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def compare(ref: np.ndarray, got: np.ndarray, noise: float) -> Comparison:
    """Top-1 agreement (decisive positions and all), max |Δlogit| and mean KL(ref‖got)."""
    ordered = np.sort(ref, axis=-1)
    decisive = (ordered[:, -1] - ordered[:, -2]) > DECISIVE * noise
    agree = ref.argmax(-1) == got.argmax(-1)
    p, q = _softmax(ref.astype(np.float64)), _softmax(got.astype(np.float64))
    kl = np.sum(p * (np.log(p + 1e-12) - np.log(q + 1e-12)), axis=-1)
    return Comparison(
        positions=int(ref.shape[0]), decisive_positions=int(decisive.sum()),
        top1_agreement=float(agree[decisive].mean()) if decisive.any() else 1.0,
        top1_all_positions=float(agree.mean()), max_dlogit=float(np.abs(ref - got).max()),
        logit_scale=float(np.abs(ref).max()), noise=noise, mean_kl=float(kl.mean()),
    )


def f16_rounded(model):
    """A copy of `model` that rounds its weights and every linear layer's input to F16, as ggml's F16 path does."""
    import copy

    import torch

    twin = copy.deepcopy(model)
    with torch.no_grad():
        for param in twin.parameters():
            param.copy_(param.half().float())
    for module in twin.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
            module.register_forward_pre_hook(lambda _m, args: tuple(a.half().float() for a in args))
    return twin


def llama_text_logits(llm_path: Path, ids: list[int]) -> np.ndarray:
    """llama.cpp's logits at every position of `ids`."""
    from critic.engine.native import load_llama_cpp

    llama_cpp = load_llama_cpp()

    from critic.engine.llama import silence_llama_logs

    silence_llama_logs()
    # An F32 KV cache: the default F16 cache alone moves logits by ~1e-2 on these weights,
    # which would hide what the conversion itself does.
    llama = llama_cpp.Llama(model_path=str(llm_path), n_ctx=2048, logits_all=True, verbose=False, n_batch=512,
                            type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    try:
        llama.eval(ids)
        return np.array(llama.scores[: len(ids)], dtype=np.float32)
    finally:
        llama.close()


def llama_image_logits(engine, picture, before: list[int], after: list[int]) -> np.ndarray:
    """The engine's logits at each position of `after`, following `before` and the picture."""
    llama = engine.llama
    llama.reset()
    llama._ctx.kv_cache_clear()
    llama.eval(before)
    engine.eval_image(picture)
    rows = []
    for token in after:
        llama.eval([token])
        rows.append(engine.logits().copy())
    return np.stack(rows)


def _row_errors(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-row max |Δ| relative to the reference rows' scale."""
    if got.shape != ref.shape:
        return np.full(ref.shape[0], np.inf)
    return np.abs(got - ref).max(axis=1) / max(float(np.abs(ref).max()), 1e-6)


def measure_layout(engine, model_picture, hf_patches: np.ndarray, hf_class: np.ndarray) -> dict:
    """How one mmproj's single encode lines up with transformers' rows (llama.cpp's class-token order)."""
    got = engine.encode(model_picture)
    n = hf_patches.shape[0]
    shape_ok = got.shape == hf_patches.shape
    return {
        "image_tokens": int(got.shape[0]),
        "patch_rel_error_aligned": float(_row_errors(got, hf_patches).max()),
        "patch_rel_error_shifted_by_one": float(_row_errors(got[: n - 1], hf_patches[1:]).max()) if shape_ok
        else float("inf"),
        "last_row_vs_class_token": float(_row_errors(got[-1:], hf_class).max()) if shape_ok else float("inf"),
    }


def _gate(report: ParityReport, label: str, result: Comparison, quant: str) -> None:
    limits = THRESHOLDS.get(quant, THRESHOLDS["Q4_K_M"])
    if result.top1_agreement < limits["top1"]:
        report.failures.append(f"{label}: decisive top-1 agreement {result.top1_agreement:.3f} < {limits['top1']} "
                               f"({result.decisive_positions} of {result.positions} positions decisive)")
    if "max_dlogit_relative" in limits and result.max_dlogit > limits["max_dlogit_relative"] * result.logit_scale:
        report.failures.append(f"{label}: max |Δlogit| {result.max_dlogit:.4f} > "
                               f"{limits['max_dlogit_relative']} × {result.logit_scale:.2f}")
    if "kl" in limits and result.mean_kl > limits["kl"]:
        report.failures.append(f"{label}: mean KL {result.mean_kl:.4f} > {limits['kl']}")


def verify(target: str | Path, base: str | Path, vision_tower: str | Path | None = None,
           lora: str | Path | None = None, image: str | None = None, layouts: bool = False,
           kv_cache: str = "f16") -> ParityReport:
    """Measure the converted folder `target` against the reference checkpoint.

    `kv_cache`: the engine's KV cache type for the image prompt (the text prompt measures the file
    alone, through an F32 cache). With ``q8_0`` an F16 or F32 file's image prompt is held to
    `THRESHOLDS["KV_Q8_0"]` (decisive top-1 100 %, mean KL) instead of the max |Δlogit| bound, which
    the cache's own rounding exceeds (1.4 % of the largest logit on the 256-wide tiny model); a
    quantized file keeps its own, looser gate.

    `layouts`: also measure every single-encode position table through an F32 mmproj
    (how llama.cpp orders the class token; the regression test of that behaviour).
    """
    import jinja2
    import torch

    from critic.convert.llm_gguf import write_llm
    from critic.convert.lora import open_lora
    from critic.convert.mmproj_gguf import write_mmproj
    from critic.convert.reference import image_features, load_reference, splice_logits
    from critic.core.gguf_check import read_header
    from critic.core.prompt import Turn, layout_tokens
    from critic.engine.base import ModelInfo
    from critic.engine.llama import LlamaEngine

    target = Path(target)
    manifest = Manifest.read(target)
    llm_path, mm_path = manifest.file_paths(target)
    report = ParityReport(manifest.quantization, manifest.mmproj.quantization, manifest.class_token_layout)
    model, ckpt = load_reference(base, vision_tower, lora)
    adapter = open_lora(lora, ckpt) if lora else None
    rounded = f16_rounded(model)
    report.kv_cache = kv_cache
    engine = LlamaEngine.from_folder(target, ModelInfo(manifest.name), n_ctx=2048, kv_cache=kv_cache)
    try:
        # The prompt: critic's token layout and the GGUF's template against the upstream definition.
        turns = [(QUESTION, ANSWER), (FOLLOW_UP, None)]
        reference_ids = llava_training_ids(ckpt.tokenizer_model, vicuna_v1_prompt(turns), ckpt.tokenizer_legacy)
        split = reference_ids.index(IMAGE_PLACEHOLDER)
        layout = layout_tokens(engine.tokenize, engine.bos, engine.eos, [Turn(q, a) for q, a in turns],
                               legacy=engine.legacy)
        first = llava_training_ids(ckpt.tokenizer_model, vicuna_v1_prompt(turns[:1]), ckpt.tokenizer_legacy)
        one = layout_tokens(engine.tokenize, engine.bos, engine.eos, [Turn(QUESTION, ANSWER)], legacy=engine.legacy)
        report.tokens_equal = (reference_ids == layout.before + [IMAGE_PLACEHOLDER] + layout.after
                               and first == one.before + [IMAGE_PLACEHOLDER] + one.after)
        if not report.tokens_equal:
            report.failures.append("token ids differ from LLaVA's training tokenization of conv_vicuna_v1")
        template = read_header(llm_path).fields.get("tokenizer.chat_template", "")
        rendered = jinja2.Environment().from_string(template).render(
            messages=[{"role": "user", "content": "<image>\n" + QUESTION}, {"role": "assistant", "content": ANSWER},
                      {"role": "user", "content": FOLLOW_UP}],
            add_generation_prompt=True, bos_token="<s>", eos_token="</s>")
        report.template_equal = rendered == "<s>" + vicuna_v1_prompt(turns)
        if not report.template_equal:
            report.failures.append("the GGUF chat template does not render conv_vicuna_v1")
        before, after = reference_ids[:split], first[first.index(IMAGE_PLACEHOLDER) + 1:]

        # Text-only logits at every position: the conversion itself (F32 copy), then the file.
        text_ids = before + after
        with torch.no_grad():
            def text_logits(m):
                embed = m.model.language_model.get_input_embeddings()
                return m(inputs_embeds=embed(torch.tensor([text_ids]))).logits[0].numpy()

            ref, ref16 = text_logits(model), text_logits(rounded)
        noise = float(np.abs(ref - ref16).max())
        with tempfile.TemporaryDirectory() as tmp:
            exact = Path(tmp) / "llm-F32.gguf"
            write_llm(ckpt, adapter, exact, manifest.name, f32=True)
            report.conversion_max_dlogit = compare(ref, llama_text_logits(exact, text_ids), noise).max_dlogit
        if report.conversion_max_dlogit > THRESHOLDS["F32"]["max_dlogit"]:
            report.failures.append(f"conversion (F32): max |Δlogit| {report.conversion_max_dlogit:.4g}")
        text = compare(ref, llama_text_logits(llm_path, text_ids), noise)
        report.text = asdict(text)
        _gate(report, "text", text, manifest.quantization)

        # The image prompt: critic preprocesses the raw picture; the reference follows LLaVA.
        picture = test_image(ckpt.vision.image_size, image)
        pixels = llava_pixels(picture, clip_processor(ckpt, Path(vision_tower) if vision_tower else None),
                              ckpt.preprocess)
        with torch.no_grad():
            hf_patches = image_features(model, pixels)[0]
            hf_next = splice_logits(model, before, hf_patches, after)[-len(after):].numpy()
            next16 = splice_logits(rounded, before, image_features(rounded, pixels)[0], after)[-len(after):].numpy()
            hidden = model.model.vision_tower(pixels, output_hidden_states=True).hidden_states[-2]
            hf_class = model.model.multi_modal_projector(hidden[:, :1]).numpy()[0]
        hf_patches = hf_patches.numpy()
        rows = engine.image_embeddings(engine.model_input(picture))
        errors = _row_errors(rows, hf_patches)
        tolerance = FEATURE_TOLERANCE.get(manifest.mmproj.quantization, FEATURE_TOLERANCE["Q8_0"])
        got = llama_image_logits(engine, picture, before, after)
        result = compare(hf_next, got, float(np.abs(hf_next - next16).max()))
        report.image = {**asdict(result), "image_tokens": int(hf_patches.shape[0]),
                        "image_tokens_exact": int((errors <= tolerance).sum()),
                        "image_rel_error": float(errors.max()), "image_tolerance": tolerance}
        if manifest.class_token_layout == "exact":
            if report.image["image_tokens_exact"] != report.image["image_tokens"]:
                report.failures.append(f"image tokens: {report.image['image_tokens_exact']} of "
                                       f"{report.image['image_tokens']} rows equal transformers' "
                                       f"(worst {errors.max():.3g} > {tolerance})")
            if kv_cache == "q8_0" and manifest.quantization in ("F16", "F32"):
                # the cache's rounding stands in for the file's max |Δlogit| gate: decisive top-1 and KL
                _gate(report, "image prompt (q8_0 KV cache)", result, "KV_Q8_0")
            else:  # a quantized file's own gate is the looser one
                _gate(report, "image prompt", result, manifest.quantization)
        model_picture = engine.model_input(picture)
    finally:
        engine.close()

    if layouts:
        with tempfile.TemporaryDirectory() as tmp:
            for table in ("rotated", "stock"):
                path = Path(tmp) / f"mmproj-{table}.gguf"
                write_mmproj(ckpt, path, manifest.name, table, f32=True)
                engine = LlamaEngine(llm_path, path, ModelInfo(manifest.name), n_ctx=2048)
                try:
                    report.layouts[f"{table} F32"] = measure_layout(engine, model_picture, hf_patches, hf_class)
                finally:
                    engine.close()
    return report


def print_report(report: ParityReport) -> None:
    """The measurements as a table."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title=f"parity against transformers (LLM {report.quantization}, mmproj "
                        f"{report.mmproj_quantization}, layout {report.layout}, KV cache {report.kv_cache})")
    table.add_column("measure")
    table.add_column("text", justify="right")
    table.add_column("image prompt", justify="right")
    table.add_row("token ids equal LLaVA training", "yes" if report.tokens_equal else "NO", "")
    table.add_row("GGUF chat template renders conv_vicuna_v1", "yes" if report.template_equal else "NO", "")
    table.add_row("conversion (F32 copy): max |Δlogit|", f"{report.conversion_max_dlogit:.4g}", "")
    for key, label in (("top1_agreement", "top-1 agreement (decisive positions)"),
                       ("decisive_positions", "decisive positions"), ("positions", "positions"),
                       ("top1_all_positions", "top-1 agreement (all positions)"),
                       ("max_dlogit", "max |Δlogit|"), ("logit_scale", "largest |logit|"),
                       ("noise", "F16 rounding noise"), ("mean_kl", "mean KL")):
        values = [report.text.get(key), report.image.get(key)]
        table.add_row(label, *(f"{v:.4g}" if isinstance(v, float) else str(v) for v in values))
    table.add_row("image tokens equal transformers'", "",
                  f"{report.image.get('image_tokens_exact')} / {report.image.get('image_tokens')}")
    table.add_row("image rows: worst relative error", "", f"{report.image.get('image_rel_error', 0):.3g}")
    for layout, values in report.layouts.items():
        for name, value in values.items():
            table.add_row(f"{layout}: {name}", "", f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
    if report.layout != "exact":
        console.print(f"[yellow]note[/yellow] layout '{report.layout}' encodes once: its image tokens are not the ones "
                      "the model was trained on (patch 0 lost, the class token last); held to the text gates only")
    for failure in report.failures:
        console.print(f"[red]FAIL[/red] {failure}")
    if not report.failures:
        console.print("[green]all thresholds met[/green]")


def run_verify(target, base, vision_tower, lora, image, json_path, kv_cache: str = "f16") -> int:
    """CLI entry: measure, print, optionally save, exit 1 on a failed threshold."""
    from critic.convert.hf_verify import is_hf_export, print_hf_report, verify_hf

    if is_hf_export(target):  # a `--to hf` folder
        report = verify_hf(target, base, vision_tower, lora, image)
        print_hf_report(report)
    else:
        report = verify(target, base, vision_tower, lora, image, kv_cache=kv_cache)
        print_report(report)
    if json_path:
        from critic.core.store import write_atomic

        write_atomic(Path(json_path), json.dumps(report.to_dict(), indent=2) + "\n")
    return 1 if report.failures else 0
