"""The in-process engine: llama.cpp through llama-cpp-python's Llama and libmtmd.

Why not the stock `Llava15ChatHandler`: it rebuilds the prompt from chat messages (losing
the exact spaces and newline of the Vicuna v1 format), clears the KV cache and encodes the
image again on every call. Here a session encodes its painting once; each later turn
evaluates only its own text after the cached prefix, in exactly the token layout of
`critic.core.prompt`. When the context would overflow, the oldest turns are dropped by
re-evaluating the kept turns' text after the image, never the image or the system prompt.

The picture. critic preprocesses it as LLaVA does (`critic.core.images.model_input`: pad to a
square, then resize) and hands llama.cpp exactly the model's input size, which llama.cpp
copies unchanged. With an ``exact`` model (a ``patch0`` mmproj beside the main one) the
image tokens are assembled here: llama.cpp's LLaVA graph (llama-cpp-python 0.3.36) drops
patch 0 and hands on the class token, so the main mmproj's rows 0..N-2 (patches 1..N-1,
its table rotated) follow the first row of a second encode of the picture with its patches
rolled one place on (patch 0); the N rows are then decoded as embeddings. See
convert/mmproj_gguf.py for the tables.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image

from critic.core.errors import BadModelFile, ContextOverflow, EngineBusy, UsageError
from critic.core.gguf_check import check_mmproj, check_pair, check_patch0
from critic.core.images import LoadedImage, load_image, model_input, roll_patches
from critic.core.prompt import (
    LEGACY_KEY,
    PROMPT_FORMAT,
    after_eos,
    first_question_text,
    head_text,
    later_question_text,
    text_only_head_text,
    text_only_question_text,
)
from critic.engine.base import ModelInfo, Settings, Timings, TurnRecord
from critic.engine.cores import default_threads
from critic.engine.native import load_llama_cpp
from critic.engine.offload import GpuLayers, model_sizes, plan
from critic.engine.prefix_cache import DamagedEntry, Entry, PrefixCache, entry_key

KV_TYPES = {"f16": "GGML_TYPE_F16", "q8_0": "GGML_TYPE_Q8_0"}
"""The KV cache types offered, by their llama_cpp constants."""
DEFAULT_CTX = 4096
DEFAULT_BATCH = 512
"""Positions llama.cpp reads per call (n_batch = n_ubatch); the GPU plan sizes its compute buffer by it."""
MIN_CTX = 2048
"""The painting alone takes 576 positions, the system prompt and a question ~80 more."""

_SILENT = None


Progress = Callable[[str, int, int], None]
"""Told (part, done, of) while a prompt is read: the parts below, in this order."""
ENCODING = "encoding the painting"
READING_IMAGE = "reading the painting into the model"
READING_TEXT = "reading the question"
IMAGE_BATCH = 128
"""Image positions per llama.cpp call: progress every 128 of the 576 (the calls cost the same in all)."""


_PARAMS_LOCK = threading.Lock()


@contextlib.contextmanager
def _weights_as_mapped(keep: bool) -> Iterator[None]:
    """While a `Llama` is built: llama.cpp's model defaults with ``use_extra_bufts`` off when `keep`
    (the weights used where the file is mapped, not repacked; see `LlamaEngine`'s `use_mmap`).
    llama-cpp-python does not expose the setting, so the defaults it starts from are wrapped for
    the length of the load."""
    if not keep:
        yield
        return
    import llama_cpp.llama_cpp as bindings  # the module whose defaults llama_cpp.Llama reads

    with _PARAMS_LOCK:
        defaults = bindings.llama_model_default_params

        def mapped_only():
            params = defaults()
            params.use_extra_bufts = False
            return params

        bindings.llama_model_default_params = mapped_only
        try:
            yield
        finally:
            bindings.llama_model_default_params = defaults


class EvalFailed(ContextOverflow):
    """llama.cpp refused to evaluate the image: the context is full, or on a GPU its memory."""


def silence_llama_logs() -> None:
    """Route llama.cpp's and libmtmd's log lines to nowhere (errors surface as exceptions)."""
    global _SILENT
    llama_cpp = load_llama_cpp()
    import llama_cpp.mtmd_cpp as mtmd

    if _SILENT is None:
        _SILENT = llama_cpp.llama_log_callback(lambda level, text, data: None)
        llama_cpp.llama_log_set(_SILENT, ctypes.c_void_p(0))
        mtmd.mtmd_log_set(_SILENT, ctypes.c_void_p(0))
        mtmd.mtmd_helper_log_set(_SILENT, ctypes.c_void_p(0))


class LlamaEngine:
    """A GalleryGPT model loaded in this process."""

    def __init__(self, llm: Path, mmproj: Path, info: ModelInfo, n_ctx: int = DEFAULT_CTX,
                 threads: int | None = None, n_batch: int = DEFAULT_BATCH, patch0: Path | None = None,
                 cache: PrefixCache | None = None, files_sha256: dict | None = None,
                 gpu_layers: GpuLayers = "auto", vision_cpu: bool = False, use_mmap: bool = False,
                 repack: bool = True, kv_cache: str = "f16") -> None:
        """Load the LLM and mmproj(s). `cache` keeps evaluated painting prefixes on disk; it is
        used only when `files_sha256` identifies the files (as `from_folder` does).

        `gpu_layers` and `vision_cpu` say where it runs (critic.engine.offload); `use_mmap` and
        `repack` how the weights are held (see `_load`); `kv_cache` the KV cache's type (``f16``, or
        ``q8_0`` with flash attention, which llama.cpp needs for a quantized V); `threads` is
        both thread counts, else the performance cores generate and every physical core reads
        the prompt (critic.engine.cores). A load that fails on the GPU is retried with fewer
        layers, then on the CPU, and `notices` says so."""
        llm_header, mm_header = check_pair(llm, mmproj)  # never hand llama.cpp a file it would abort on
        headers = [mm_header]
        if patch0 is not None:
            headers.append(check_mmproj(patch0))
            check_patch0(mm_header, headers[1])
        fields = mm_header.fields
        self.image_size = int(fields["clip.vision.image_size"])
        self.patch_size = int(fields["clip.vision.patch_size"])
        self.image_mean = tuple(fields["clip.vision.image_mean"])
        self.preprocess = str(fields.get("critic.preprocess", "pad"))
        self.legacy = bool(llm_header.fields.get(LEGACY_KEY, False))
        self.exact = patch0 is not None
        if n_ctx < MIN_CTX:
            raise UsageError(f"--ctx {n_ctx}: at least {MIN_CTX} (the painting alone takes "
                             f"{(self.image_size // self.patch_size) ** 2} positions, then the prompt, the question "
                             "and the answer)")
        llama_cpp = load_llama_cpp()
        import llama_cpp.mtmd_cpp as mtmd

        from critic.engine.devices import list_devices

        silence_llama_logs()
        self.info = info
        self._mtmd = mtmd
        self._llama_cpp = llama_cpp
        self.notices: list[str] = []
        """One-line notes for the user (a fallback from the GPU); the next answer's session passes them on."""
        self.threads, self.threads_batch = default_threads(threads)
        self.backends, devices = list_devices()
        self.gpus = [d for d in devices if d.is_gpu]
        if kv_cache not in KV_TYPES:
            raise UsageError(f"--kv-cache {kv_cache}: choose one of {', '.join(KV_TYPES)}")
        head = int(llm_header.fields["llama.embedding_length"]) // int(llm_header.fields["llama.attention.head_count"])
        if kv_cache == "q8_0" and head % 32:  # llama.cpp would fail to make the context, saying less
            raise UsageError(f"--kv-cache q8_0: this model's attention heads are {head} wide, and a q8_0 cache "
                             "stores blocks of 32 (GalleryGPT's are 128); use f16")
        self.kv_cache = kv_cache
        self.placement = plan(gpu_layers, model_sizes(llm_header, headers, kv_cache), n_ctx, n_batch,
                              bool(llama_cpp.llama_supports_gpu_offload()), self.gpus, vision_cpu)
        self._files = (llm, mmproj, patch0)
        self._writer: threading.Thread | None = None
        """The thread writing a prefix-cache entry (`save_prefix`)."""
        self._n_batch = n_batch
        self._use_mmap = use_mmap
        self._repack = repack
        self.llama = None
        self.ctx = self.patch0_ctx = None
        started = time.perf_counter()
        self._load(self.placement.gpu_layers, n_ctx)
        self.load_seconds = time.perf_counter() - started
        self.n_ctx = self.llama.n_ctx()
        self.eos = self.llama.token_eos()
        self.bos = self.llama.token_bos()
        self._owner: LlamaSession | None = None
        self._answering: LlamaSession | None = None  # the session whose answer is being generated
        self.cache = cache if files_sha256 else None
        self.fingerprint = {
            **(files_sha256 or {}), "layout": "exact" if self.exact else fields.get("critic.class_token_layout", "stock"),
            "preprocess": self.preprocess, "prompt": PROMPT_FORMAT, "head": head_text(), "legacy": self.legacy,
            "n_ctx": self.n_ctx, "n_batch": n_batch, "kv": kv_cache,
        }

    def _load(self, gpu_layers: int, n_ctx: int) -> None:
        """Load the LLM with `gpu_layers` offloaded, then the mmproj(s); on a failure with layers on
        the GPU, try half as many, then none (each time with a notice).

        The weights are read into memory (not mapped) and repacked there for llama.cpp's CPU kernels:
        one copy. llama.cpp's default maps the file and repacks beside it, two copies: at 7B Q4_K_M on
        two cores 10.8 GB peak for 5.4 GB of files and 2.1 GB of KV cache, against 7.8 GB read in;
        decoding 8.2 and 8.1 tok/s. Mapped without repacking is one copy too (7.75 GB) and reads
        the prompt faster (first token 15.9 s against 22.5 s) but decodes at 6.9 tok/s, 0.76 of
        what the memory bandwidth allows against 0.89 (bench/real_size.py --memory-rounds,
        interleaved, medians of two)."""
        llm, mmproj, patch0 = self._files
        while True:
            try:
                with _weights_as_mapped(not self._repack):
                    self.llama = self._llama_cpp.Llama(
                        model_path=str(llm), n_ctx=n_ctx, n_threads=self.threads,
                        n_threads_batch=self.threads_batch, n_batch=self._n_batch, n_ubatch=self._n_batch,
                        n_gpu_layers=gpu_layers, use_mmap=self._use_mmap, verbose=False, **self._kv_options(),
                    )
                break
            except ValueError as err:
                if gpu_layers <= 0 or not self.placement.has_gpu:
                    raise BadModelFile(f"{llm}: llama.cpp could not load it ({err})") from None
                gpu_layers = self._fell_back("loading the model")
        try:
            while True:
                try:
                    self.ctx = self._load_mmproj(mmproj, self.placement.vision_gpu)
                    if patch0 is not None:
                        self.patch0_ctx = self._load_mmproj(patch0, self.placement.vision_gpu)
                    break
                except BadModelFile:
                    if not self.placement.vision_gpu:
                        raise
                    self._free_mmproj()
                    self.notices.append("the vision encoder did not fit on the GPU: it runs on the CPU")
                    self.placement = replace(self.placement, vision_gpu=False)
        except BaseException:
            self.close()  # the LLM and a loaded mmproj are freed now, not at garbage collection
            raise

    def _kv_options(self) -> dict:
        """`Llama` keywords for the KV cache's type: none for F16 (llama-cpp-python's defaults, flash
        attention off); Q8_0 K and V with flash attention on."""
        if self.kv_cache == "f16":
            return {}
        kind = getattr(self._llama_cpp, KV_TYPES[self.kv_cache])
        return {"type_k": kind, "type_v": kind, "flash_attn": True}

    def _fell_back(self, during: str) -> int:
        """Half the layers on the GPU (none after one), said in a notice; the layers to load now."""
        tried = self.placement.gpu_layers
        fewer = tried // 2 if tried > 1 else 0
        where = f"with {fewer} layers on the GPU" if fewer else "on the CPU"
        self.notices.append(f"llama.cpp failed {during} with {tried} layers on the GPU (out of GPU memory?): "
                            f"running {where}")
        self.placement = replace(self.placement, gpu_layers=fewer, vision_gpu=self.placement.vision_gpu and fewer > 0,
                                 reason=f"fell back from {tried} layers ({during})")
        return fewer

    def fall_back(self, during: str) -> bool:
        """After a failure that may be the GPU's memory: reload with half the layers (then none)
        and the vision encoder on the CPU. False when nothing was on the GPU to take off."""
        if not self.placement.has_gpu or (self.placement.gpu_layers <= 0 and not self.placement.vision_gpu):
            return False
        n_ctx = self.n_ctx
        self._free_mmproj()
        self.llama.close()
        self.llama = None
        self._owner = None
        self._load(self._fell_back(during), n_ctx)
        return True

    def take_notices(self) -> list[str]:
        """The notices not yet shown, each handed out once."""
        notices, self.notices = self.notices, []
        return notices

    @property
    def runtime(self) -> dict:
        """Where answers are computed now: kept with every record, since backends differ slightly."""
        p = self.placement
        gpu = ", ".join(g.description or g.name for g in self.gpus) if p.offloaded > 0 or p.vision_gpu else ""
        return {"backend": "+".join(self.backends), "device": gpu or "CPU", "gpu_layers": p.offloaded,
                "layers": p.total_layers, "vision": "GPU" if p.vision_gpu else "CPU",
                "threads": self.threads, "threads_batch": self.threads_batch, "kv_cache": self.kv_cache}

    @property
    def closed(self) -> bool:
        """True once `close()` has freed the model."""
        return self.llama is None

    def _claim(self, session: "LlamaSession") -> None:
        """Refuse a second answer while one is in progress (they share one context), or after close."""
        if self.closed:
            raise EngineBusy("the model was closed; open it again to ask")
        if self._answering is not None:
            raise EngineBusy("the model is still answering another question: finish or stop that answer first")
        self._answering = session

    @classmethod
    def from_folder(cls, folder: Path, info: ModelInfo | None = None, **options) -> "LlamaEngine":
        """Load the model a `critic.json` folder describes (every file it names, in its layout)."""
        from critic.core.manifest import Manifest

        manifest = Manifest.read(Path(folder))
        info = info or ModelInfo(manifest.name, manifest.quantization, manifest.llm.sha256, manifest.mmproj.sha256,
                                 image_layout=manifest.class_token_layout)
        files = {"llm": manifest.llm.sha256, "mmproj": manifest.mmproj.sha256,
                 "patch0": manifest.patch0.sha256 if manifest.patch0 else None}
        return cls(*manifest.file_paths(Path(folder)), info, patch0=manifest.patch0_path(Path(folder)),
                   files_sha256=files, **options)

    def restore_prefix(self, image_sha256: str) -> Entry | None:
        """Put a painting's cached prompt (system prompt + image, and the tail: the last first question
        asked about it) in the context, `llama.n_tokens` at the prefix's end; None if there is none.
        An entry that does not hold up, here or in llama.cpp, is deleted and a notice says so."""
        if not self.cache or not image_sha256:
            return None
        self.finish_writes()
        key = entry_key(self.fingerprint, image_sha256)
        try:
            entry = self.cache.load(key, max_tokens=self.n_ctx)
            if entry is None:
                return None
            if entry.logits is not None and len(entry.logits) != self.llama.n_vocab():
                self.cache.drop(key, f"its {len(entry.logits)} logits are not the vocabulary's {self.llama.n_vocab()}")
            if any(i >= self.llama.n_vocab() for i in entry.tail):
                self.cache.drop(key, "its tail holds token ids past the vocabulary")
            buffer = (ctypes.c_uint8 * len(entry.state)).from_buffer(entry.state)
            if self._llama_cpp.llama_state_seq_set_data(self.llama._ctx.ctx, buffer, len(entry.state), 0) == 0:
                self.cache.drop(key, "llama.cpp refused its state")
            held = self._positions()
            if held != entry.n_tokens:
                self.cache.drop(key, f"it records {entry.n_tokens} positions, its state holds {held}")
        except DamagedEntry as err:
            self.llama._ctx.kv_cache_clear()
            self.notices.append(str(err))
            return None
        head = [self.bos, *self.tokenize(head_text())]
        self.llama.input_ids[: len(head)] = head
        self.llama.n_tokens = entry.prefix  # the tail's positions are dropped by the next eval unless reused
        return entry

    def save_prefix(self, image_sha256: str, tail: list[int] | None = None) -> None:
        """Keep the evaluated prompt now in the context for the next time this painting comes: the
        prefix, and with `tail` (the ids evaluated last, right after it) the tail and its logits.

        The state is copied out of llama.cpp here; the entry is written (checksummed, synced to disk,
        renamed) on a thread of its own while the answer is generated. At 7B that is ~330 MB, 0.5 to
        1.5 s on two cores and an SSD (bench/real_size.py), which would otherwise come before the
        first word. `finish_writes` waits for it: before a restore, when a session closes, on close."""
        if not self.cache or not image_sha256:
            return
        ctx = self.llama._ctx.ctx
        size = self._llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = self._llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        if written and self._positions() == self.llama.n_tokens:
            entry = (entry_key(self.fingerprint, image_sha256), memoryview(buffer)[:written], self.llama.n_tokens,
                     tuple(tail or ()), self.logits().copy() if tail else None)
            self.finish_writes()
            self._writer = threading.Thread(target=self._write_entry, args=entry, name="critic-prefix-cache")
            self._writer.start()

    def _write_entry(self, *entry) -> None:
        try:
            self.cache.store(*entry)
        except Exception as err:  # noqa: BLE001 - an entry not kept costs the next run time, never this answer
            self.notices.append(f"the painting was not kept in the prefix cache ({err})")

    def finish_writes(self) -> None:
        """Wait until the prefix-cache entry being written, if any, is on disk."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.join()

    def _positions(self) -> int:
        """How many positions sequence 0 holds in llama.cpp's memory (its highest position + 1)."""
        memory = self._llama_cpp.llama_get_memory(self.llama._ctx.ctx)
        return self._llama_cpp.llama_memory_seq_pos_max(memory, 0) + 1

    def _load_mmproj(self, path: Path, gpu: bool):
        mtmd = self._mtmd
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = gpu
        params.print_timings = False
        params.n_threads = self.threads_batch
        params.warmup = False
        ctx = mtmd.mtmd_init_from_file(str(path).encode(), self.llama.model, params)
        if not ctx:
            raise BadModelFile(f"{path}: llama.cpp could not load the mmproj")
        return ctx

    def tokenize(self, text: str) -> list[int]:
        """Plain SentencePiece encoding of one piece (leading ▁, no BOS), as in training."""
        return self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def tokenize_after_eos(self, text: str) -> list[int]:
        """The encoding of text right after ``</s>`` that the training tokenizer made."""
        return after_eos(self.tokenize, self.legacy)(text)

    def model_input(self, image: Image.Image) -> Image.Image:
        """The picture preprocessed as the model was trained, at its input size."""
        return model_input(image, self.image_size, self.image_mean, self.preprocess)

    def open_session(self, image: Path | LoadedImage | None) -> "LlamaSession":
        """Start a conversation about `image` (None for text only)."""
        loaded = load_image(image) if isinstance(image, (str, Path)) else image
        session = LlamaSession(self, loaded)
        self._owner = session
        return session

    @contextlib.contextmanager
    def image_chunk(self, image, ctx=None) -> Iterator[object]:
        """libmtmd's prepared image chunk for a PIL image (freed on exit), for `ctx` (the main mmproj)."""
        mtmd = self._mtmd
        ctx = ctx or self.ctx
        rgb = image.convert("RGB")
        data = rgb.tobytes()
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        bitmap = mtmd.mtmd_bitmap_init(rgb.width, rgb.height, buffer)
        chunks = mtmd.mtmd_input_chunks_init()
        try:
            text = mtmd.mtmd_input_text()
            text.text = mtmd.mtmd_default_marker()
            text.text_len = len(text.text)
            text.add_special = False
            text.parse_special = True
            bitmaps = (mtmd.mtmd_bitmap_p_ctypes * 1)(bitmap)
            if mtmd.mtmd_tokenize(ctx, chunks, ctypes.byref(text), bitmaps, 1) != 0:
                raise BadModelFile("llama.cpp could not prepare the image for this mmproj")
            for i in range(mtmd.mtmd_input_chunks_size(chunks)):
                chunk = mtmd.mtmd_input_chunks_get(chunks, i)
                if mtmd.mtmd_input_chunk_get_type(chunk) == mtmd.MTMD_INPUT_CHUNK_TYPE_IMAGE:
                    yield chunk
                    return
            raise BadModelFile("llama.cpp made no image chunk for this picture")
        finally:
            mtmd.mtmd_input_chunks_free(chunks)
            mtmd.mtmd_bitmap_free(bitmap)

    def encode(self, picture, ctx=None) -> np.ndarray:
        """One mmproj's output rows for a picture at the model's size: (image tokens, n_embd)."""
        mtmd = self._mtmd
        ctx = ctx or self.ctx
        with self.image_chunk(picture, ctx) as chunk:
            n = mtmd.mtmd_input_chunk_get_n_tokens(chunk)
            if mtmd.mtmd_encode_chunk(ctx, chunk) != 0:
                raise BadModelFile("llama.cpp could not encode the image with this mmproj")
            out = mtmd.mtmd_get_output_embd(ctx)
            return np.ctypeslib.as_array(out, shape=(n * self.llama.n_embd(),)).reshape(n, -1).copy()

    def image_embeddings(self, picture, progress: Progress | None = None) -> np.ndarray:
        """The N image-token rows the LLM gets; equal to LLaVA's patches 0..N-1 for an exact model."""
        encodes = 2 if self.exact else 1
        if progress:
            progress(ENCODING, 0, encodes)
        main = self.encode(picture)
        if not self.exact:
            return main
        if progress:
            progress(ENCODING, 1, encodes)
        first = self.encode(roll_patches(picture, self.patch_size), self.patch0_ctx)
        return np.concatenate([first[:1], main[:-1]])

    def eval_image(self, image, timings: Timings | None = None, progress: Progress | None = None) -> float:
        """Preprocess and encode `image`, append its embeddings at the current position; return seconds
        (the vision encoder's share goes to `timings.vision_encode` where it can be told apart).
        `progress` hears which part runs and how far (on a CPU the 7B's first answer takes a minute)."""
        started = time.perf_counter()
        picture = self.model_input(image)
        n_past = self._llama_cpp.llama_pos(0)
        with self.image_chunk(picture) as chunk:
            if self.exact:
                encoding = time.perf_counter()
                rows = np.ascontiguousarray(self.image_embeddings(picture, progress), dtype=np.float32)
                if timings is not None:
                    timings.vision_encode += time.perf_counter() - encoding
                total, done = len(rows), [0]

                def decoded(batch, _data) -> int:  # after each sub-batch of image positions
                    done[0] += batch.contents.n_tokens
                    if progress:
                        progress(READING_IMAGE, done[0], total)
                    return 0

                callback = self._mtmd.mtmd_helper_post_decode_callback(decoded)
                if progress:
                    progress(READING_IMAGE, 0, total)
                result = self._mtmd.mtmd_helper_decode_image_chunk(
                    self.ctx, self.llama._ctx.ctx, chunk, rows.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                    self.llama.n_tokens, 0, min(IMAGE_BATCH, self.llama.n_batch), ctypes.byref(n_past), callback,
                    None)
            else:
                if progress:
                    progress(ENCODING, 0, 1)
                result = self._mtmd.mtmd_helper_eval_chunk_single(
                    self.ctx, self.llama._ctx.ctx, chunk, self.llama.n_tokens, 0,
                    self.llama.n_batch, False, ctypes.byref(n_past))
            if result != 0:
                raise EvalFailed("llama.cpp could not evaluate the image (context too small?)")
            self.llama.n_tokens = n_past.value
        return time.perf_counter() - started

    def logits(self) -> np.ndarray:
        """Next-token logits after the last evaluated token."""
        ptr = self._llama_cpp.llama_get_logits_ith(self.llama._ctx.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.llama.n_vocab(),))

    def _free_mmproj(self) -> None:
        for name in ("ctx", "patch0_ctx"):
            if getattr(self, name, None):
                self._mtmd.mtmd_free(getattr(self, name))
                setattr(self, name, None)

    def close(self) -> None:
        """Finish writing the prefix cache, then free the mmproj contexts and the model."""
        if getattr(self, "_writer", None) is not None:
            self.finish_writes()
        self._free_mmproj()
        if getattr(self, "llama", None) is not None:
            self.llama.close()
            self.llama = None


