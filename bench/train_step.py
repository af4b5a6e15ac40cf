"""Time GalleryGPT training steps on a 7B-shaped LLaVA with random weights: samples/s and peak memory.

    python bench/train_step.py                       # LLaMA-7B shape, CLIP ViT-L/14-336, bf16, r=128, batch 16
    python bench/train_step.py --layers 8            # fewer decoder layers, to fit a smaller GPU
    python bench/train_step.py --micro-batch 4       # batch 16 as 4 micro-batches of 4
    python bench/train_step.py --layers 1 --batch 1 --tiny-vision --hidden 256 --ffn 688 --steps 1   # CPU smoke check

Each sample is the paper's shape: 576 image tokens and ~400 text tokens (a 40-token system
prompt before the image, the rest after, the answer's ~250 tokens labelled). The step is the
one train/ runs: frozen CLIP tower, trainable projector and LoRA on every linear layer of the
LLM, the loss on labelled positions only, AdamW, bf16 autocast with fp32 trainable weights,
gradient checkpointing. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build(args, device, dtype):
    """A random LLaVA in `dtype` on `device`, LoRA attached, wrapped for training."""
    import torch
    from transformers import LlavaForConditionalGeneration

    from critic.core.images import CLIP_MEAN, CLIP_STD
    from critic.llava.checkpoint import LlmHparams, VisionHparams
    from critic.llava.hf_config import llava_config
    from critic.train.model import LlavaTrainer, _empty_init, attach_lora, enable_checkpointing

    llm = LlmHparams(vocab=args.vocab, hidden=args.hidden, ffn=args.ffn, layers=args.layers, heads=args.heads,
                     kv_heads=args.heads, rms_eps=1e-5, rope_theta=10000.0, context=4096)
    if args.tiny_vision:
        vision = VisionHparams(hidden=64, ffn=128, layers=2, heads=2, image_size=336, patch_size=14, eps=1e-5,
                               act="quick_gelu", mean=CLIP_MEAN, std=CLIP_STD)
    else:  # CLIP ViT-L/14-336
        vision = VisionHparams(hidden=1024, ffn=4096, layers=24, heads=16, image_size=336, patch_size=14, eps=1e-5,
                               act="quick_gelu", mean=CLIP_MEAN, std=CLIP_STD)
    config = llava_config(SimpleNamespace(llm=llm, vision=vision))
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
    if not args.no_checkpointing:
        enable_checkpointing(model)
    return LlavaTrainer(model).train(), vision


def random_batch(args, vision, size: int, device):
    """A batch of `size` samples in the training layout (before + image + after, answer labelled)."""
    import torch

    from critic.train.encode import IGNORE

    image_tokens = (vision.image_size // vision.patch_size) ** 2
    before, after = 40, args.text_tokens - 40
    width = before + image_tokens + after
    input_ids = torch.randint(3, args.vocab, (size, width))
    image_mask = torch.zeros((size, width), dtype=torch.bool)
    image_mask[:, before:before + image_tokens] = True
    labels = torch.full((size, width), IGNORE)
    labels[:, width - args.answer_tokens:] = input_ids[:, width - args.answer_tokens:]
    batch = {"input_ids": input_ids, "labels": labels, "attention_mask": torch.ones((size, width), dtype=torch.long),
             "image_mask": image_mask, "pixel_values": torch.randn(size, 3, vision.image_size, vision.image_size)}
    return {k: v.to(device) for k, v in batch.items()}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON line."""
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=32, help="decoder layers (32 in LLaMA-7B)")
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--ffn", type=int, default=11008)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--rank", type=int, default=128, help="LoRA rank (alpha = 2 × rank)")
    parser.add_argument("--batch", type=int, default=16, help="samples per optimizer step")
    parser.add_argument("--micro-batch", type=int, default=0, help="samples per forward pass (0: the whole batch)")
    parser.add_argument("--text-tokens", type=int, default=400)
    parser.add_argument("--answer-tokens", type=int, default=250)
    parser.add_argument("--steps", type=int, default=5, help="timed steps, after one warm-up step")
    parser.add_argument("--tiny-vision", action="store_true", help="a 2-layer CLIP with 576 patches (CPU smoke check)")
    parser.add_argument("--no-checkpointing", action="store_true")
    parser.add_argument("--fp32", action="store_true", help="no bf16 (the default on CPU)")
    args = parser.parse_args(argv)

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    bf16 = not args.fp32 and cuda
    dtype = torch.bfloat16 if bf16 else torch.float32
    micro = args.micro_batch or args.batch
    if args.batch % micro:
        parser.error("--batch must be a multiple of --micro-batch")
    torch.manual_seed(0)
    module, vision = build(args, device, dtype)
    trainable = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=2e-5)
    batches = [random_batch(args, vision, micro, device) for _ in range(args.batch // micro)]

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
    tokens = (vision.image_size // vision.patch_size) ** 2 + args.text_tokens
    result = {
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "dtype": str(dtype).replace("torch.", ""), "layers": args.layers, "hidden": args.hidden,
        "lora_rank": args.rank, "batch": args.batch, "micro_batch": micro, "tokens_per_sample": tokens,
        "gradient_checkpointing": not args.no_checkpointing,
        "trainable_params": sum(p.numel() for p in trainable),
        "total_params": sum(p.numel() for p in module.parameters()),
        "seconds_per_step": round(seconds, 4), "samples_per_s": round(args.batch / seconds, 3),
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "loss": round(losses[-1], 4),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
