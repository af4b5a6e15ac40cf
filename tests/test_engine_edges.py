"""The engine at its edges, on the real llama.cpp and the tiny model: overflow, interrupts, sharing, closing."""

from __future__ import annotations

import pytest

from critic.core.errors import BadModelFile, ContextOverflow, EngineBusy, UsageError
from critic.core.prompt import Turn, layout_tokens
from critic.engine.base import Settings
from critic.engine.llama import LlamaEngine


def _cache_ids(engine, session) -> list[int]:
    return engine.llama.input_ids[session._prefix_end: engine.llama.n_tokens].tolist()


def _expected_after_image(engine, session) -> list[int]:
    """The training layout of the session's finished turns after the image, as the session believes them."""
    ids: list[int] = []
    for i, (question, answer) in enumerate(session._turn_ids):
        ids += ([engine.eos] if i else []) + session._question_ids(question, first=i == 0) + answer
    return ids


def test_an_overflow_leaves_the_session_as_it_was(engine, painting):
    session = engine.open_session(painting)
    "".join(session.ask("What is here?", Settings(max_tokens=8)))
    "".join(session.ask("And the light?", Settings(max_tokens=8)))
    used, turns, ids = session.context_used, list(session.turns), list(session._turn_ids)
    with pytest.raises(ContextOverflow, match=r"--max-tokens \d+ at most"):
        list(session.ask("And the space?", Settings(max_tokens=5000)))
    assert session.turns == turns and session._turn_ids == ids and session.context_used == used
    assert session.notices == []
    assert _cache_ids(engine, session) == _expected_after_image(engine, session)
    "".join(session.ask("And the colour?", Settings(max_tokens=4)))  # a later turn, in the later-turn layout
    assert len(session._turn_ids) == 3
    assert _cache_ids(engine, session) == _expected_after_image(engine, session)
    session.rewind()
    assert session.context_used == session._prefix_end + len(_expected_after_image(engine, session))


def test_dropping_old_turns_tells_how_many_and_keeps_the_layout(tiny_gguf, painting):
    engine = LlamaEngine.from_folder(tiny_gguf, n_ctx=2048, threads=1)
    try:
        session = engine.open_session(painting)
        for question in ("What is here?", "And the light?", "And the space?"):
            "".join(session.ask(question, Settings(max_tokens=300)))
        room = session.context_size - session.context_used
        "".join(session.ask("And the colour?", Settings(max_tokens=room)))
        assert session.notices and all(" 0 " not in n for n in session.notices)
        assert _cache_ids(engine, session)[: len(_expected_after_image(engine, session))] \
            == _expected_after_image(engine, session)
    finally:
        engine.close()


def test_ctrl_c_mid_answer_records_a_cancelled_partial_turn(engine, painting, monkeypatch):
    session = engine.open_session(painting)
    real_eval = engine.llama.eval
    calls = {"n": 0}

    def interrupted_after_decoding(tokens):
        real_eval(tokens)  # the token is in the cache; the interrupt lands before Python returns
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(engine.llama, "eval", interrupted_after_decoding)
    with pytest.raises(KeyboardInterrupt):
        for _ in session.ask("What is here?", Settings(max_tokens=20)):
            pass
    monkeypatch.undo()
    record = session.turns[-1]
    assert record.stopped == "cancelled" and record.partial
    answer = session._turn_ids[-1][1]
    assert engine.llama.n_tokens == record.timings.prompt_tokens + len(answer)
    assert _cache_ids(engine, session) == _expected_after_image(engine, session)
    "".join(session.ask("And the light?", Settings(max_tokens=3)))
    assert _cache_ids(engine, session) == _expected_after_image(engine, session)


def test_one_answer_at_a_time_and_none_after_close(tiny_gguf, painting):
    engine = LlamaEngine.from_folder(tiny_gguf, n_ctx=2048, threads=1)  # its own: this test closes it
    try:
        first, second = engine.open_session(painting), engine.open_session(painting)
        stream = first.ask("What is here?", Settings(max_tokens=8))
        next(stream)
        with pytest.raises(EngineBusy, match="still answering"):
            next(second.ask("And here?", Settings(max_tokens=4)))
        stream.close()
        assert first.turns[-1].stopped == "cancelled"
        "".join(second.ask("And here?", Settings(max_tokens=4)))  # the context is free again

        stream = second.ask("And the light?", Settings(max_tokens=8))
        next(stream)
        engine.close()
        with pytest.raises(EngineBusy, match="closed"):
            next(stream)
        with pytest.raises(EngineBusy, match="closed"):
            next(first.ask("Again?", Settings(max_tokens=2)))
    finally:
        engine.close()


def test_streamed_text_equals_the_recorded_answer(engine, painting):
    session = engine.open_session(painting)
    for question in ("What is here?", "And the light?", "And the space?"):
        streamed = "".join(session.ask(question, Settings(max_tokens=40, temperature=0.9, seed=3)))
        record = session.turns[-1]
        assert streamed == record.answer
        assert record.timings.first_token > 0  # set at the first sampled token, printable or not


def test_a_small_context_is_refused_and_a_failed_mmproj_frees_the_llm(tiny_gguf, monkeypatch):
    with pytest.raises(UsageError, match="--ctx 1024: at least 2048"):
        LlamaEngine.from_folder(tiny_gguf, n_ctx=1024)

    import llama_cpp
    import llama_cpp.mtmd_cpp as mtmd

    closed = []
    real_close = llama_cpp.Llama.close
    monkeypatch.setattr(llama_cpp.Llama, "close", lambda self: (closed.append(True), real_close(self)))
    monkeypatch.setattr(mtmd, "mtmd_init_from_file", lambda *args: None)  # fault injection: llama.cpp refuses it
    with pytest.raises(BadModelFile, match="could not load the mmproj") as failure:
        LlamaEngine.from_folder(tiny_gguf, n_ctx=2048)
    assert closed  # freed by the failed constructor, while its frame (in `failure`) still holds the engine
    del failure


def test_the_layout_helper_agrees_with_the_session(engine, painting):
    """The session's own history ids are the training layout (a guard for the helpers above)."""
    session = engine.open_session(painting)
    "".join(session.ask("What is here?", Settings(max_tokens=6)))
    "".join(session.ask("And the light?", Settings(max_tokens=6)))
    turns = [Turn(q, None) for q, _ in session._turn_ids]
    layout = layout_tokens(engine.tokenize, engine.bos, engine.eos, turns[:1], legacy=engine.legacy)
    assert _cache_ids(engine, session)[: len(layout.after)] == layout.after


def test_time_to_first_token_is_the_first_sampled_token_even_if_not_printable(engine, painting, monkeypatch):
    """A first token that is half a UTF-8 character (a byte piece) still ends the wait for the first token."""
    import critic.engine.llama as llama_module

    lead_byte = next(i for i in range(engine.llama.n_vocab()) if engine.llama.detokenize([i]) == b"\xe2")
    monkeypatch.setattr(llama_module, "sample", lambda logits, settings, rng: lead_byte)
    session = engine.open_session(painting)
    pieces = list(session.ask("What is here?", Settings(max_tokens=1)))
    record = session.turns[-1]
    assert pieces[0] == "" and record.answer == "\ufffd"  # nothing printable until the flush
    assert record.timings.first_token > 0
