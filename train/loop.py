"""The training run: data checked, model built, steps taken with accelerate, checkpoints, the adapter.

A plain loop rather than HF Trainer: the model needs its own forward (image features spliced
between text embeddings), and resuming exactly is simplest when the data order is a function
of the step (train.order) and every piece of state is saved in one checkpoint folder.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from critic.core.errors import BadData, UsageError, require
from critic.core.images import file_sha256
from critic.core.store import JsonlLog, read_jsonl, write_atomic
from critic.train import checkpoints
from critic.train.config import CONFIG_NAME, TrainConfig, check_config, config_from_dict, differences, read_config_file
from critic.train.encode import Example, encode, hf_tokenizer, plain_encoder
from critic.train.order import Schedule, StepBatches
from critic.train.records import ScanReport, read_records, resolve_image, scan_images

LOG_NAME = "train-log.jsonl"
DATA_REPORT = "data-report.json"
DATA_INDEX = "data-index.json"
KILL_AFTER_STEP = "CRITIC_TRAIN_KILL_AFTER_STEP"
"""Fault injection for the resume test: the process kills itself (SIGKILL) after this step."""

DEEPSPEED_CONFIGS = Path(__file__).parent / "deepspeed"


# ---------------------------------------------------------------- configuration of a run


def resolve_config(config_file: str | None, overrides: dict, resume: bool) -> TrainConfig:
    """The config to run: file + flags, or for --resume the saved one with any compatible changes."""
    given = read_config_file(config_file) if config_file else {}
    given.update(overrides)
    if not resume:
        return config_from_dict(given, config_file or "flags")
    out = given.get("out")
    if not out:
        raise UsageError("--resume needs the run's --out folder")
    saved_path = Path(out) / CONFIG_NAME
    if not saved_path.exists():
        raise UsageError(f"{out}: no {CONFIG_NAME}, so no run to resume; start it without --resume")
    saved = config_from_dict(read_config_file(saved_path), str(saved_path))
    config = config_from_dict({**asdict(saved), **given}, config_file or "flags")
    changed = differences(saved, config)
    if changed:
        raise UsageError(f"--resume with different {', '.join(changed)} than the run in {out} was started with; "
                         "resume with the same settings, or start a new run in another --out")
    return config


def deepspeed_config_path(name: str) -> Path:
    """A shipped DeepSpeed config (zero2, zero3) or a JSON file."""
    shipped = DEEPSPEED_CONFIGS / f"{name}.json"
    if shipped.exists():
        return shipped
    path = Path(name)
    if not path.is_file():
        raise UsageError(f"--deepspeed {name}: neither zero2, zero3 nor a DeepSpeed JSON file")
    return path


def _prepare_out(out: Path, config: TrainConfig, resume: bool) -> None:
    """Refuse to write over another run; save the exact config used."""
    saved = out / CONFIG_NAME
    if not resume:
        if saved.exists():
            raise UsageError(f"{out} holds a training run: add --resume to continue it, or choose another --out")
        if out.exists() and any(out.iterdir()):
            raise UsageError(f"{out} exists and is not empty: choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(saved, config.to_json())


# ---------------------------------------------------------------- data


@dataclass
class Dataset:
    """The samples of a run and what was left out."""

    examples: list[Example]
    report: ScanReport
    data_sha256: str


def build_dataset(config: TrainConfig, tokenize, bos_id: int, eos_id: int, image_tokens: int,
                  index: list[int] | None = None, legacy: bool = False) -> Dataset:
    """Read, check and tokenize the data; `index` (from a run being resumed) fixes which records are used."""
    sha = file_sha256(Path(config.data))
    records = read_records(config.data)
    if index is None:
        usable, report = scan_images(records, config.image_root, config.fail_on_bad_images)
    else:
        if max(index, default=-1) >= len(records):
            raise BadData(f"{config.data}: fewer records than when the run began")
        report = ScanReport(records=len(records))
        root = Path(config.image_root)
        usable = [(records[i], resolve_image(root, records[i].image)) for i in index]
    examples = []
    for record, path in usable:
        example = encode(record.index, path, record.turns, tokenize, bos_id, eos_id, image_tokens, config.max_length,
                         legacy)
        if example is None:
            report.truncated += 1
            report.no_answer_left += 1
            continue
        if example.truncated:
            report.truncated += 1
            if len(report.truncated_examples) < 20:
                report.truncated_examples.append(record.id)
        examples.append(example)
    report.usable = len(examples)
    return Dataset(examples, report, sha)


# ---------------------------------------------------------------- the run


@dataclass
class RunResult:
    """What a finished (or already finished) run produced."""

    out: Path
    steps: int
    resumed_from: int
    report: ScanReport


def _make_accelerator(config: TrainConfig, out: Path):
    """An Accelerator for this config (with the DeepSpeed plugin when asked); `_build_model` sets its
    accumulation once the micro-batch is known."""
    from accelerate import Accelerator
    from accelerate.utils import DeepSpeedPlugin

    plugin = None
    if config.deepspeed:
        plugin = DeepSpeedPlugin(hf_ds_config=str(deepspeed_config_path(config.deepspeed)))
    accelerator = Accelerator(
        mixed_precision="bf16" if config.bf16 else "no",
        deepspeed_plugin=plugin,
        log_with=config.report_to or None,
        project_dir=str(out),
    )
    if plugin is not None:
        ds = accelerator.state.deepspeed_plugin.deepspeed_config
        ds["train_micro_batch_size_per_gpu"] = config.micro_batch_size
        if ds.get("gradient_clipping") == "auto":
            ds["gradient_clipping"] = config.max_grad_norm
    return accelerator


def _is_deepspeed(accelerator) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.DEEPSPEED


def trainable_state(accelerator, module) -> dict:
    """Trainable parameters as float32 CPU tensors (gathered from every rank under ZeRO-3)."""
    model = accelerator.unwrap_model(module)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if _is_deepspeed(accelerator):
        from deepspeed.utils import safe_get_full_fp32_param

        return {n: safe_get_full_fp32_param(p).detach().float().cpu().clone() for n, p in params}
    return {n: p.detach().float().cpu().clone() for n, p in params}


def _load_trainable(module, state: dict, source: Path) -> None:
    import torch

    from critic.core.errors import BadCheckpoint

    params = {n: p for n, p in module.named_parameters() if p.requires_grad}
    if set(params) != set(state):
        raise BadCheckpoint(f"{source}: the checkpoint's trainable tensors do not match this model's LoRA")
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(state[name])


def _scheduler(config: TrainConfig, optimizer, total: int):
    from transformers import get_scheduler

    name = {"constant": "constant_with_warmup"}.get(config.schedule, config.schedule)
    return get_scheduler(name, optimizer, num_warmup_steps=math.ceil(total * config.warmup_ratio),
                         num_training_steps=total)


def train(config: TrainConfig, resume: bool = False, show_progress: bool = True) -> RunResult:
    """Run (or resume) one training; return where the adapter is."""
    import torch

    from critic.llava.checkpoint import open_checkpoint
    from critic.train.model import ADAPTER_CONFIG, image_token_count, read_adapter, write_adapter

    accelerator, out = _open_run(config, resume)
    main = accelerator.is_main_process
    ckpt = open_checkpoint(config.base, config.vision_tower)
    image_tokens = image_token_count(ckpt)
    dataset, schedule, latest = _read_data(config, out, resume, ckpt, image_tokens, accelerator)
    total = schedule.total_steps
    start = 0
    lora_config, base_config = _adapter_settings(config, ckpt)
    if latest is not None:
        state = checkpoints.TrainerState.read(latest[1])
        if state.finished or state.step >= total:
            if main and not (out / ADAPTER_CONFIG).exists():  # killed between the last checkpoint and the export
                write_adapter(out, read_adapter(latest[1]), lora_config, base_config)
            return RunResult(out, state.step, state.step, dataset.report)

    torch.manual_seed(config.seed)
    longest = max(e.length(image_tokens) for e in dataset.examples)
    module, optimizer, scheduler, ckpt, micro = _build_model(config, ckpt, accelerator, total, longest,
                                                             image_tokens)
    if micro != schedule.micro_batch_size:
        schedule = replace(schedule, micro_batch_size=micro)
    if latest is not None:
        start = _restore(accelerator, module, latest)
    logger = _open_log(out, start, main)
    if config.report_to:
        accelerator.init_trackers("critic-train", config={k: str(v) if isinstance(v, list) else v
                                                          for k, v in asdict(config).items()})
    loader = _loader(config, dataset, ckpt, schedule, start, image_tokens, accelerator)
    saver = _Saver(out, accelerator, module, lora_config, base_config, total, dataset.data_sha256,
                   config.keep_checkpoints)
    progress = _Progress(show_progress and main, start, total, config.batch_size)
    with progress:
        _take_steps(config, schedule, start, accelerator, module, optimizer, scheduler, loader, saver, logger,
                    progress)
    if config.report_to:
        accelerator.end_training()
    return RunResult(out, total, start, dataset.report)


def _open_run(config: TrainConfig, resume: bool) -> tuple[object, Path]:
    """(accelerator, out folder): the config checked, the folder claimed and cleared of half-written checkpoints."""
    import torch

    from critic.train.memory import expandable_segments

    expandable_segments()
    check_config(config)
    if config.deepspeed:
        require("deepspeed", "deepspeed")
    if config.bf16 and not torch.cuda.is_available():
        raise UsageError("bf16 training needs a CUDA GPU; on a CPU add --no-bf16 (fp32)")
    out = Path(config.out)
    accelerator = _make_accelerator(config, out)
    if accelerator.is_main_process:
        _prepare_out(out, config, resume)
        checkpoints.clear_partial(out)
    accelerator.wait_for_everyone()
    return accelerator, out


def _read_data(config: TrainConfig, out: Path, resume: bool, ckpt, image_tokens: int,
               accelerator) -> tuple[Dataset, Schedule, tuple[int, Path] | None]:
    """(dataset, schedule, latest checkpoint or None): a resumed run reuses the records it began with.

    A new run saves its data report and the index of the records it uses; a resumed one reads
    the index back (refusing a changed data file) so the same samples come in the same order.
    """
    tokenizer = hf_tokenizer(config.base)
    latest = checkpoints.latest_checkpoint(out) if resume else None
    index_path = out / DATA_INDEX
    index = None
    if resume and index_path.exists():
        saved_index = json.loads(index_path.read_text())
        if saved_index["data_sha256"] != file_sha256(Path(config.data)):
            raise BadData(f"{config.data} changed since the run began; resume needs the same data file")
        index = saved_index["records"]
    dataset = build_dataset(config, plain_encoder(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id,
                            image_tokens, index, ckpt.tokenizer_legacy)
    schedule = Schedule(len(dataset.examples), config.batch_size, config.micro_batch_size,
                        accelerator.num_processes, config.max_steps, config.epochs, config.seed)
    problem = schedule.check()
    if problem:
        raise UsageError(f"{problem}: lower --batch-size or --micro-batch-size")
    if accelerator.is_main_process and index is None:
        write_atomic(out / DATA_REPORT, json.dumps(asdict(dataset.report), indent=2) + "\n")
        write_atomic(index_path, json.dumps({"data_sha256": dataset.data_sha256,
                                             "records": [e.record for e in dataset.examples]}) + "\n")
    elif index is not None and (out / DATA_REPORT).exists():
        dataset.report = ScanReport(**json.loads((out / DATA_REPORT).read_text()))
    return dataset, schedule, latest


def _adapter_settings(config: TrainConfig, ckpt) -> tuple[dict, Path | None]:
    """(adapter_config.json's content, the base's config.json to copy beside the adapter, or None)."""
    from critic.train.model import adapter_config

    base_config = Path(config.base) / "config.json" if ckpt.layout == "llava" else None
    lora_config = adapter_config(config.lora_rank, config.lora_alpha, config.lora_dropout, config.lora_targets,
                                 str(Path(config.base).resolve()))
    return lora_config, base_config


def _build_model(config: TrainConfig, ckpt, accelerator, total: int, longest: int, image_tokens: int):
    """(module, optimizer, scheduler, checkpoint, micro-batch): the base with LoRA, prepared by accelerate,
    its checkpointing (and, with ``auto``, its micro-batch) fitted to the device's memory.

    LoRA and the projector get their own learning rates; only the trainable tensors are
    saved in a checkpoint (in its adapter files), so accelerate's own model save and load
    are emptied by hooks.
    """
    import torch

    from critic.train.memory import set_checkpointed_layers
    from critic.train.model import LlavaTrainer, attach_lora, load_llava

    dtype = torch.bfloat16 if config.bf16 else torch.float32
    llava, ckpt = load_llava(ckpt, dtype=dtype)
    attach_lora(llava, config.lora_rank, config.lora_alpha, config.lora_dropout, config.lora_targets,
                config.train_projector)
    module = LlavaTrainer(llava, ckpt.vision.select_layer)
    micro = config.micro_batch_size
    layers = len(llava.model.language_model.layers)
    if config.gradient_checkpointing == "auto" and accelerator.device.type == "cuda" and not config.deepspeed:
        micro, checkpointed = _fit_memory(config, module, llava, ckpt, accelerator, longest, image_tokens, layers)
    else:
        checkpointed = 0 if config.gradient_checkpointing == "off" else layers
    set_checkpointed_layers(llava, checkpointed)
    # known only now that the processes are counted and the micro-batch chosen; accelerate reads it at prepare()
    accelerator.gradient_accumulation_steps = max(1, config.batch_size // (micro * accelerator.num_processes))
    lora_params = [p for n, p in module.named_parameters() if p.requires_grad and ".lora_" in n]
    projector_params = [p for n, p in module.named_parameters() if p.requires_grad and ".lora_" not in n]
    groups = [{"params": lora_params, "lr": config.learning_rate}]
    if projector_params:
        groups.append({"params": projector_params, "lr": config.projector_learning_rate or config.learning_rate})
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay, betas=(0.9, 0.999), eps=1e-8)
    scheduler = _scheduler(config, optimizer, total)
    module, optimizer = accelerator.prepare(module, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    # accelerate would save and reload the whole model's weights; only the trainable ones
    # change, and they are in the checkpoint's adapter files (DeepSpeed saves its own).
    accelerator.register_save_state_pre_hook(lambda models, weights, folder: weights.clear())
    accelerator.register_load_state_pre_hook(lambda models, folder: models.clear())
    return module, optimizer, scheduler, ckpt, micro


def _fit_memory(config: TrainConfig, module, llava, ckpt, accelerator, longest: int, image_tokens: int,
                layers: int) -> tuple[int, int]:
    """(micro-batch, checkpointed layers) that fit this device, measured on samples as long as the longest
    in the data (train/memory.py); printed, since the run's speed depends on it."""
    import torch

    from critic.train.memory import choose, device_budget, measure, probe_batch

    device = accelerator.device
    module.to(device)
    batch = config.batch_size // accelerator.num_processes

    def make_batch(size: int) -> dict:
        return probe_batch(size, longest, image_tokens, ckpt.vision.image_size, ckpt.llm.vocab, device)

    cost = measure(module, llava, make_batch, device, config.bf16)
    plan = choose(cost, device_budget(device), batch, config.micro_batch_size, layers)
    torch.cuda.empty_cache()
    if accelerator.is_main_process:
        print(f"gradient_checkpointing auto: {plan.describe()}", flush=True)
    return plan.micro_batch, plan.checkpointed_layers


