"""Reading a LLaVA-1.5 checkpoint lazily, in either layout, one tensor at a time.

Two layouts are understood:

- the original LLaVA layout (ShareGPT4V, GalleryGPT's base): ``config.json`` with
  ``mm_projector_type`` and LLaMA fields at the top level; tensors ``model.layers.*``,
  ``lm_head.weight``, ``model.mm_projector.{0,2}.*`` and, when the tower was saved with it,
  ``model.vision_tower.vision_tower.vision_model.*``; the vision tower otherwise comes from
  a separate ``CLIPVisionModel`` folder (``--vision-tower``);
- transformers' native ``LlavaForConditionalGeneration`` folder: ``text_config`` and
  ``vision_config`` in ``config.json``; tensors under ``language_model.*`` /
  ``model.language_model.*``, ``vision_tower.*`` and ``multi_modal_projector.linear_{1,2}.*``.

Every tensor is reached through a canonical name: ``llm:model.layers.0.self_attn.q_proj.weight``
style for the LLM, ``vision:vision_model.…`` for the tower, ``projector:0.weight`` for the
projector, so the writers never see the layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from critic.core.errors import BadCheckpoint
from critic.core.images import CLIP_MEAN, CLIP_STD
from critic.llava.tensors import TensorRef, TensorStore, read_json


@dataclass(frozen=True)
class LlmHparams:
    """LLaMA hyperparameters."""

    vocab: int
    hidden: int
    ffn: int
    layers: int
    heads: int
    kv_heads: int
    rms_eps: float
    rope_theta: float
    context: int


@dataclass(frozen=True)
class VisionHparams:
    """CLIP vision tower hyperparameters and its image preprocessing."""

    hidden: int
    ffn: int
    layers: int
    heads: int
    image_size: int
    patch_size: int
    eps: float
    act: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    select_layer: int = -2


# Original-layout and native-layout prefixes, mapped to canonical ones.
_LLM_PREFIXES = (("model.language_model.", "model."), ("language_model.model.", "model."),
                 ("language_model.lm_head.", "lm_head."), ("model.", "model."), ("lm_head.", "lm_head."))
_VISION_PREFIXES = ("model.vision_tower.vision_tower.", "model.vision_tower.", "vision_tower.", "")
_PROJECTOR_NAMES = {
    # original LLaVA: nn.Sequential(Linear, GELU, Linear)
    "model.mm_projector.0": "0", "model.mm_projector.2": "2",
    # transformers' LlavaMultiModalProjector
    "multi_modal_projector.linear_1": "0", "multi_modal_projector.linear_2": "2",
    "model.multi_modal_projector.linear_1": "0", "model.multi_modal_projector.linear_2": "2",
}


def canonical(name: str) -> str | None:
    """Canonical name of a checkpoint tensor, or None for one critic does not use."""
    module, _, leaf = name.rpartition(".")
    if module in _PROJECTOR_NAMES:
        return f"projector:{_PROJECTOR_NAMES[module]}.{leaf}"
    for prefix in _VISION_PREFIXES:
        if prefix and name.startswith(prefix):
            rest = name[len(prefix):]
            return "vision:" + (rest if rest.startswith("vision_model.") else "vision_model." + rest)
    if name.startswith("vision_model."):
        return "vision:" + name
    if "rotary_emb.inv_freq" in name:
        return None
    for old, new in _LLM_PREFIXES:
        if name.startswith(old):
            return "llm:" + new + name[len(old):]
    return "unknown:" + name


@dataclass
class Checkpoint:
    """A LLaVA checkpoint: hyperparameters and lazily loaded canonical tensors.

    `preprocess` is how training fed it pictures: ``pad`` (``image_aspect_ratio: pad``:
    pad to a square with the CLIP mean colour, then resize) or ``crop`` (CLIP's resize of
    the short side and centre crop). A native transformers folder carries no such field
    and is taken as ``pad``, LLaVA-1.5's training recipe (transformers' own LLaVA processor
    crops instead, a known difference from how those models were trained). `tokenizer_legacy` is the tokenizer's ``legacy``
    setting, which decides how text after ``</s>`` was tokenized (see critic.core.prompt).
    """

    path: Path
    layout: str
    llm: LlmHparams
    vision: VisionHparams
    tokenizer_model: Path
    tensors: dict[str, TensorRef] = field(default_factory=dict)
    preprocess: str = "pad"
    tokenizer_legacy: bool = False

    def names(self, kind: str) -> list[str]:
        """Canonical names of one kind (`llm`, `vision`, `projector`), in checkpoint order."""
        return [n for n in self.tensors if n.startswith(kind + ":")]

    def load(self, name: str):
        """A whole canonical tensor as float32 torch."""
        return self.tensors[name].load()

    def shape(self, name: str) -> tuple[int, ...]:
        """A canonical tensor's shape."""
        return self.tensors[name].shape

    def override(self, name: str, ref: TensorRef, source: Path) -> None:
        """Replace a tensor (the projector from a LoRA's non_lora_trainables)."""
        if name not in self.tensors:
            raise BadCheckpoint(f"{source}: replaces '{name.split(':', 1)[1]}', which the base does not have")
        if ref.shape != self.tensors[name].shape:
            raise BadCheckpoint(
                f"{source}: shape mismatch for {name.split(':', 1)[1]}: base {self.tensors[name].shape}, "
                f"here {ref.shape}; it was trained on another base"
            )
        self.tensors[name] = ref


