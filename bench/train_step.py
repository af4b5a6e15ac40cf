"""Time GalleryGPT training steps on a 7B-shaped LLaVA with random weights: samples/s, peak memory, MFU.

    python bench/train_step.py                       # LLaMA-7B shape, CLIP ViT-L/14-336, bf16, r=128, batch 16
    python bench/train_step.py --memory-budget 48    # what `gradient_checkpointing = "auto"` picks within 48 GiB
    python bench/train_step.py --checkpointing on --micro-batch 4   # a hand setting
    python bench/train_step.py --layers 8            # fewer decoder layers, to fit a smaller GPU
    python bench/train_step.py --layers 1 --batch 1 --tiny-vision --hidden 256 --ffn 688 --steps 1   # CPU smoke check

Each sample is the paper's shape: 576 image tokens and ~400 text tokens (a 40-token system
prompt before the image, the rest after, the answer's ~250 tokens labelled). The step is the
one train/ runs: frozen CLIP tower, trainable projector and LoRA on every linear layer of the
LLM, the loss on labelled positions only, AdamW, bf16 autocast with fp32 trainable weights,
attention through PyTorch's scaled_dot_product_attention (flash kernels on a GPU). With
``--checkpointing auto`` (the default, as in `critic train`) the micro-batch and the checkpointed
layers come from train/memory.py's measured plan within the budget; ``--memory-budget`` caps the
process's GPU memory for real (torch's per-process fraction), so a plan that does not fit fails.

MFU: model FLOPs per sample ÷ step time ÷ the device's peak bf16 rate. Model FLOPs count the
forward pass (2 × parameters × tokens for every matrix product, attention's two products over
the causal half) and the backward pass of a frozen base with LoRA (the input gradients, one
more forward's worth; LoRA's own weight gradients), the CLIP tower's forward once; recomputation
under checkpointing is not counted (the usual convention). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "4090": 165.0}
"""Dense bf16 peaks from the vendors' datasheets, by a part of the device name."""


def build(args, device, dtype):
    """A random LLaVA in `dtype` on `device`, LoRA attached, wrapped for training (no checkpointing yet)."""
    import torch
    from transformers import LlavaForConditionalGeneration

    from critic.core.images import CLIP_MEAN, CLIP_STD
    from critic.llava.checkpoint import LlmHparams, VisionHparams
    from critic.llava.hf_config import llava_config
    from critic.train.model import LlavaTrainer, _empty_init, attach_lora, use_sdpa

    llm = LlmHparams(vocab=args.vocab, hidden=args.hidden, ffn=args.ffn, layers=args.layers, heads=args.heads,
                     kv_heads=args.heads, rms_eps=1e-5, rope_theta=10000.0, context=4096)
    if args.tiny_vision:
        vision = VisionHparams(hidden=64, ffn=128, layers=2, heads=2, image_size=336, patch_size=14, eps=1e-5,
                               act="quick_gelu", mean=CLIP_MEAN, std=CLIP_STD)
    else:  # CLIP ViT-L/14-336
        vision = VisionHparams(hidden=1024, ffn=4096, layers=24, heads=16, image_size=336, patch_size=14, eps=1e-5,
                               act="quick_gelu", mean=CLIP_MEAN, std=CLIP_STD)
    config = use_sdpa(llava_config(SimpleNamespace(llm=llm, vision=vision)))
    with _empty_init(dtype), torch.device(device):
        model = LlavaForConditionalGeneration(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                param.fill_(1.0)
            else:
                param.normal_(0.0, 0.02)
    attach_lora(model, args.rank, 2 * args.rank, 0.05, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                         "up_proj", "down_proj"])
    model.to(device)
    return LlavaTrainer(model).train(), model, vision