def _restore(accelerator, module, latest: tuple[int, Path]) -> int:
    """Load the latest checkpoint's trainable tensors and accelerate state; return its step."""
    from critic.train.model import read_adapter

    step, folder = latest
    deepspeed = _is_deepspeed(accelerator)
    if not deepspeed:
        _load_trainable(accelerator.unwrap_model(module), read_adapter(folder), folder)
    kwargs = {"load_module_strict": False} if deepspeed else {}
    accelerator.load_state(str(folder / checkpoints.STATE_DIR), **kwargs)
    return step


def _open_log(out: Path, start: int, main: bool) -> JsonlLog | None:
    """The training log on the main process, cut back to the steps up to `start` (those after it are redone)."""
    log = out / LOG_NAME
    if not main:
        return None
    kept = [r for r in read_jsonl(log) if r.get("step", 0) <= start]
    write_atomic(log, "".join(json.dumps(r) + "\n" for r in kept))
    return JsonlLog(log)


def _loader(config: TrainConfig, dataset: Dataset, ckpt, schedule: Schedule, start: int, image_tokens: int,
            accelerator):
    """This process's batches from step `start` on, in the schedule's order."""
    import torch
    from torch.utils.data import DataLoader

    from critic.train.batch import Collate, Pixels, SampleSet

    pixels = Pixels(ckpt.vision.image_size, ckpt.vision.mean, ckpt.vision.std, ckpt.preprocess)
    return DataLoader(SampleSet(dataset.examples, pixels),
                      batch_sampler=StepBatches(schedule, start, accelerator.process_index),
                      collate_fn=Collate(image_tokens), num_workers=config.num_workers,
                      # its own generator: the workers' seed must not be drawn from the global RNG,
                      # whose state (LoRA dropout) a resumed run restores from the checkpoint.
                      generator=torch.Generator().manual_seed(config.seed))