def _llm_hparams(cfg: dict) -> LlmHparams:
    try:
        heads = cfg["num_attention_heads"]
        return LlmHparams(
            vocab=cfg["vocab_size"], hidden=cfg["hidden_size"], ffn=cfg["intermediate_size"],
            layers=cfg["num_hidden_layers"], heads=heads, kv_heads=cfg.get("num_key_value_heads") or heads,
            rms_eps=cfg.get("rms_norm_eps", 1e-5), rope_theta=cfg.get("rope_theta", 10000.0),
            context=cfg.get("max_position_embeddings", 4096),
        )
    except KeyError as err:
        raise BadCheckpoint(f"config.json lacks the LLaMA field {err}") from None


def _vision_hparams(cfg: dict, preprocessor: dict | None, select_layer: int) -> VisionHparams:
    preprocessor = preprocessor or {}
    try:
        return VisionHparams(
            hidden=cfg["hidden_size"], ffn=cfg["intermediate_size"], layers=cfg["num_hidden_layers"],
            heads=cfg["num_attention_heads"], image_size=cfg["image_size"], patch_size=cfg["patch_size"],
            eps=cfg.get("layer_norm_eps", 1e-5), act=cfg.get("hidden_act", "quick_gelu"),
            mean=tuple(preprocessor.get("image_mean", CLIP_MEAN)), std=tuple(preprocessor.get("image_std", CLIP_STD)),
            select_layer=select_layer,
        )
    except KeyError as err:
        raise BadCheckpoint(f"vision tower config lacks the CLIP field {err}") from None


