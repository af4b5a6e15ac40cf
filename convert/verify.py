"""`critic convert verify`: the converted files against the transformers reference.

Measures, for the same painting and the same LLaVA v1 prompt:

- tokenization: llama.cpp's ids for ``USER: <image>\\n…`` against LLaVA's training
  tokenization (text split at ``<image>``, each piece tokenized with BOS, later BOS dropped);
- text-only logits at every position (top-1 agreement, max |Δlogit|; KL for quantized files);
- the image-token embeddings from the mmproj, for both class-token layouts, aligned with
  transformers' patches and shifted by one (see convert/mmproj_gguf.py);
- the next-token logits after an image prompt, for both layouts.

Thresholds (exit status 1 when one fails):

- the conversion itself, through an F32 copy of the LLM written for the check: top-1 100% and
  max |Δlogit| ≤ 1e-2 at every position (measured: ~1e-5);
- the F16 LLM: top-1 100% and max |Δlogit| ≤ 1e-2 × the largest |logit|. ggml's CPU F16
  matmul rounds the activations to F16 too, which alone moves logits of magnitude ~10 by
  ~2e-2 (a reference with F16-rounded weights moves as much), so an absolute 1e-2 cannot
  hold for F16 files at that scale;
- Q8_0: top-1 ≥ 90%, mean KL ≤ 0.02; Q5_K_M: top-1 ≥ 55%, KL ≤ 0.4; Q4_K_M: top-1 ≥ 40%,
  KL ≤ 0.6. These are bounds for the *random-weight* test models, measured there (Q8_0:
  0.92 / 0.0045, Q4_K_M: 0.49 / 0.40 on the hidden-256 tiny model): Gaussian weights have no
  structure for K-quants to exploit and tiny widths average nothing away, so a 4-bit
  model drifts far more than a real 7B one (where llama.cpp reports KL ~0.03 for
  Q4_K_M). What they catch is a broken quantization: a wrong type or layout gives top-1 near
  1/vocab and KL of several nats;
- the layout recorded in the manifest reproduces transformers' patch features through an
  F32 mmproj (rotated: row j equals transformers' patch j+1 within 2e-3 relative), and the
  shipped mmproj within 3e-2 (F16) or 1e-1 (Q8_0).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from critic.manifest import Manifest
from critic.perspectives import DEFAULT_QUESTION
from critic.prompt import IMAGE_TOKEN, first_question_text, head_text, prompt_text, Turn

IMAGE_PLACEHOLDER = -200  # LLaVA's IMAGE_TOKEN_INDEX
THRESHOLDS = {
    "F32": {"top1": 1.0, "max_dlogit": 1e-2},
    "F16": {"top1": 1.0, "max_dlogit_relative": 1e-2},
    "Q8_0": {"top1": 0.90, "kl": 0.02},
    "Q5_K_M": {"top1": 0.55, "kl": 0.4},
    "Q4_K_M": {"top1": 0.40, "kl": 0.6},
}
FEATURE_TOLERANCE = {"F32": 2e-3, "F16": 3e-2, "Q8_0": 1e-1}


@dataclass
class ParityReport:
    """Everything verify measured."""

    quantization: str
    tokens_equal: bool = False
    text_top1: float = 0.0
    text_max_dlogit: float = 0.0
    text_kl: float = 0.0
    conversion_max_dlogit: float = 0.0
    logit_scale: float = 0.0
    layouts: dict[str, dict] = field(default_factory=dict)
    manifest_layout: str = ""
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def llava_training_ids(tokenizer, prompt: str) -> list[int]:
    """LLaVA's training tokenization: split at <image>, tokenize each piece with BOS, drop later BOS."""
    pieces = [tokenizer(chunk).input_ids for chunk in prompt.split(IMAGE_TOKEN)]
    ids = list(pieces[0])
    for piece in pieces[1:]:
        ids.append(IMAGE_PLACEHOLDER)
        ids += piece[1:] if piece and piece[0] == tokenizer.bos_token_id else piece
    return ids


