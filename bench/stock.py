"""The stock side of the benchmarks: bare llama-cpp-python, `Llama` with its `Llava15ChatHandler`.

What a user of llama-cpp-python would write to ask about a painting: the picture goes in as a
PNG data URL in an OpenAI-style chat message, and every call clears the cache and encodes the
image again. Timing marks are taken the way critic's side takes them (synthetic.marking_logits):
once each time the sampler takes a token's logits, here through a logits processor.
"""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path


def open_stock(llm: Path, mmproj: Path, threads: int):
    """The stock `Llama` on the same files, context, threads and batch sizes as critic's engine."""
    from critic.engine.native import load_llama_cpp

    llama_cpp = load_llama_cpp()
    from llama_cpp.llama_chat_format import Llava15ChatHandler

    return llama_cpp.Llama(model_path=str(llm), n_ctx=4096, n_threads=threads, n_threads_batch=threads,
                           n_batch=512, n_ubatch=512,  # what critic's engine uses
                           chat_handler=Llava15ChatHandler(clip_model_path=str(mmproj), verbose=False),
                           verbose=False)


def image_turn(image, question: str) -> dict:
    """The user's first message: the picture as a PNG data URL, then the question."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                        {"type": "text", "text": question}]}


def answer(llama, messages: list[dict], tokens: int, marks: list[float]) -> str:
    """The streamed greedy answer to `messages`; the time is appended to `marks` at each token's logits."""
    from llama_cpp import LogitsProcessorList

    def mark(input_ids, scores):
        marks.append(time.perf_counter())
        return scores

    return "".join(chunk["choices"][0]["delta"].get("content") or ""
                   for chunk in llama.create_chat_completion(messages=messages, max_tokens=tokens, temperature=0.0,
                                                             stream=True, logits_processor=LogitsProcessorList([mark])))