def _check_folder(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise BadCheckpoint(f"{path}: no such folder ({what})")
    if not path.is_dir():
        raise BadCheckpoint(f"{path}: not a folder ({what})")
    if not (path / "config.json").exists():
        raise BadCheckpoint(f"{path}: no config.json, so not a {what} folder")
    return path


def tokenizer_legacy(folder: Path) -> bool:
    """The ``legacy`` setting of a checkpoint's LlamaTokenizer (transformers treats a missing one as true)."""
    path = Path(folder) / "tokenizer_config.json"
    legacy = read_json(path).get("legacy") if path.exists() else None
    return True if legacy is None else bool(legacy)


def _tower_names(tower: Path, tower_cfg: dict) -> set[str]:
    """What a CLIP folder calls itself: its folder name and its config's `_name_or_path`."""
    names = {tower.resolve().name}
    named = str(tower_cfg.get("_name_or_path") or "").rstrip("/")
    if named:
        names.add(named.rsplit("/", 1)[-1])
    return {n.lower() for n in names if n}


def check_tower(tower: Path, tower_cfg: dict, expected: str | None, allow_other: bool) -> None:
    """Refuse a tower that does not look like the one the checkpoint was trained with.

    ShareGPT4V fine-tuned its CLIP tower: OpenAI's clip-vit-large-patch14-336 has the same
    shapes and would convert without a complaint into a model that sees differently.
    """
    if not expected or allow_other:
        return
    wanted = expected.rstrip("/").rsplit("/", 1)[-1].lower()
    found = _tower_names(tower, tower_cfg)
    if wanted not in found:
        raise BadCheckpoint(
            f"{tower}: the checkpoint was trained with the vision tower '{expected}', but this folder calls "
            f"itself {' / '.join(sorted(found))}; give that tower's folder (same shapes are not the same "
            "weights), or add --allow-other-tower if you are sure"
        )


_PREPROCESS = {"pad": "pad", None: "crop", "square": "crop", "crop": "crop"}


def _llava_options(cfg: dict, base: Path) -> str:
    """Check the LLaVA config fields critic relies on; return the preprocessing they name."""
    if cfg.get("mm_projector_type", "mlp2x_gelu") != "mlp2x_gelu":
        raise BadCheckpoint(f"{base}: projector '{cfg['mm_projector_type']}' is not LLaVA-1.5's mlp2x_gelu")
    feature = cfg.get("mm_vision_select_feature", "patch")
    if feature != "patch":
        raise BadCheckpoint(f"{base}: mm_vision_select_feature '{feature}': llama.cpp's LLaVA graph hands the "
                            "LLM the patch features only ('patch')")
    if cfg.get("mm_use_im_start_end") or cfg.get("mm_use_im_patch_token"):
        raise BadCheckpoint(f"{base}: image start/end or patch tokens (mm_use_im_start_end / "
                            "mm_use_im_patch_token) are not LLaVA-1.5's format and are not supported")
    aspect = cfg.get("image_aspect_ratio")
    if aspect not in _PREPROCESS:
        raise BadCheckpoint(f"{base}: image_aspect_ratio '{aspect}' is not supported (pad, square or none)")
    return _PREPROCESS[aspect]


def open_checkpoint(base: str | Path, vision_tower: str | Path | None = None,
                    allow_other_tower: bool = False) -> Checkpoint:
    """Open a LLaVA checkpoint in either layout; raise BadCheckpoint naming what is wrong."""
    base = _check_folder(Path(base), "LLaVA checkpoint")
    cfg = read_json(base / "config.json")
    native = "text_config" in cfg and "vision_config" in cfg
    original = "mm_projector_type" in cfg or "mm_hidden_size" in cfg
    if not (native or original):
        raise BadCheckpoint(
            f"{base}: neither an original LLaVA checkpoint (mm_projector_type in config.json) "
            "nor a transformers LlavaForConditionalGeneration folder (text_config + vision_config)"
        )
    tokenizer = base / "tokenizer.model"
    if not tokenizer.exists():
        raise BadCheckpoint(f"{base}: no tokenizer.model (the SentencePiece vocabulary LLaVA-1.5 uses)")
    store = TensorStore(base)
    sources: list[tuple[TensorStore, str]] = [(store, n) for n in store.names()]

    if native:
        text_cfg = {**cfg["text_config"]}
        text_cfg.setdefault("vocab_size", cfg.get("vocab_size", 32000))
        llm = _llm_hparams(text_cfg)
        select = cfg.get("vision_feature_layer", -2)
        strategy = cfg.get("vision_feature_select_strategy", "default")
        if strategy != "default":
            raise BadCheckpoint(f"{base}: vision_feature_select_strategy '{strategy}': llama.cpp's LLaVA graph "
                                "hands the LLM the patch features only ('default')")
        if cfg.get("projector_hidden_act", "gelu") != "gelu":
            raise BadCheckpoint(f"{base}: projector activation '{cfg['projector_hidden_act']}' is not gelu")
        vision = _vision_hparams(cfg["vision_config"], _maybe_json(base / "preprocessor_config.json"), select)
        # LLaVA-1.5 trained on padded squares; a native folder says otherwise only if it says so
        preprocess = _PREPROCESS.get(cfg.get("image_aspect_ratio", "pad"), "crop")
        layout = "transformers"
    else:
        llm = _llm_hparams(cfg)
        preprocess = _llava_options(cfg, base)
        select = cfg.get("mm_vision_select_layer", -2)
        has_tower = any(n.startswith("model.vision_tower.") for n in store.names())
        if vision_tower is None and not has_tower:
            raise BadCheckpoint(
                f"{base}: this LLaVA checkpoint has no vision tower inside; "
                "give the CLIP folder it names in mm_vision_tower with --vision-tower "
                f"({cfg.get('mm_vision_tower') or 'a CLIP ViT-L/14-336'})"
            )
        if vision_tower is not None:
            tower = _check_folder(Path(vision_tower), "CLIP vision tower")
            tower_cfg = read_json(tower / "config.json")
            check_tower(tower, tower_cfg, cfg.get("mm_vision_tower"), allow_other_tower)
            tower_cfg = tower_cfg.get("vision_config", tower_cfg)
            vision = _vision_hparams(tower_cfg, _maybe_json(tower / "preprocessor_config.json"), select)
            tower_store = TensorStore(tower)
            sources = [(s, n) for s, n in sources if not n.startswith("model.vision_tower.")]
            sources += [(tower_store, n) for n in tower_store.names()]
        else:
            raise BadCheckpoint(f"{base}: give --vision-tower for the CLIP config of the embedded tower")
        layout = "llava"
    if select != -2:
        raise BadCheckpoint(f"{base}: vision feature layer {select}; llama.cpp's LLaVA graph uses the penultimate (-2)")

    ckpt = Checkpoint(base, layout, llm, vision, tokenizer, preprocess=preprocess,
                      tokenizer_legacy=tokenizer_legacy(base))
    unknown = []
    for source, name in sources:
        if source is not store and not _tower_name(name).startswith("vision_model."):
            continue  # a full CLIPModel folder also holds the text tower and projections
        canon = canonical(_tower_name(name) if source is not store else name)
        if canon is None or "text_model" in name:
            continue
        if canon.startswith("unknown:") or (canon.startswith("vision:") and "position_ids" in canon):
            if "position_ids" not in canon:
                unknown.append(name)
            continue
        ckpt.tensors[canon] = source.ref(name)
    if unknown:
        raise BadCheckpoint(f"{base}: tensors critic does not know how to convert: {', '.join(unknown[:5])}")
    for needed in ("projector:0.weight", "projector:2.weight", "llm:model.embed_tokens.weight",
                   "vision:vision_model.embeddings.patch_embedding.weight"):
        if needed not in ckpt.tensors:
            raise BadCheckpoint(f"{base}: the checkpoint lacks {needed.split(':', 1)[1]}")
    return ckpt


_CLIP_TOP = ("embeddings.", "encoder.", "pre_layrnorm.", "post_layernorm.")


def _tower_name(name: str) -> str:
    """A CLIP folder's tensor name with the `vision_model.` prefix some versions leave out."""
    return "vision_model." + name if name.startswith(_CLIP_TOP) else name


def _maybe_json(path: Path) -> dict | None:
    return read_json(path) if path.exists() else None
