"""The second backend: the same requests sent to an OpenAI-compatible server.

For large batches on other machines: llama-server or vLLM serving GalleryGPT. The image
travels as a base64 data URL in the first user message; the server applies the model's
chat template. This backend is the only part of `critic analyze` that opens a socket,
and only when `--server URL` is given.

What a server cannot be made to honour: the exact token layout (its chat template builds
the prompt), how it preprocesses and encodes the picture (critic sends it padded to a
square, so a server that resizes then pads agrees with LLaVA), and `top_k` and `seed` on
servers that ignore those fields. Token counts and the stop reason come from the API's
``usage`` and ``finish_reason``; a server that sends no usage leaves the counts at 0.
"""

from __future__ import annotations

import base64
import io
import os
import time
from typing import Iterator

from PIL import Image

from critic.core.errors import ServerError
from critic.core.images import CLIP_MEAN, LoadedImage, load_image, pad_colour, pad_to_square
from critic.core.prompt import SYSTEM
from critic.engine.base import ModelInfo, Settings, TurnRecord

API_KEY_ENV = "CRITIC_SERVER_API_KEY"

RETRIES = 5
"""Retries of a request that failed with 429, 5xx, a timeout or a dropped connection (the
openai client's backoff: 0.5, 1, 2, 4, 8 s less jitter, or the server's Retry-After)."""


def image_data_url(image: LoadedImage, max_side: int = 1024) -> str:
    """The painting padded to a square as LLaVA trained (so a server that resizes then pads
    changes nothing), as a lossless PNG data URL, downscaled to `max_side` (the model sees 336 px)."""
    picture = pad_to_square(image.image, pad_colour(CLIP_MEAN))
    if max(picture.size) > max_side:
        picture = picture.resize((max_side, max_side), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    # the fastest zlib level: still lossless, and cheaper to encode (the client's time per
    # request, which --parallel cannot overlap on a small machine as it overlaps waiting)
    picture.save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


class ServerEngine:
    """A model behind an OpenAI-compatible endpoint."""

    def __init__(self, url: str, model: str | None = None, timeout: float = 600.0, retries: int = RETRIES) -> None:
        from openai import OpenAI

        self.url = url.rstrip("/")
        base = self.url if self.url.endswith("/v1") else self.url + "/v1"
        # the openai client retries 408/409/429/5xx, timeouts and dropped connections with
        # exponential backoff, waiting as long as a Retry-After (up to two minutes) asks;
        # it is safe to share between threads, so --parallel sends through this one client
        self.client = OpenAI(base_url=base, api_key=os.environ.get(API_KEY_ENV, "none"), timeout=timeout,
                             max_retries=retries)
        started = time.perf_counter()
        self.model = model or self._first_model()
        self.load_seconds = time.perf_counter() - started
        self.info = ModelInfo(self.model, backend=f"server {self.url}")

    def _first_model(self) -> str:
        import openai

        try:
            # a wrong URL or a server that is down should say so at once, not after the batch's retries
            models = self.client.with_options(max_retries=1).models.list().data
        except openai.APIError as err:
            raise ServerError(f"{self.url}: cannot list models ({err.__class__.__name__}); is the server up?") from None
        if not models:
            raise ServerError(f"{self.url}: the server serves no model")
        return models[0].id

    def open_session(self, image) -> "ServerSession":
        """Start a conversation about `image`."""
        loaded = load_image(image) if image is not None and not isinstance(image, LoadedImage) else image
        return ServerSession(self, loaded)

    def close(self) -> None:
        self.client.close()


_STOPPED = {"stop": "eos", "length": "max_tokens"}
"""The API's finish_reason in critic's words."""


class ServerSession:
    """A conversation kept client-side and resent each turn."""

    def __init__(self, engine: ServerEngine, image: LoadedImage | None) -> None:
        self.engine = engine
        self.image = image
        self._image_url: str | None = None
        self.turns: list[TurnRecord] = []
        self.image_encodes = 0
        self.notices: list[str] = []
        self.context_used = 0
        self.context_size = 0

    def _user(self, text: str, first: bool) -> dict:
        if first and self.image is not None:
            if self._image_url is None:  # encoded once per painting, however many questions follow
                self._image_url = image_data_url(self.image)
            return {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": self._image_url}},
                {"type": "text", "text": text}]}
        return {"role": "user", "content": text}

    def _messages(self, question: str) -> list[dict]:
        # GalleryGPT's system prompt sent explicitly: a server's own LLaVA template may default to another
        messages: list[dict] = [{"role": "system", "content": SYSTEM}]
        for i, turn in enumerate(self.turns):
            messages += [self._user(turn.question, i == 0), {"role": "assistant", "content": turn.answer}]
        messages.append(self._user(question, not self.turns))
        return messages

    def ask(self, question: str, settings: Settings) -> Iterator[str]:
        """Stream the server's answer."""
        import openai

        settings = settings.for_answer()
        record = TurnRecord(question, seed=settings.seed)
        started = time.perf_counter()
        pieces: list[str] = []
        try:
            stream = self.engine.client.chat.completions.create(
                model=self.engine.model, messages=self._messages(question), stream=True,
                max_tokens=settings.max_tokens, temperature=settings.temperature, top_p=settings.top_p,
                seed=settings.seed, stream_options={"include_usage": True},
                # not in OpenAI's API: llama-server, vLLM and SGLang read it; others ignore it
                extra_body={"top_k": settings.top_k},
            )
            self.image_encodes += 1 if self.image is not None else 0
            for chunk in stream:
                if chunk.usage is not None:
                    record.timings.generated_tokens = chunk.usage.completion_tokens or 0
                    record.timings.prompt_tokens = chunk.usage.prompt_tokens or 0
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                if choice.finish_reason:
                    record.stopped = _STOPPED.get(choice.finish_reason, choice.finish_reason)
                piece = choice.delta.content or ""
                if piece:
                    if not pieces:
                        record.timings.first_token = time.perf_counter() - started
                        piece = piece.lstrip(" ")
                    pieces.append(piece)
                    yield piece
            if not record.stopped:
                # every OpenAI-compatible server ends an answer with a finish_reason; a stream that
                # ends without one was cut off, and its text must not pass for a whole answer
                raise ServerError(f"{self.engine.url}: the server cut the answer off (no finish reason); "
                                  "llama_cpp.server does so when another request arrives, unless it runs with "
                                  "--interrupt_requests False")
        except GeneratorExit:
            record.partial = True
            record.stopped = "cancelled"
            raise
        except openai.APIError as err:
            raise ServerError(f"{self.engine.url}: {err.__class__.__name__}: {getattr(err, 'message', err)}") from None
        finally:
            record.answer = "".join(pieces)
            record.timings.generation = time.perf_counter() - started - record.timings.first_token
            self.turns.append(record)

    def rewind(self) -> TurnRecord | None:
        """Forget the last turn (the conversation is kept here and resent with each question)."""
        return self.turns.pop() if self.turns else None

    def close(self) -> None:
        return None
