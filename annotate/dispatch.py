"""Turns a batch of chat requests into stored answers: from the store when there, else sent.

Requests go out concurrently, up to each provider's `concurrency` at once, and each answer
is stored by the worker that received it before the batch moves on. In plan mode (dry run,
status) nothing is sent: missing answers are counted with a rough token estimate instead.

Every answer is judged by annotate.validate: on arrival, the reason it is not what the stage
asked for is stored with it; a stored answer is judged again when read, with the rules of the
code running now (a folder from an older version, or one judged by older rules, is brought up
to date: the new verdict is written back unless the store is read-only).
"""

from __future__ import annotations

import random
import threading
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Protocol

from critic.annotate.answer_store import Answer, AnswerStore, Key
from critic.annotate.client import Caller, Cancelled, RetryPolicy
from critic.annotate.prompts import PARSERS, TYPICAL_OUT, Prompt, estimate_in, prompt_sha
from critic.annotate.providers import Providers
from critic.annotate.validate import check


@dataclass(frozen=True)
class Job:
    """One request of one stage: which painting, which provider, what prompt."""

    stage: str
    painting: str
    provider: str
    model: str
    response_format: str
    kind: str
    attempt: int
    prompt: Prompt
    params: tuple[tuple[str, Any], ...] = ()

    @cached_property
    def body(self) -> dict[str, Any]:
        """The exact JSON body sent to the provider."""
        body = self.prompt.body(self.model, self.response_format)
        body.update(dict(self.params))
        return body

    @cached_property
    def key(self) -> Key:
        """Where its answer is stored."""
        return Key(self.stage, self.painting, self.provider, prompt_sha(self.body))


@dataclass
class Tally:
    """Requests of one stage: found stored, sent (or to send), failed, and their tokens."""

    stored: int = 0
    sent: int = 0
    failed: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0


class Progress(Protocol):
    """What the runner reports progress to (one bar per stage)."""

    def add(self, stage: str, total: int) -> None: ...
    def advance(self, stage: str) -> None: ...


class NoProgress:
    """Progress that shows nothing."""

    def add(self, stage: str, total: int) -> None:
        return None

    def advance(self, stage: str) -> None:
        return None


@dataclass
class Runner:
    """Resolves batches of jobs against the store, sending the missing ones when `send`."""

    store: AnswerStore
    providers: Providers
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    send: bool = True
    progress: Progress = field(default_factory=NoProgress)
    seed: int | None = None
    tallies: dict[str, Tally] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._callers: dict[str, Caller] = {}
        self._pools: dict[str, ThreadPoolExecutor] = {}
        if self.send:
            rng = random.Random(self.seed)
            for provider in self.providers.used():
                self._callers[provider.name] = Caller(
                    provider, self.policy, self._stop, random.Random(rng.random())
                )
                self._pools[provider.name] = ThreadPoolExecutor(
                    provider.concurrency, thread_name_prefix=f"annotate-{provider.name}"
                )

    def close(self) -> None:
        """Stop the workers and close connections."""
        self._stop.set()
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        for caller in self._callers.values():
            caller.close()

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def job(self, stage: str, painting: str, provider: str, kind: str, attempt: int, prompt: Prompt) -> Job:
        """A job for `provider`, with its model and settings."""
        p = self.providers[provider]
        return Job(stage, painting, provider, p.model, p.response_format, kind, attempt, prompt,
                   tuple(sorted(p.params.items())))

    def tally(self, stage: str) -> Tally:
        """The counts of one stage so far."""
        return self.tallies.setdefault(stage, Tally())

    def resolve(self, jobs: list[Job]) -> list[Answer | None]:
        """Each job's answer, in order; None only in plan mode, for one not stored yet."""
        found: list[Answer | None] = [None] * len(jobs)
        missing: list[int] = []
        for i, job in enumerate(jobs):
            answer = self.store.get(job.key)
            if answer is not None and answer.ok:
                found[i] = self._judged(answer)
                self.tally(job.stage).stored += 1
            else:
                missing.append(i)
        if not self.send:
            for i in missing:
                job = jobs[i]
                provider = self.providers[job.provider]
                tally = self.tally(job.stage)
                t_in, t_out = estimate_in(job.prompt), TYPICAL_OUT[job.stage]
                tally.sent += 1
                tally.tokens_in += t_in
                tally.tokens_out += t_out
                tally.cost += provider.cost(t_in, t_out)
            return found
        for stage in dict.fromkeys(jobs[i].stage for i in missing):
            self.progress.add(stage, sum(1 for i in missing if jobs[i].stage == stage))
        futures: dict[Future[Answer], int] = {
            self._pools[jobs[i].provider].submit(self._fetch, jobs[i]): i for i in missing
        }
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                error = future.exception()
                if error is not None and not isinstance(error, Cancelled):
                    raise error
            for future, i in futures.items():
                found[i] = future.result()
        except BaseException:
            self._stop.set()
            for future in futures:
                future.cancel()
            raise
        return found

    def _judged(self, answer: Answer) -> Answer:
        """A stored answer with the verdict of today's rules (written back if it changed)."""
        verdict = check(answer.key.stage, answer.text, answer.value)
        if verdict == answer.rejected:
            return answer
        if self.send:  # plan mode reads a read-only store and changes nothing
            self.store.set_rejected(answer.key, verdict)
        return replace(answer, rejected=verdict)

    def _fetch(self, job: Job) -> Answer:
        provider = self.providers[job.provider]
        outcome = self._callers[job.provider].ask(job.body, PARSERS[job.stage])
        verdict = check(job.stage, outcome.text, outcome.value) if outcome.ok else None
        answer = Answer(job.key, job.kind, job.attempt, outcome.ok, outcome.value, outcome.text,
                        outcome.error, outcome.tokens_in, outcome.tokens_out, outcome.tries,
                        outcome.seconds, verdict)
        self.store.put(answer, job.body["messages"], job.model)
        with _TALLY_LOCK:  # workers of every provider update the same counts
            tally = self.tally(job.stage)
            tally.sent += 1
            tally.failed += 0 if outcome.ok else 1
            tally.tokens_in += outcome.tokens_in
            tally.tokens_out += outcome.tokens_out
            tally.cost += provider.cost(outcome.tokens_in, outcome.tokens_out)
        self.progress.advance(job.stage)
        return answer


_TALLY_LOCK = threading.Lock()