def test_image(size: int, path: str | None = None):
    """A painting at exactly the model's input size, so neither side resizes it."""
    from PIL import Image, ImageDraw

    from critic.images import load_image, pad_to_square

    if path:
        picture = load_image(path).image
        picture = pad_to_square(picture, (122, 116, 104)).resize((size, size), Image.Resampling.BICUBIC)
        return picture
    picture = Image.new("RGB", (size, size), (40, 70, 150))
    draw = ImageDraw.Draw(picture)
    for i in range(0, size, max(2, size // 8)):
        draw.line((0, i, size, size - i), fill=(230, 180 - i % 100, 60), width=max(1, size // 28))
    draw.ellipse((size // 4, size // 5, size // 2, size // 2), fill=(250, 240, 210))
    return picture


def pixel_values(picture, mean, std):
    """CLIP normalisation, as transformers' image processor does it."""
    import torch

    array = np.asarray(picture, dtype=np.float32) / 255.0
    array = (array - np.array(mean, dtype=np.float32)) / np.array(std, dtype=np.float32)
    return torch.from_numpy(array.transpose(2, 0, 1)).unsqueeze(0)


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def compare_logits(ref: np.ndarray, got: np.ndarray) -> tuple[float, float, float]:
    """(top-1 agreement, max |Δlogit|, mean KL(ref‖got)) over positions."""
    top1 = float(np.mean(ref.argmax(-1) == got.argmax(-1)))
    dmax = float(np.abs(ref - got).max())
    p, q = _softmax(ref.astype(np.float64)), _softmax(got.astype(np.float64))
    kl = float(np.mean(np.sum(p * (np.log(p + 1e-12) - np.log(q + 1e-12)), axis=-1)))
    return top1, dmax, kl


def llama_text_logits(llm_path: Path, ids: list[int]) -> np.ndarray:
    """llama.cpp's logits at every position of `ids`."""
    import llama_cpp

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


def mtmd_image_embeddings(engine, picture) -> np.ndarray:
    """The mmproj's output for `picture`: (image tokens, n_embd)."""
    mtmd = engine._mtmd
    with engine.image_chunk(picture) as chunk:
        n = mtmd.mtmd_input_chunk_get_n_tokens(chunk)
        if mtmd.mtmd_encode_chunk(engine.ctx, chunk) != 0:
            raise RuntimeError("mtmd_encode_chunk failed")
        out = mtmd.mtmd_get_output_embd(engine.ctx)
        n_embd = engine.llama.n_embd()
        return np.ctypeslib.as_array(out, shape=(n * n_embd,)).reshape(n, n_embd).copy()


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-6))


def measure_layout(engine, picture, hf_patches: np.ndarray, hf_class: np.ndarray, before, after,
                   hf_next: np.ndarray) -> dict:
    """Image features and next-token logits of one mmproj against transformers."""
    from critic.engine.base import Timings
    from critic.images import LoadedImage

    got = mtmd_image_embeddings(engine, picture)
    n = hf_patches.shape[0]
    aligned = _relative(got, hf_patches) if got.shape == hf_patches.shape else float("inf")
    shifted = _relative(got[: n - 1], hf_patches[1:]) if got.shape[0] == n else float("inf")
    last_is_class = _relative(got[-1:], hf_class) if got.shape[0] == n else float("inf")
    session = engine.open_session(LoadedImage(Path("verify.png"), picture, "", "PNG", picture.size))
    session._ensure_prefix(Timings())
    engine.llama.eval(engine.tokenize(first_question_text(DEFAULT_QUESTION)))
    logits = engine.logits().copy()
    session.close()
    return {
        "image_tokens": int(got.shape[0]),
        "patch_rel_error_aligned": aligned,
        "patch_rel_error_shifted_by_one": shifted,
        "last_row_vs_class_token": last_is_class,
        "next_token_top1_agrees": bool(int(logits.argmax()) == int(hf_next.argmax())),
        "next_token_max_dlogit": float(np.abs(logits - hf_next).max()),
    }


def verify(target: str | Path, base: str | Path, vision_tower: str | Path | None = None,
           lora: str | Path | None = None, image: str | None = None) -> ParityReport:
    """Measure the converted folder `target` against the reference checkpoint."""
    import torch
    from transformers import LlamaTokenizer

    from convert.llm_gguf import write_llm
    from convert.lora import open_lora
    from convert.mmproj_gguf import LAYOUTS, write_mmproj
    from convert.reference import image_features, load_reference, splice_logits
    from critic.engine.base import ModelInfo
    from critic.engine.llama import LlamaEngine

    target = Path(target)
    manifest = Manifest.read(target)
    llm_path, mm_path = manifest.file_paths(target)
    report = ParityReport(manifest.quantization, manifest_layout=manifest.class_token_layout)
    model, ckpt = load_reference(base, vision_tower, lora)
    adapter = open_lora(lora, ckpt) if lora else None
    tokenizer = LlamaTokenizer.from_pretrained(str(base))

    # Tokenization: llama.cpp's layout against LLaVA's training code.
    engine = LlamaEngine(llm_path, mm_path, ModelInfo(manifest.name), n_ctx=2048)
    before = [engine.bos, *engine.tokenize(head_text())]
    after = engine.tokenize(first_question_text(DEFAULT_QUESTION))
    reference_ids = llava_training_ids(tokenizer, prompt_text([Turn(DEFAULT_QUESTION)]))
    report.tokens_equal = reference_ids == before + [IMAGE_PLACEHOLDER] + after
    if not report.tokens_equal:
        report.failures.append("tokenization differs from LLaVA's training tokenization")

    # Text-only logits at every position: the exact conversion (F32), then the file itself.
    text_ids = before + after
    with torch.no_grad():
        embed = model.model.language_model.get_input_embeddings()
        ref = model(inputs_embeds=embed(torch.tensor([text_ids]))).logits[0].numpy()
    report.logit_scale = float(np.abs(ref).max())
    with tempfile.TemporaryDirectory() as tmp:
        exact = Path(tmp) / "llm-F32.gguf"
        write_llm(ckpt, adapter, exact, manifest.name, f32=True)
        top1, report.conversion_max_dlogit, _ = compare_logits(ref, llama_text_logits(exact, text_ids))
    if top1 < 1.0 or report.conversion_max_dlogit > THRESHOLDS["F32"]["max_dlogit"]:
        report.failures.append(f"conversion (F32): top-1 {top1:.3f}, max |Δlogit| {report.conversion_max_dlogit:.4g}")
    got = llama_text_logits(llm_path, text_ids)
    report.text_top1, report.text_max_dlogit, report.text_kl = compare_logits(ref, got)
    limits = THRESHOLDS.get(manifest.quantization, THRESHOLDS["Q4_K_M"])
    if report.text_top1 < limits["top1"]:
        report.failures.append(f"text top-1 agreement {report.text_top1:.3f} < {limits['top1']}")
    if "max_dlogit_relative" in limits and report.text_max_dlogit > limits["max_dlogit_relative"] * report.logit_scale:
        report.failures.append(f"text max |Δlogit| {report.text_max_dlogit:.4f} > "
                               f"{limits['max_dlogit_relative']} × {report.logit_scale:.2f}")
    if "kl" in limits and report.text_kl > limits["kl"]:
        report.failures.append(f"text mean KL {report.text_kl:.4f} > {limits['kl']}")

    # Image features and image-prompt logits, for both class-token layouts.
    picture = test_image(ckpt.vision.image_size, image)
    pixels = pixel_values(picture, ckpt.vision.mean, ckpt.vision.std)
    with torch.no_grad():
        hf_patches = image_features(model, pixels)[0].numpy()
        hidden = model.model.vision_tower(pixels, output_hidden_states=True).hidden_states[-2]
        hf_class = model.model.multi_modal_projector(hidden[:, :1]).numpy()[0]
        hf_next = splice_logits(model, before, torch.from_numpy(hf_patches), after)[-1].numpy()
    engine.close()
    runs = [(f"{layout} F32", layout, None) for layout in LAYOUTS]
    runs.append((f"{manifest.class_token_layout} {manifest.mmproj.quantization} (shipped file)",
                 manifest.class_token_layout, mm_path))
    with tempfile.TemporaryDirectory() as tmp:
        for label, layout, path in runs:
            if path is None:
                path = Path(tmp) / f"mmproj-{layout}.gguf"
                write_mmproj(ckpt, path, manifest.name, layout, f32=True)
            engine = LlamaEngine(llm_path, path, ModelInfo(manifest.name), n_ctx=2048)
            try:
                report.layouts[label] = measure_layout(engine, picture, hf_patches, hf_class, before, after, hf_next)
            finally:
                engine.close()
            key = "patch_rel_error_shifted_by_one" if layout == "rotated" else "patch_rel_error_aligned"
            kind = "F32" if label.endswith("F32") else manifest.mmproj.quantization
            if layout == manifest.class_token_layout and report.layouts[label][key] > FEATURE_TOLERANCE[kind]:
                report.failures.append(f"{label}: patch features differ ({report.layouts[label][key]:.4g})")
    return report


def print_report(report: ParityReport) -> None:
    """The measurements as a table."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title=f"parity against transformers ({report.quantization})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("token ids equal LLaVA training", "yes" if report.tokens_equal else "NO")
    table.add_row("text: top-1 agreement", f"{report.text_top1:.3f}")
    table.add_row("conversion (F32 copy): max |Δlogit|", f"{report.conversion_max_dlogit:.4g}")
    table.add_row("largest |logit| (scale)", f"{report.logit_scale:.4g}")
    table.add_row("text: max |Δlogit|", f"{report.text_max_dlogit:.4g}")
    table.add_row("text: mean KL", f"{report.text_kl:.4g}")
    for layout, values in report.layouts.items():
        for name, value in values.items():
            table.add_row(f"{layout}: {name}", f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
    for failure in report.failures:
        console.print(f"[red]FAIL[/red] {failure}")
    if not report.failures:
        console.print("[green]all thresholds met[/green]")


def run_verify(target, base, vision_tower, lora, image, json_path) -> int:
    """CLI entry: measure, print, optionally save, exit 1 on a failed threshold."""
    report = verify(target, base, vision_tower, lora, image)
    print_report(report)
    if json_path:
        from critic.store import write_atomic

        write_atomic(Path(json_path), json.dumps(report.to_dict(), indent=2) + "\n")
    return 1 if report.failures else 0
