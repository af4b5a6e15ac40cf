"""gradient_checkpointing = "auto": the plan against device memories, and partial checkpointing on a real
(toy) LLaVA in transformers leaving every gradient as it is."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from critic.train.memory import GIB, ActivationCost, choose, relative_time

# What train/memory.py's measurement gives at the full 7B shape (batch 16, 976 tokens a sample), fitted
# to the H200 figures of docs/train.md: 19.2 GiB whatever the batch, 0.5 GiB a sample with every layer
# checkpointed, 0.203 GiB more a sample for each layer that keeps its activations.
H200_7B = ActivationCost(fixed=int(19.2 * GIB), per_sample_checkpointed=int(0.5 * GIB),
                         per_sample_layer=int(0.203 * GIB))


def test_a_card_with_room_runs_the_whole_batch_without_checkpointing():
    plan = choose(H200_7B, 136 * GIB, batch=16, max_micro=16, layers=32)
    assert (plan.micro_batch, plan.checkpointed_layers) == (16, 0)
    assert plan.relative_time == 1.0


@pytest.mark.parametrize("budget", [30, 45, 60, 72, 100])
def test_the_plan_fits_and_prefers_keeping_activations_to_a_bigger_micro_batch(budget):
    plan = choose(H200_7B, budget * GIB, batch=16, max_micro=16, layers=32)
    assert plan.estimate <= budget * GIB
    # no setting that fits is faster by the same step-time model
    for micro in (16, 8, 4, 2, 1):
        for checkpointed in range(33):
            need = H200_7B.fixed + micro * (H200_7B.per_sample_checkpointed
                                            + (32 - checkpointed) * H200_7B.per_sample_layer)
            if need <= budget * GIB:
                assert relative_time(16, micro, checkpointed, 32) >= plan.relative_time - 1e-12
    # the hand settings measured on the H200: checkpointing everything at micro-batch 16 (8.16 samples/s)
    # is never what a budget that holds micro-batch 4 without it (10.14 samples/s) gets
    if budget >= 48:
        assert plan.checkpointed_layers < 8


def test_a_card_too_small_for_anything_says_so():
    plan = choose(H200_7B, 16 * GIB, batch=16, max_micro=16, layers=32)
    assert plan.micro_batch == 1 and plan.checkpointed_layers == 32
    assert "does not fit" in plan.reason


def test_micro_batches_divide_the_batch_and_respect_the_configured_bound():
    plan = choose(H200_7B, 136 * GIB, batch=12, max_micro=4, layers=32)
    assert plan.micro_batch == 4 and 12 % plan.micro_batch == 0


def test_old_configs_with_true_or_false_still_read():
    from critic.core.errors import UsageError
    from critic.train.config import check_config, config_from_dict

    assert config_from_dict({"gradient_checkpointing": True}).gradient_checkpointing == "on"
    assert config_from_dict({"gradient_checkpointing": False}).gradient_checkpointing == "off"
    with pytest.raises(UsageError, match="choose auto, on or off"):
        check_config(config_from_dict({"base": "b", "data": "d", "image_root": "i", "out": "o",
                                       "gradient_checkpointing": "sometimes"}))


def _toy_llava():
    import torch
    from transformers import LlavaForConditionalGeneration

    from critic.core.images import CLIP_MEAN, CLIP_STD
    from critic.llava.checkpoint import LlmHparams, VisionHparams
    from critic.llava.hf_config import llava_config
    from critic.train.model import LlavaTrainer, attach_lora, use_sdpa

    llm = LlmHparams(vocab=300, hidden=64, ffn=160, layers=4, heads=4, kv_heads=4, rms_eps=1e-5,
                     rope_theta=10000.0, context=512)
    vision = VisionHparams(hidden=32, ffn=48, layers=2, heads=2, image_size=56, patch_size=14, eps=1e-5,
                           act="quick_gelu", mean=CLIP_MEAN, std=CLIP_STD)
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(use_sdpa(llava_config(SimpleNamespace(llm=llm, vision=vision))))
    attach_lora(model, 8, 16, 0.0, ["q_proj", "v_proj", "down_proj"])
    with torch.no_grad():  # LoRA's B starts at zero: make every gradient non-trivial
        for name, param in model.named_parameters():
            if ".lora_B." in name:
                param.normal_(0, 0.02)
    return LlavaTrainer(model).train(), model


def test_checkpointing_some_layers_changes_no_gradient():
    import torch

    from critic.train.memory import probe_batch, set_checkpointed_layers

    module, model = _toy_llava()
    assert model.config.text_config._attn_implementation == "sdpa"
    batch = probe_batch(2, 60, 16, 56, 300, torch.device("cpu"))
    grads = {}
    for checkpointed in (0, 2, 4):
        set_checkpointed_layers(model, checkpointed)
        layers = model.model.language_model.layers
        assert [bool(layer.gradient_checkpointing) for layer in layers] == [i < checkpointed for i in range(4)]
        module.zero_grad(set_to_none=True)
        module(**batch).backward()
        grads[checkpointed] = {n: p.grad.clone() for n, p in module.named_parameters() if p.requires_grad}
    for checkpointed in (2, 4):
        for name, grad in grads[0].items():
            torch.testing.assert_close(grads[checkpointed][name], grad, rtol=1e-5, atol=1e-7)