@dataclass
class _Saver:
    """Writes a checkpoint of the run, every rank taking part; the last one also writes the adapter into `out`."""

    out: Path
    accelerator: object
    module: object
    lora_config: dict
    base_config: Path | None
    total: int
    data_sha256: str
    keep: int

    def save(self, step: int, finished: bool) -> None:
        """Checkpoint `step` in a partial folder, published (and old ones pruned) once whole."""
        from critic.train.model import write_adapter

        accelerator, out = self.accelerator, self.out
        main = accelerator.is_main_process
        deepspeed = _is_deepspeed(accelerator)
        part = checkpoints.part_dir(out, step)
        if main:
            part.mkdir(parents=True, exist_ok=True)
        accelerator.wait_for_everyone()
        state = trainable_state(accelerator, self.module)
        if main:
            write_adapter(part, state, self.lora_config, self.base_config)
        accelerator.save_state(str(part / checkpoints.STATE_DIR),
                               **({"exclude_frozen_parameters": True} if deepspeed else {}))
        accelerator.wait_for_everyone()
        if main:
            checkpoints.TrainerState(step, self.total, self.data_sha256, finished).write(part)
            checkpoints.publish(out, step)
            checkpoints.prune(out, self.keep)
            if finished:
                write_adapter(out, state, self.lora_config, self.base_config)
                checkpoints.TrainerState(step, self.total, self.data_sha256, True).write(out)
        accelerator.wait_for_everyone()