def sample(logits: np.ndarray, settings: Settings, rng: np.random.Generator) -> int:
    """Greedy at temperature 0, else top-k / top-p sampling at the temperature."""
    if settings.temperature <= 0:
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64) / settings.temperature
    k = min(settings.top_k, scaled.size) if settings.top_k > 0 else scaled.size
    top = np.argpartition(-scaled, k - 1)[:k]
    top = top[np.argsort(-scaled[top])]
    probs = np.exp(scaled[top] - scaled[top[0]])
    probs /= probs.sum()
    if 0 < settings.top_p < 1:
        keep = int(np.searchsorted(np.cumsum(probs), settings.top_p) + 1)
        top, probs = top[:keep], probs[:keep] / probs[:keep].sum()
    return int(rng.choice(top, p=probs))


class _Utf8Stream:
    """Turns token byte pieces into text as they come: an incomplete UTF-8 sequence waits for
    its next bytes, an invalid one becomes U+FFFD, exactly as decoding the whole answer would."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.started = False

    def push(self, piece: bytes, final: bool = False) -> str:
        text = self.decoder.decode(piece, final)
        if not self.started and text:
            text = text.lstrip(" ")
            self.started = bool(text)
        return text

    def flush(self) -> str:
        """Whatever a trailing partial sequence decodes to."""
        return self.push(b"", final=True)


class LlamaSession:
    """A conversation about one painting, its prefix kept in llama.cpp's KV cache."""

    def __init__(self, engine: LlamaEngine, image: LoadedImage | None) -> None:
        self.engine = engine
        self.image = image
        self.turns: list[TurnRecord] = []
        self._turn_ids: list[tuple[str, list[int]]] = []  # question, answer ids
        self.image_encodes = 0
        self.notices: list[str] = []
        self._prefix_end: int | None = None
        self._tail: Entry | None = None
        """The restored entry while its tail (a first question and its logits) may still be reused."""
        self._save_after_question = False
        """The painting was read, not restored: keep it, with the first question, once that is read."""
        self.context_size = engine.n_ctx
        self.on_progress: Progress | None = None
        """Told which part of reading the prompt runs and how far, until the first token (see `Progress`)."""

    @property
    def context_used(self) -> int:
        """Context positions in use."""
        return self.engine.llama.n_tokens if self.engine._owner is self and self.engine.llama else 0

    def _question_ids(self, question: str, first: bool) -> list[int]:
        if not first:
            return self.engine.tokenize_after_eos(later_question_text(question))
        text = text_only_question_text(question) if self.image is None else first_question_text(question)
        return self.engine.tokenize(text)

    def _ensure_prefix(self, timings: Timings) -> None:
        """System prompt and image, evaluated once per session (again only if another session took the context)."""
        engine, llama = self.engine, self.engine.llama
        if self._prefix_end is not None and engine._owner is self:
            return
        engine._owner = self
        llama.reset()
        llama._ctx.kv_cache_clear()
        started = time.perf_counter()
        sha = self.image.sha256 if self.image is not None else ""
        restored = engine.restore_prefix(sha)
        self._tail = restored if restored is not None and restored.tail else None
        # an entry keeps the newest first question: rewritten below unless this one is its tail
        self._save_after_question = restored is not None and not self._turn_ids
        if restored is not None:
            timings.prefix_restore = time.perf_counter() - started
        else:
            head = head_text() if self.image is not None else text_only_head_text()
            llama.eval([engine.bos, *engine.tokenize(head)])
            timings.prefill += time.perf_counter() - started
            if self.image is not None:
                timings.image_encode = engine.eval_image(self.image.image, timings, self.on_progress)
                self.image_encodes += 1
                if self._turn_ids:
                    engine.save_prefix(sha)  # a resumed conversation: its first question was asked long ago
                else:
                    self._save_after_question = True
        self._prefix_end = llama.n_tokens
        dropped = 0
        while self._turn_ids and self._prefix_end + len(self._history_ids(self._turn_ids)) >= self.context_size:
            self._turn_ids.pop(0)  # restored turns longer than the context: keep the newest
            dropped += 1
        self._tell_dropped(dropped)
        self._replay(self._turn_ids, timings)

    def _reuse_tail(self, ids: list[int]):
        """When `ids` (the question about to be read) are the restored entry's tail, right after its
        prefix: take their positions as read, and return the logits kept after them. None otherwise."""
        entry, self._tail = self._tail, None
        llama = self.engine.llama
        if entry is None or tuple(ids) != entry.tail or llama.n_tokens != entry.prefix:
            return None
        llama.input_ids[entry.prefix: entry.n_tokens] = ids
        llama.n_tokens = entry.n_tokens
        return entry.logits

    def _history_ids(self, kept: list[tuple[str, list[int]]]) -> list[int]:
        """The token ids of finished turns after the prefix, in the training layout."""
        ids: list[int] = []
        for i, (question, answer) in enumerate(kept):
            # a later turn starts with the EOS that closed the answer before it
            ids += ([self.engine.eos] if i else []) + self._question_ids(question, first=i == 0) + answer
        return ids

    def _next_ids(self, question: str) -> list[int]:
        """The token ids that ask `question` after the finished turns."""
        if not self._turn_ids:
            return self._question_ids(question, first=True)
        return [self.engine.eos] + self._question_ids(question, first=False)

    def _tell_dropped(self, dropped: int) -> None:
        if dropped:
            self.notices.append(f"the context was full: dropped the {dropped} oldest turn(s); the painting is kept")

    def restore(self, turns: list[TurnRecord]) -> None:
        """Continue an earlier conversation: its turns are evaluated after the painting on the next question."""
        if self._prefix_end is not None:
            raise RuntimeError("restore() belongs before the session's first question")
        for record in turns:
            self._turn_ids.append((record.question, self.engine.tokenize(record.answer) if record.answer else []))
            self.turns.append(record)

    def rewind(self) -> TurnRecord | None:
        """Forget the last turn, to ask it again; the painting and the earlier turns stay evaluated."""
        if not self.turns:
            return None
        record = self.turns.pop()
        if self._turn_ids:
            self._turn_ids.pop()
        if self._prefix_end is not None and self.engine._owner is self:
            # llama.cpp drops the cache past n_tokens on the next eval
            self.engine.llama.n_tokens = self._prefix_end + len(self._history_ids(self._turn_ids))
        return record

    def _replay(self, kept: list[tuple[str, list[int]]], timings: Timings) -> None:
        """Evaluate finished turns' text after the prefix."""
        llama = self.engine.llama
        llama.n_tokens = self._prefix_end
        ids = self._history_ids(kept)
        if ids:
            started = time.perf_counter()
            llama.eval(ids)
            timings.prefill += time.perf_counter() - started

    def _fit(self, question: str, settings: Settings, timings: Timings) -> list[int]:
        """Token ids for the new question, dropping the oldest turns if the context would overflow.

        The drop is planned on a copy: when even dropping every turn cannot make room, the
        session is left as it was (its turns, the cache and `rewind` still agree).
        """
        ids = self._next_ids(question)
        if self.engine.llama.n_tokens + len(ids) + settings.max_tokens <= self.context_size:
            return ids
        kept = list(self._turn_ids)
        while kept:
            kept.pop(0)
            saved, self._turn_ids = self._turn_ids, kept
            ids, need = self._next_ids(question), len(self._history_ids(kept))
            self._turn_ids = saved
            if self._prefix_end + need + len(ids) + settings.max_tokens <= self.context_size:
                break
        else:
            room = self.context_size - self._prefix_end - len(self._question_ids(question, first=True))
            raise ContextOverflow(
                f"the question and --max-tokens {settings.max_tokens} do not fit the {self.context_size}-token "
                f"context after the painting: --max-tokens {max(room, 0)} at most with this question, "
                "or a larger --ctx"
            )
        dropped = len(self._turn_ids) - len(kept)
        self._turn_ids = kept
        self._replay(kept, timings)
        self._tell_dropped(dropped)
        return ids

    def ask(self, question: str, settings: Settings) -> Iterator[str]:
        """Stream the answer; closing the iterator (or Ctrl-C) stops generation and keeps the partial answer.

        One answer at a time per engine: asking while another answer is suspended, or after
        `engine.close()`, raises `EngineBusy` instead of touching a context in use or freed.
        """
        engine = self.engine
        engine._claim(self)
        try:
            yield from self._answer(question, settings)
        finally:
            engine._answering = None

    def _answer(self, question: str, settings: Settings) -> Iterator[str]:
        engine = self.engine
        settings = settings.for_answer()
        record = TurnRecord(question, seed=settings.seed)
        started = time.perf_counter()
        while True:
            try:
                self._ensure_prefix(record.timings)
                ids = self._fit(question, settings, record.timings)
                t = time.perf_counter()
                first_logits = self._reuse_tail(ids)
                if first_logits is not None:
                    self._save_after_question = False
                else:
                    if self.on_progress:
                        self.on_progress(READING_TEXT, 0, len(ids))
                    engine.llama.eval(ids)
                break
            except (RuntimeError, EvalFailed, BadModelFile) as err:
                # on a GPU this is most often its memory running out: fewer layers, then the CPU
                if not engine.fall_back(f"reading the prompt ({err})"):
                    raise
                self._prefix_end = None
                record.timings = Timings()
        self.notices.extend(engine.take_notices())
        llama = engine.llama
        record.runtime = engine.runtime
        if first_logits is None:  # a question reused from the cache was read in no time
            record.timings.prefill += time.perf_counter() - t
        if self._save_after_question and llama.n_tokens == self._prefix_end + len(ids):
            self._save_after_question = False
            engine.save_prefix(self.image.sha256, ids)
        prompt_end = record.timings.prompt_tokens = llama.n_tokens
        answer: list[int] = []
        text = _Utf8Stream()
        rng = np.random.default_rng(settings.seed)
        gen_start = time.perf_counter()
        try:
            while len(answer) < settings.max_tokens:
                logits, first_logits = (engine.logits() if first_logits is None else first_logits), None
                token = sample(logits, settings, rng)
                if not record.timings.first_token:  # logits ready: printable or not, the first token is here
                    record.timings.first_token = time.perf_counter() - started
                if token == engine.eos:
                    record.stopped = "eos"
                    break
                answer.append(token)
                # yield every token, even one that completes no character yet, so a
                # consumer can stop between any two tokens
                yield text.push(llama.detokenize([token]))
                if engine.closed:
                    raise EngineBusy("the model was closed during the answer")
                llama.eval([token])
            record.stopped = record.stopped or "max_tokens"
            tail = text.flush()
            if tail:
                yield tail
        except (GeneratorExit, KeyboardInterrupt):
            record.partial = True
            record.stopped = "cancelled"
            raise
        finally:
            if not engine.closed:
                # the cache must hold exactly the prompt and the recorded answer, however we got here
                missing = prompt_end + len(answer) - llama.n_tokens
                if missing > 0:
                    llama.eval(answer[-missing:])
                record.answer = llama.detokenize(answer).decode("utf-8", "replace").lstrip(" ")
            record.timings.generation = time.perf_counter() - gen_start
            record.timings.generated_tokens = len(answer)
            self._turn_ids.append((question, answer))
            self.turns.append(record)

    def close(self) -> None:
        """Forget the conversation (the engine's context is reused by the next session); a prefix-cache
        entry it started is on disk when this returns."""
        self.engine.finish_writes()
        if self.engine._owner is self:
            self.engine._owner = None