def model_flops(args, vision, tokens: int) -> float:
    """Model FLOPs of one training sample (see the module's docstring)."""
    h, f, n, v, r = args.hidden, args.ffn, args.layers, args.vocab, args.rank
    text = tokens
    layer_matmul = 2 * text * (4 * h * h + 3 * h * f)  # q, k, v, o and the three MLP products
    attention = 2 * 2 * n * h * text * text / 2  # QK^T and AV over the causal half
    lora = 2 * text * r * 7 * 2 * (h + h) * n / 2  # A and B of seven adapters (rough: widths h or f)
    head = 2 * args.answer_tokens * h * v
    forward = n * layer_matmul + attention + lora + head
    backward = forward + 2 * lora  # input gradients through the frozen base, LoRA's weight gradients
    patches = (vision.image_size // vision.patch_size) ** 2 + 1
    clip = 2 * patches * vision.layers * (4 * vision.hidden ** 2 + 2 * vision.hidden * vision.ffn)
    return forward + backward + clip


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON line."""
    import torch

    from critic.train.memory import (GIB, choose, device_budget, expandable_segments, measure, probe_batch,
                                     set_checkpointed_layers)

    expandable_segments()

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=32, help="decoder layers (32 in LLaMA-7B)")
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--ffn", type=int, default=11008)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--rank", type=int, default=128, help="LoRA rank (alpha = 2 × rank)")
    parser.add_argument("--batch", type=int, default=16, help="samples per optimizer step")
    parser.add_argument("--micro-batch", type=int, default=0,
                        help="samples per forward pass (0: the whole batch; with auto, the most it may use)")
    parser.add_argument("--checkpointing", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--memory-budget", type=float, default=0, metavar="GIB",
                        help="cap this process's GPU memory (0: the whole device)")
    parser.add_argument("--text-tokens", type=int, default=400)
    parser.add_argument("--answer-tokens", type=int, default=250)
    parser.add_argument("--steps", type=int, default=5, help="timed steps, after one warm-up step")
    parser.add_argument("--tiny-vision", action="store_true", help="a 2-layer CLIP with 576 patches (CPU smoke check)")
    parser.add_argument("--fp32", action="store_true", help="no bf16 (the default on CPU)")
    parser.add_argument("--peak-tflops", type=float, default=0, help="the device's peak bf16 rate (default: by name)")
    args = parser.parse_args(argv)

    cuda = torch.cuda.is_available()
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    bf16 = not args.fp32 and cuda
    dtype = torch.bfloat16 if bf16 else torch.float32
    micro = args.micro_batch or args.batch
    if args.batch % micro:
        parser.error("--batch must be a multiple of --micro-batch")
    if cuda and args.memory_budget:
        total = torch.cuda.get_device_properties(device).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, args.memory_budget * GIB / total), device)
    torch.manual_seed(0)
    module, model, vision = build(args, device, dtype)
    image_tokens = (vision.image_size // vision.patch_size) ** 2
    tokens = image_tokens + args.text_tokens

    def make_batch(size: int) -> dict:
        return probe_batch(size, tokens, image_tokens, vision.image_size, args.vocab, device, args.answer_tokens)

    plan = None
    checkpointed = {"on": args.layers, "off": 0}.get(args.checkpointing, args.layers)
    if args.checkpointing == "auto" and cuda:
        cost = measure(module, model, make_batch, device, bf16)
        cap = int(args.memory_budget * GIB) if args.memory_budget else None
        plan = choose(cost, device_budget(device, cap), args.batch, micro, args.layers)
        micro, checkpointed = plan.micro_batch, plan.checkpointed_layers
        print(f"auto: {plan.describe()}", file=sys.stderr)
        torch.cuda.empty_cache()
    set_checkpointed_layers(model, checkpointed)
    trainable = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=2e-5, fused=cuda)
    batches = [make_batch(micro) for _ in range(args.batch // micro)]

    def step() -> float:
        total = 0.0
        for batch in batches:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = module(**batch) / len(batches)
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return total

    step()  # warm-up: allocator, kernels, optimizer state
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    losses = [step() for _ in range(args.steps)]
    if cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - started) / args.steps
    name = torch.cuda.get_device_name() if cuda else "cpu"
    peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), 0.0)
    flops = model_flops(args, vision, tokens)
    result = {
        "device": name, "dtype": str(dtype).replace("torch.", ""), "layers": args.layers, "hidden": args.hidden,
        "lora_rank": args.rank, "batch": args.batch, "micro_batch": micro, "tokens_per_sample": tokens,
        "checkpointing": args.checkpointing, "checkpointed_layers": checkpointed,
        "attention": model.config.text_config._attn_implementation,
        "memory_budget_gib": args.memory_budget or None,
        "plan": plan.describe() if plan else None,
        "planned_gib": round(plan.estimate / GIB, 2) if plan else None,
        "trainable_params": sum(p.numel() for p in trainable),
        "total_params": sum(p.numel() for p in module.parameters()),
        "seconds_per_step": round(seconds, 4), "samples_per_s": round(args.batch / seconds, 3),
        "model_tflops_per_sample": round(flops / 1e12, 3),
        "mfu": round(flops * args.batch / seconds / (peak * 1e12), 4) if peak else None,
        "peak_bf16_tflops": peak or None,
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "loss": round(losses[-1], 4),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