def _take_steps(config: TrainConfig, schedule: Schedule, start: int, accelerator, module, optimizer, scheduler,
                loader, saver: _Saver, logger: JsonlLog | None, progress: "_Progress") -> None:
    """The steps from `start` to the end: logged every `log_every`, checkpointed every `save_every`."""
    import torch

    total = schedule.total_steps
    kill_after = int(os.environ.get(KILL_AFTER_STEP, "0") or 0)
    module.train()
    batches = iter(loader)
    window: list = []
    for step in range(start, total):
        started = time.perf_counter()
        lr = scheduler.get_last_lr()[0]
        loss, grad_norm = _optimizer_step(accelerator, module, optimizer, batches, schedule.accumulation,
                                          config.max_grad_norm)
        scheduler.step()
        window.append(loss)
        done = step + 1
        if done % config.log_every == 0 or done == total:
            mean = accelerator.reduce(torch.stack(window).mean(), reduction="mean").item()
            record = {"step": done, "loss": round(mean, 6), "lr": lr, "epoch": round(done / schedule.steps_per_epoch, 4),
                      "grad_norm": None if grad_norm is None else round(float(grad_norm), 6),
                      "samples_per_s": round(config.batch_size / (time.perf_counter() - started), 3)}
            window = []
            if logger is not None:
                logger.append(record)
            accelerator.log({k: v for k, v in record.items() if v is not None and k != "step"}, step=done)
            progress.log(record)
        progress.advance(done)
        if done % config.save_every == 0 or done == total:
            saver.save(done, finished=done == total)
        if kill_after and done == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)


