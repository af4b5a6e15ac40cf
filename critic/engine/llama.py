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
import time
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from critic.core.errors import BadModelFile, ContextOverflow, EngineBusy, UsageError
from critic.core.gguf_check import check_mmproj, check_pair
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
from critic.engine.base import ModelInfo, Settings, Timings, TurnRecord, physical_cores
from critic.engine.prefix_cache import DamagedEntry, PrefixCache, entry_key

DEFAULT_CTX = 4096
MIN_CTX = 2048
"""The painting alone takes 576 positions, the system prompt and a question ~80 more."""

_SILENT = None


def silence_llama_logs() -> None:
    """Route llama.cpp's and libmtmd's log lines to nowhere (errors surface as exceptions)."""
    global _SILENT
    import llama_cpp
    import llama_cpp.mtmd_cpp as mtmd

    if _SILENT is None:
        _SILENT = llama_cpp.llama_log_callback(lambda level, text, data: None)
        llama_cpp.llama_log_set(_SILENT, ctypes.c_void_p(0))
        mtmd.mtmd_log_set(_SILENT, ctypes.c_void_p(0))
        mtmd.mtmd_helper_log_set(_SILENT, ctypes.c_void_p(0))


class LlamaEngine:
    """A GalleryGPT model loaded in this process."""

    def __init__(self, llm: Path, mmproj: Path, info: ModelInfo, n_ctx: int = DEFAULT_CTX,
                 threads: int | None = None, n_batch: int = 512, patch0: Path | None = None,
                 cache: PrefixCache | None = None, files_sha256: dict | None = None) -> None:
        """Load the LLM and mmproj(s). `cache` keeps evaluated painting prefixes on disk; it is
        used only when `files_sha256` identifies the files (as `from_folder` does)."""
        llm_header, mm_header = check_pair(llm, mmproj)  # never hand llama.cpp a file it would abort on
        if patch0 is not None:
            self._check_patch0(mm_header, check_mmproj(patch0))
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
        import llama_cpp
        import llama_cpp.mtmd_cpp as mtmd

        silence_llama_logs()
        self.info = info
        self._mtmd = mtmd
        self._llama_cpp = llama_cpp
        threads = threads or physical_cores()
        started = time.perf_counter()
        try:
            self.llama = llama_cpp.Llama(
                model_path=str(llm), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                n_batch=n_batch, n_ubatch=n_batch, verbose=False,
            )
        except ValueError as err:
            raise BadModelFile(f"{llm}: llama.cpp could not load it ({err})") from None
        self.ctx = self.patch0_ctx = None
        try:
            self.ctx = self._load_mmproj(mmproj, threads)
            if patch0 is not None:
                self.patch0_ctx = self._load_mmproj(patch0, threads)
        except BaseException:
            self.close()  # the LLM and a loaded mmproj are freed now, not at garbage collection
            raise
        self.load_seconds = time.perf_counter() - started
        self.n_ctx = self.llama.n_ctx()
        self.eos = self.llama.token_eos()
        self.bos = self.llama.token_bos()
        self._owner: LlamaSession | None = None
        self._answering: LlamaSession | None = None  # the session whose answer is being generated
        self.cache = cache if files_sha256 else None
        self.notices: list[str] = []
        """One-line notes for the user (a damaged prefix-cache entry dropped)."""
        self.fingerprint = {
            **(files_sha256 or {}), "layout": "exact" if self.exact else fields.get("critic.class_token_layout", "stock"),
            "preprocess": self.preprocess, "prompt": PROMPT_FORMAT, "head": head_text(), "legacy": self.legacy,
            "n_ctx": self.n_ctx, "n_batch": n_batch, "kv": "f16",
        }

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

    def restore_prefix(self, image_sha256: str) -> bool:
        """Put a painting's cached prefix (system prompt + image) in the context; False if none. An
        entry that does not hold up, here or in llama.cpp, is deleted and a notice says so."""
        if not self.cache or not image_sha256:
            return False
        key = entry_key(self.fingerprint, image_sha256)
        try:
            entry = self.cache.load(key, max_tokens=self.n_ctx)
            if entry is None:
                return False
            buffer = (ctypes.c_uint8 * len(entry.state)).from_buffer(entry.state)
            if self._llama_cpp.llama_state_seq_set_data(self.llama._ctx.ctx, buffer, len(entry.state), 0) == 0:
                self.cache.drop(key, "llama.cpp refused its state")
            held = self._positions()
            if held != entry.n_tokens:
                self.cache.drop(key, f"it records {entry.n_tokens} positions, its state holds {held}")
        except DamagedEntry as err:
            self.llama._ctx.kv_cache_clear()
            self.notices.append(str(err))
            return False
        head = [self.bos, *self.tokenize(head_text())]
        self.llama.input_ids[: len(head)] = head
        self.llama.n_tokens = entry.n_tokens
        return True

    def save_prefix(self, image_sha256: str) -> None:
        """Keep the evaluated prefix now in the context for the next time this painting comes."""
        if not self.cache or not image_sha256:
            return
        ctx = self.llama._ctx.ctx
        size = self._llama_cpp.llama_state_seq_get_size(ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = self._llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        if written and self._positions() == self.llama.n_tokens:
            self.cache.store(entry_key(self.fingerprint, image_sha256), memoryview(buffer)[:written],
                             self.llama.n_tokens)

    def _positions(self) -> int:
        """How many positions sequence 0 holds in llama.cpp's memory (its highest position + 1)."""
        memory = self._llama_cpp.llama_get_memory(self.llama._ctx.ctx)
        return self._llama_cpp.llama_memory_seq_pos_max(memory, 0) + 1

    @staticmethod
    def _check_patch0(main, patch0) -> None:
        """The patch-0 mmproj must be the main one's twin: same model, its own position table."""
        if patch0.fields.get("critic.class_token_layout") != "patch0":
            raise BadModelFile(f"{patch0.path}: not a patch-0 mmproj (critic.class_token_layout is "
                               f"{patch0.fields.get('critic.class_token_layout')!r})")
        if main.fields.get("critic.class_token_layout") != "rotated":
            raise BadModelFile(f"{main.path}: the exact layout needs the rotated mmproj beside the patch-0 one")
        if {k: v[0] for k, v in main.tensors.items()} != {k: v[0] for k, v in patch0.tensors.items()}:
            raise BadModelFile(f"{patch0.path}: its tensors differ in shape from {main.path}; not the same model")

    def _load_mmproj(self, path: Path, threads: int):
        mtmd = self._mtmd
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = True
        params.print_timings = False
        params.n_threads = threads
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

    def image_embeddings(self, picture) -> np.ndarray:
        """The N image-token rows the LLM gets; equal to LLaVA's patches 0..N-1 for an exact model."""
        main = self.encode(picture)
        if not self.exact:
            return main
        first = self.encode(roll_patches(picture, self.patch_size), self.patch0_ctx)
        return np.concatenate([first[:1], main[:-1]])

    def eval_image(self, image) -> float:
        """Preprocess and encode `image`, append its embeddings at the current position; return seconds."""
        started = time.perf_counter()
        picture = self.model_input(image)
        n_past = self._llama_cpp.llama_pos(0)
        with self.image_chunk(picture) as chunk:
            if self.exact:
                rows = np.ascontiguousarray(self.image_embeddings(picture), dtype=np.float32)
                result = self._mtmd.mtmd_helper_decode_image_chunk(
                    self.ctx, self.llama._ctx.ctx, chunk, rows.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                    self.llama.n_tokens, 0, self.llama.n_batch, ctypes.byref(n_past),
                    self._mtmd.mtmd_helper_post_decode_callback(), None)  # a NULL callback
            else:
                result = self._mtmd.mtmd_helper_eval_chunk_single(
                    self.ctx, self.llama._ctx.ctx, chunk, self.llama.n_tokens, 0,
                    self.llama.n_batch, False, ctypes.byref(n_past))
            if result != 0:
                raise ContextOverflow("llama.cpp could not evaluate the image (context too small?)")
            self.llama.n_tokens = n_past.value
        return time.perf_counter() - started

    def logits(self) -> np.ndarray:
        """Next-token logits after the last evaluated token."""
        ptr = self._llama_cpp.llama_get_logits_ith(self.llama._ctx.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.llama.n_vocab(),))

    def close(self) -> None:
        """Free the mmproj contexts and the model."""
        for name in ("ctx", "patch0_ctx"):
            if getattr(self, name, None):
                self._mtmd.mtmd_free(getattr(self, name))
                setattr(self, name, None)
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
        self.context_size = engine.n_ctx

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
        if engine.restore_prefix(sha):
            timings.prefix_restore = time.perf_counter() - started
        else:
            head = head_text() if self.image is not None else text_only_head_text()
            llama.eval([engine.bos, *engine.tokenize(head)])
            timings.prefill += time.perf_counter() - started
            if self.image is not None:
                timings.image_encode = engine.eval_image(self.image.image)
                self.image_encodes += 1
                engine.save_prefix(sha)
        self._prefix_end = llama.n_tokens
        dropped = 0
        while self._turn_ids and self._prefix_end + len(self._history_ids(self._turn_ids)) >= self.context_size:
            self._turn_ids.pop(0)  # restored turns longer than the context: keep the newest
            dropped += 1
        self._tell_dropped(dropped)
        self._replay(self._turn_ids, timings)

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
        engine, llama = self.engine, self.engine.llama
        settings = settings.for_answer()
        record = TurnRecord(question, seed=settings.seed)
        started = time.perf_counter()
        self._ensure_prefix(record.timings)
        ids = self._fit(question, settings, record.timings)
        t = time.perf_counter()
        llama.eval(ids)
        record.timings.prefill += time.perf_counter() - t
        prompt_end = record.timings.prompt_tokens = llama.n_tokens
        answer: list[int] = []
        text = _Utf8Stream()
        rng = np.random.default_rng(settings.seed)
        gen_start = time.perf_counter()
        try:
            while len(answer) < settings.max_tokens:
                token = sample(engine.logits(), settings, rng)
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
        """Forget the conversation (the engine's context is reused by the next session)."""
        if self.engine._owner is self:
            self.engine._owner = None
