"""`critic convert verify DIR` for a `--to hf` folder: transformers loads it, and it equals the reference.

The folder is loaded the way a serving engine would: ``LlavaForConditionalGeneration``,
``AutoTokenizer`` and ``AutoProcessor`` from the folder alone. It is measured against
convert/verify.py's reference, built from the upstream definitions (the checkpoint in
transformers with the LoRA merged by peft; LLaVA's ``conv_vicuna_v1``, its training
tokenization, ``expand2square`` + CLIP preprocessing), never from the code that wrote it:

- ``files_intact``: every file's sha256 against the manifest;
- ``loads_clean``: no missing, unexpected or mis-shaped weights (a missing projector would
  otherwise load as random numbers with a warning);
- ``template_equal``: ``apply_chat_template`` of the tokenizer (string content) and of the
  processor (list content with an image part) both render ``<s>`` + conv_vicuna_v1;
- ``tokens_equal``: the rendered one-turn prompts (text, and image with ``<image>`` as
  LLaVA's -200) tokenize to LLaVA's training ids; ``later_turn_token_diffs`` counts how
  many ids differ in a two-turn prompt (reported, not gated: see convert/hf_files.py);
- ``pixels_max_diff``: the folder's image processor on the raw picture against
  ``expand2square`` + CLIP's processor;
- ``text``: logits at every position of the text prompt; ``image``: logits at every
  position after the image, the folder's processor making ``input_ids`` and pixels from
  the rendered prompt and the raw picture, as a server would. Columns of the reference's
  vocabulary only (``<image>`` has no reference column).

Gates: ``float32`` folders are a re-layout and are held to the F32 gates (max |Δlogit| ≤
1e-2, decisive top-1 100 %); ``bfloat16``/``float16`` to the F16 ones (decisive top-1 100 %,
max |Δlogit| ≤ 1 % of the largest |logit|). Pixels must agree within 1e-4.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np

from critic.convert.hf_export import iter_files, read_manifest
from critic.convert.verify import (
    ANSWER,
    FOLLOW_UP,
    IMAGE_PLACEHOLDER,
    QUESTION,
    THRESHOLDS,
    clip_processor,
    compare,
    f16_rounded,
    llava_pixels,
    llava_training_ids,
    test_image,
    vicuna_v1_prompt,
)

PIXEL_TOLERANCE = 1e-4


@dataclass
class HfParityReport:
    """Everything verify measured on a `--to hf` folder."""

    dtype: str
    files_intact: bool = False
    loads_clean: bool = False
    load_problems: dict = field(default_factory=dict)
    template_equal: bool = False
    tokens_equal: bool = False
    later_turn_token_diffs: int = 0
    image_tokens: int = 0
    pixels_max_diff: float = 0.0
    image_features_rel_error: float = 0.0
    text: dict = field(default_factory=dict)
    image: dict = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def is_hf_export(folder: str | Path) -> bool:
    """Whether `folder` was written by `critic convert --to hf`."""
    return read_manifest(Path(folder)) is not None


def _check_files(folder: Path, manifest: dict, report: HfParityReport) -> None:
    from critic.core.images import file_sha256

    listed = {f["path"]: f for f in manifest.get("files", [])}
    present = {p.name for p in iter_files(folder)}
    problems = [f"{name}: missing" for name in sorted(set(listed) - present)]
    problems += [f"{name}: not in the manifest" for name in sorted(present - set(listed))]
    problems += [f"{name}: sha256 differs from the manifest" for name in sorted(set(listed) & present)
                 if file_sha256(folder / name) != listed[name]["sha256"]]
    report.files_intact = not problems
    report.failures += problems


def _gate(report: HfParityReport, label: str, result, dtype: str) -> None:
    if result.top1_agreement < 1.0:
        report.failures.append(f"{label}: decisive top-1 agreement {result.top1_agreement:.3f} < 1 "
                               f"({result.decisive_positions} of {result.positions} positions decisive)")
    if dtype == "float32":
        limit, what = THRESHOLDS["F32"]["max_dlogit"], "the F32 gate"
    else:
        limit = THRESHOLDS["F16"]["max_dlogit_relative"] * result.logit_scale
        what = f"1 % of the largest |logit| {result.logit_scale:.2f}"
    if result.max_dlogit > limit:
        report.failures.append(f"{label}: max |Δlogit| {result.max_dlogit:.4g} > {limit:.4g} ({what})")


def _messages(with_image: bool, list_content: bool, turns) -> list[dict]:
    messages = []
    for i, (question, answer) in enumerate(turns):
        if i == 0 and with_image and list_content:
            content = [{"type": "image"}, {"type": "text", "text": question}]
        else:
            content = ("<image>\n" if i == 0 and with_image else "") + question
        messages.append({"role": "user", "content": content})
        if answer is not None:
            messages.append({"role": "assistant", "content": answer})
    return messages


def verify_hf(target: str | Path, base: str | Path, vision_tower: str | Path | None = None,
              lora: str | Path | None = None, image: str | None = None) -> HfParityReport:
    """Measure the `--to hf` folder `target` against the reference checkpoint."""
    import torch
    from transformers import AutoProcessor, AutoTokenizer, LlavaForConditionalGeneration

    from critic.convert.reference import image_features, load_reference, splice_logits

    target = Path(target)
    manifest = read_manifest(target) or {}
    dtype = manifest.get("dtype", "float32")
    report = HfParityReport(dtype)
    _check_files(target, manifest, report)

    model, ckpt = load_reference(base, vision_tower, lora)
    rounded = f16_rounded(model)
    try:
        export, info = LlavaForConditionalGeneration.from_pretrained(str(target), dtype=torch.float32,
                                                                     output_loading_info=True)
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        report.failures.append(f"transformers cannot load the folder: {str(err).splitlines()[0]}")
        return report
    export.eval()
    report.load_problems = {k: sorted(map(str, v)) for k, v in info.items() if v}
    report.loads_clean = not report.load_problems
    for kind, names in report.load_problems.items():
        report.failures.append(f"loading: {kind.replace('_', ' ')}: {', '.join(names[:4])}")
    tokenizer = AutoTokenizer.from_pretrained(str(target))
    processor = AutoProcessor.from_pretrained(str(target))
    image_id = export.config.image_token_id
    vocab = ckpt.llm.vocab
    columns = [i for i in range(vocab) if i != image_id]

    # The prompt: the folder's template and tokenizer against conv_vicuna_v1 and LLaVA's tokenization.
    one, two = [(QUESTION, None)], [(QUESTION, ANSWER), (FOLLOW_UP, None)]
    rendered = {}
    for turns in (one, two):
        for with_image in (True, False):
            expected = "<s>" + vicuna_v1_prompt(turns, image=with_image)
            texts = [tokenizer.apply_chat_template(_messages(with_image, False, turns), tokenize=False,
                                                   add_generation_prompt=True)]
            if with_image:
                texts.append(processor.apply_chat_template(_messages(True, True, turns), tokenize=False,
                                                           add_generation_prompt=True))
            rendered[(len(turns), with_image)] = texts[0]
            if any(text != expected for text in texts):
                report.failures.append(f"the chat template does not render conv_vicuna_v1 "
                                       f"({len(turns)} turn(s), {'image' if with_image else 'text'})")
    report.template_equal = not any("chat template" in f for f in report.failures)

    def ids(text: str) -> list[int]:
        return [IMAGE_PLACEHOLDER if i == image_id else i for i in tokenizer(text, add_special_tokens=False).input_ids]

    def training(turns, with_image: bool) -> list[int]:
        return llava_training_ids(ckpt.tokenizer_model, vicuna_v1_prompt(turns, image=with_image),
                                  ckpt.tokenizer_legacy)

    image_ids, text_ids = training(one, True), training(one, False)
    report.tokens_equal = ids(rendered[(1, True)]) == image_ids and ids(rendered[(1, False)]) == text_ids
    if not report.tokens_equal:
        report.failures.append("one-turn prompts do not tokenize to LLaVA's training ids")
    got_two, want_two = ids(rendered[(2, True)]), training(two, True)
    edits = SequenceMatcher(a=got_two, b=want_two, autojunk=False).get_opcodes()
    report.later_turn_token_diffs = sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in edits if op != "equal")

    with torch.no_grad():
        # Text prompt, every position.
        def text_logits(m):
            return m(input_ids=torch.tensor([text_ids])).logits[0].numpy()

        ref = text_logits(model)
        noise = float(np.abs(ref - text_logits(rounded)).max())
        text = compare(ref[:, columns], text_logits(export)[:, columns], noise)
        report.text = asdict(text)
        _gate(report, "text prompt", text, dtype)

        # Image prompt through the folder's processor, as a server runs it.
        picture = test_image(ckpt.vision.image_size, image)
        pixels = llava_pixels(picture, clip_processor(ckpt, Path(vision_tower) if vision_tower else None),
                              ckpt.preprocess)
        inputs = processor(text=rendered[(1, True)], images=picture, return_tensors="pt", add_special_tokens=False)
        report.pixels_max_diff = float((inputs["pixel_values"] - pixels).abs().max())
        if report.pixels_max_diff > PIXEL_TOLERANCE:
            report.failures.append(f"image preprocessing: max |Δpixel| {report.pixels_max_diff:.3g} against "
                                   f"expand2square + CLIP (> {PIXEL_TOLERANCE})")
        report.image_tokens = int((inputs["input_ids"] == image_id).sum())
        split = image_ids.index(IMAGE_PLACEHOLDER)
        before, after = image_ids[:split], image_ids[split + 1:]
        features = image_features(model, pixels)[0]
        hf_next = splice_logits(model, before, features, after)[-len(after):].numpy()
        next16 = splice_logits(rounded, before, image_features(rounded, pixels)[0], after)[-len(after):].numpy()
        got = export(**inputs).logits[0, -len(after):].numpy()
        exported = image_features(export, inputs["pixel_values"])[0]
        report.image_features_rel_error = float((exported - features).abs().max() / features.abs().max())
        if report.image_tokens != features.shape[0]:
            report.failures.append(f"the processor made {report.image_tokens} image tokens; "
                                   f"the model gives {features.shape[0]} features")
        image_result = compare(hf_next[:, columns], got[:, columns], float(np.abs(hf_next - next16).max()))
        report.image = asdict(image_result)
        _gate(report, "image prompt", image_result, dtype)
    return report


def print_hf_report(report: HfParityReport) -> None:
    """The measurements as a table."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title=f"transformers folder ({report.dtype}) against the reference")
    table.add_column("measure")
    table.add_column("text", justify="right")
    table.add_column("image prompt", justify="right")
    yes = lambda ok: "yes" if ok else "NO"  # noqa: E731
    table.add_row("files match the manifest's sha256", yes(report.files_intact), "")
    table.add_row("transformers loads every weight, nothing left over", yes(report.loads_clean), "")
    table.add_row("chat template renders conv_vicuna_v1", yes(report.template_equal), "")
    table.add_row("one-turn token ids equal LLaVA training", yes(report.tokens_equal), "")
    table.add_row("two-turn prompt: ids that differ", str(report.later_turn_token_diffs), "")
    table.add_row("image tokens from the processor", "", str(report.image_tokens))
    table.add_row("pixels: max |Δ| vs expand2square + CLIP", "", f"{report.pixels_max_diff:.3g}")
    table.add_row("image features: worst relative error", "", f"{report.image_features_rel_error:.3g}")
    for key, label in (("top1_agreement", "top-1 agreement (decisive positions)"),
                       ("decisive_positions", "decisive positions"), ("positions", "positions"),
                       ("max_dlogit", "max |Δlogit|"), ("logit_scale", "largest |logit|"),
                       ("noise", "F16 rounding noise"), ("mean_kl", "mean KL")):
        values = [report.text.get(key), report.image.get(key)]
        table.add_row(label, *(f"{v:.4g}" if isinstance(v, float) else str(v) for v in values))
    console.print(table)
    for failure in report.failures:
        console.print(f"[red]FAIL[/red] {failure}")
    if not report.failures:
        console.print("[green]all thresholds met[/green]")