def _optimizer_step(accelerator, module, optimizer, batches, accumulation: int, max_grad_norm: float):
    """One optimizer step over `accumulation` micro-batches: (their mean loss, the gradient norm or None)."""
    import torch

    micro_losses = []
    grad_norm = None
    for _ in range(accumulation):
        batch = {k: v.to(accelerator.device) for k, v in next(batches).items()}
        with accelerator.accumulate(module):
            loss = module(**batch)
            accelerator.backward(loss)
            if accelerator.sync_gradients and max_grad_norm > 0:
                grad_norm = accelerator.clip_grad_norm_(
                    [p for p in module.parameters() if p.requires_grad], max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        micro_losses.append(loss.detach())
    return torch.stack(micro_losses).mean(), grad_norm


class _Progress:
    """A rich progress bar with loss and speed on the main process; silent elsewhere."""

    def __init__(self, enabled: bool, start: int, total: int, batch: int) -> None:
        self.enabled, self.start, self.total, self.batch = enabled, start, total, batch
        self._bar = None
        self._task = None

    def __enter__(self) -> "_Progress":
        if self.enabled:
            from critic.core.progress import counting_bar

            self._bar = counting_bar("training", "{task.fields[info]}")
            self._bar.__enter__()
            self._task = self._bar.add_task("train", total=self.total, completed=self.start, info="")
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def log(self, record: dict) -> None:
        if self._bar is not None:
            info = f"loss {record['loss']:.4f}  lr {record['lr']:.2e}  {record['samples_per_s']:.2f} samples/s"
            self._bar.update(self._task, info=info)
            if not self._bar.console.is_terminal:
                self._bar.console.print(f"step {record['step']}/{self.total}  {info}")

    def advance(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done)
