"""Where a model runs: the GPU-layer plan against simulated device memories, the core counts from
simulated sysfs trees. Pure functions: no model is loaded here (tests/test_offload.py loads one)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from critic.core.errors import UsageError
from critic.engine.cores import _linux
from critic.engine.offload import GIB, MARGIN, ModelSizes, compute_bytes, parse_gpu_layers, plan

MIB = 1 << 20


@dataclass
class Gpu:
    name: str
    free: int


def sizes_7b() -> ModelSizes:
    """LLaMA-7B at Q4_K_M as llama.cpp lays it out: 32 layers of ~118 MiB, the Q6_K output layer, the
    token embeddings in host memory, F16 KV (2 × 4096 × 2 bytes a position a layer), two F16 CLIP-L mmprojs."""
    return ModelSizes(n_layer=32, layer_bytes=(118 * MIB,) * 32, output_bytes=103 * MIB, host_bytes=70 * MIB,
                      kv_bytes_per_token_layer=2 * 4096 * 2, n_embd=4096, n_head=32, n_ff=11008, n_vocab=32000,
                      vision_bytes=2 * 600 * MIB)


def test_gpu_layers_setting_is_parsed_or_refused_in_one_line():
    assert parse_gpu_layers(None) == "auto"
    assert parse_gpu_layers("AUTO") == "auto"
    assert parse_gpu_layers("all") == "all"
    assert parse_gpu_layers("-1") == "all"  # llama.cpp's own spelling
    assert parse_gpu_layers("0") == 0
    assert parse_gpu_layers(12) == 12
    for bad in ("many", "-3", "1.5"):
        with pytest.raises(UsageError, match="auto, all, 0"):
            parse_gpu_layers(bad)


def test_a_cpu_build_runs_on_the_cpu_and_says_why():
    placement = plan("auto", sizes_7b(), 4096, 512, offload_supported=False, gpus=[])
    assert (placement.gpu_layers, placement.offloaded, placement.vision_gpu) == (0, 0, False)
    assert "no GPU backend" in placement.reason and placement.where == "CPU"


def test_a_gpu_build_that_sees_no_gpu_runs_on_the_cpu():
    placement = plan("auto", sizes_7b(), 4096, 512, offload_supported=True, gpus=[])
    assert placement.offloaded == 0 and "sees no GPU" in placement.reason


def test_everything_goes_to_a_gpu_with_room():
    placement = plan("auto", sizes_7b(), 4096, 512, True, [Gpu("CUDA0", 24 * GIB)])
    assert placement.gpu_layers == placement.total_layers == 33  # the output layer with the 32 repeating ones
    assert placement.vision_gpu and placement.where == "GPU"


def test_as_many_layers_as_fit_on_a_small_gpu():
    sizes = sizes_7b()
    kv_layer = sizes.kv_bytes_per_token_layer * 4096
    free = 3 * GIB
    placement = plan("auto", sizes, 4096, 512, True, [Gpu("CUDA0", free)])
    assert 0 < placement.gpu_layers < 32 and placement.where == "GPU + CPU"
    # what it offloads (the last layers, each with its KV cache) fits what is left after the margin,
    # the compute buffer and, if it went there, the vision encoder
    room = free - MARGIN - compute_bytes(sizes, 4096, 512)
    if placement.vision_gpu:
        room -= sizes.vision_bytes
    assert placement.gpu_layers * (118 * MIB + kv_layer) <= room
    assert (placement.gpu_layers + 1) * (118 * MIB + kv_layer) > room - (512 << 20)


def test_a_tight_gpu_keeps_the_vision_encoder_on_the_cpu_for_the_llm():
    placement = plan("auto", sizes_7b(), 4096, 512, True, [Gpu("CUDA0", 4 * GIB)])
    assert not placement.vision_gpu and placement.gpu_layers > 0


def test_no_room_at_all_runs_on_the_cpu():
    placement = plan("auto", sizes_7b(), 4096, 512, True, [Gpu("CUDA0", MARGIN + 100 * MIB)])
    assert placement.gpu_layers == 0 and "no layer fits" in placement.reason


def test_a_longer_context_leaves_room_for_fewer_layers():
    gpu = [Gpu("CUDA0", 5 * GIB)]
    short = plan("auto", sizes_7b(), 2048, 512, True, gpu)
    long = plan("auto", sizes_7b(), 16384, 512, True, gpu)
    assert long.gpu_layers < short.gpu_layers


def test_several_gpus_add_up():
    one = plan("auto", sizes_7b(), 4096, 512, True, [Gpu("CUDA0", 3 * GIB)])
    two = plan("auto", sizes_7b(), 4096, 512, True, [Gpu("CUDA0", 3 * GIB), Gpu("CUDA1", 3 * GIB)])
    assert two.gpu_layers > one.gpu_layers


def test_explicit_settings_pass_through_and_vision_cpu_is_honoured():
    gpu = [Gpu("CUDA0", 1 * GIB)]  # too small for auto, but asked for
    assert plan(10, sizes_7b(), 4096, 512, True, gpu).gpu_layers == 10
    assert plan("all", sizes_7b(), 4096, 512, True, gpu).gpu_layers == 33
    assert plan(99, sizes_7b(), 4096, 512, True, gpu).gpu_layers == 33
    assert not plan("all", sizes_7b(), 4096, 512, True, gpu, vision_cpu=True).vision_gpu
    zero = plan(0, sizes_7b(), 4096, 512, True, gpu)
    assert zero.gpu_layers == 0 and zero.where == "CPU"
    cpu_build = plan(10, sizes_7b(), 4096, 512, False, [])
    assert cpu_build.gpu_layers == 10 and cpu_build.offloaded == 0 and "CPU build" in cpu_build.reason


# -- cores: simulated sysfs trees -----------------------------------------------------------

def _cpu_tree(root: Path, siblings: list[str], capacity: list[int] | None = None, p_cores: str | None = None) -> Path:
    cpus = root / "devices" / "system" / "cpu"
    for cpu, sib in enumerate(siblings):
        topology = cpus / f"cpu{cpu}" / "topology"
        topology.mkdir(parents=True)
        (topology / "thread_siblings_list").write_text(sib + "\n")
        if capacity:
            (cpus / f"cpu{cpu}" / "cpu_capacity").write_text(f"{capacity[cpu]}\n")
    if p_cores:
        (root / "devices" / "cpu_core").mkdir(parents=True)
        (root / "devices" / "cpu_core" / "cpus").write_text(p_cores + "\n")
    return cpus


def test_smt_siblings_are_one_core(tmp_path):
    cpus = _cpu_tree(tmp_path, ["0,4", "1,5", "2,6", "3,7", "0,4", "1,5", "2,6", "3,7"])
    counts = _linux(cpus)
    assert (counts.performance, counts.physical, counts.logical) == (4, 4, 8)


def test_intel_hybrid_generates_on_p_cores_only(tmp_path):
    # 6 P-cores with SMT (cpus 0-11) and 8 E-cores (12-19), as on a 12th-generation laptop chip
    siblings = [f"{2 * (c // 2)}-{2 * (c // 2) + 1}" for c in range(12)] + [str(c) for c in range(12, 20)]
    counts = _linux(_cpu_tree(tmp_path, siblings, p_cores="0-11"))
    assert (counts.performance, counts.physical, counts.logical) == (6, 14, 20)
    assert "P-cores" in counts.how


def test_arm_big_little_generates_on_the_big_cores(tmp_path):
    counts = _linux(_cpu_tree(tmp_path, [str(c) for c in range(8)], capacity=[446] * 4 + [1024] * 4))
    assert (counts.performance, counts.physical) == (4, 8)


def test_only_cpus_this_process_may_use_count(tmp_path):
    cpus = _cpu_tree(tmp_path, ["0,4", "1,5", "2,6", "3,7", "0,4", "1,5", "2,6", "3,7"])
    counts = _linux(cpus, allowed={0, 1, 4})
    assert (counts.physical, counts.logical) == (2, 3)
