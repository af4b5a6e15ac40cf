"""Turns a set of chat requests into stored answers: from the store when there, else sent.

Requests go out concurrently, up to each provider's `concurrency` at once, and each answer
is stored by the worker that received it before the set moves on. With `--batch` the
requests of a provider that takes batches go out as Batch-API jobs instead (annotate.batch),
and in any mode a request held by a batch in flight is waited for, never sent again. In plan
mode (dry run, status) nothing is sent: missing answers are counted with a rough token
estimate instead, priced live and through the Batch API.

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
from critic.annotate.batch import Batcher, BatchSettings
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
    """Requests of one stage, or of one stage and provider: found stored, sent (or, planning,
    to send), failed, their tokens and cost. Planning, `cost` is at live prices and
    `batch_cost` the same requests through the Batch API; running, `cost` is what was paid
    and `batched` how many went as batch lines."""

    stored: int = 0
    sent: int = 0
    failed: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    batch_cost: float = 0.0
    batched: int = 0


class Progress(Protocol):
    """What the runner reports progress to (one bar per stage, and notes on batches)."""

    def add(self, stage: str, total: int) -> None: ...
    def advance(self, stage: str) -> None: ...
    def note(self, text: str) -> None: ...


class NoProgress:
    """Progress that shows nothing."""

    def add(self, stage: str, total: int) -> None:
        return None

    def advance(self, stage: str) -> None:
        return None

    def note(self, text: str) -> None:
        return None


@dataclass
class Runner:
    """Resolves sets of jobs against the store, sending the missing ones when `send` (live, or
    as batches as `batch` says; None: live, without looking at batches)."""

    store: AnswerStore
    providers: Providers
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    send: bool = True
    progress: Progress = field(default_factory=NoProgress)
    seed: int | None = None
    batch: BatchSettings | None = None
    tallies: dict[str, Tally] = field(default_factory=dict)
    provider_tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._callers: dict[str, Caller] = {}
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._batcher: Batcher | None = None
        if not self.send:
            return
        rng = random.Random(self.seed)
        for provider in self.providers.used():
            if self.batch is not None and self.batch.mode == "files" and provider.batch:
                continue  # its requests are only written to files: no key, no connection
            self._callers[provider.name] = Caller(provider, self.policy, self._stop, random.Random(rng.random()))
            self._pools[provider.name] = ThreadPoolExecutor(
                provider.concurrency, thread_name_prefix=f"annotate-{provider.name}"
            )
        if self.batch is not None:
            self._batcher = Batcher(self.store, self._callers, self.batch, self.policy.retries, self._stop,
                                    self.progress, self._count_answer)

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

    def _count(self, stage: str, provider: str, **added: float) -> None:
        """Add to the counts of the stage and of the stage's provider."""
        with _TALLY_LOCK:  # workers of every provider update the same counts
            for tally in (self.tally(stage), self.provider_tallies.setdefault((stage, provider), Tally())):
                for name, value in added.items():
                    setattr(tally, name, getattr(tally, name) + value)

    def _count_answer(self, answer: Answer) -> None:
        """Count an answer that arrived (live, or from a batch at the batch price)."""
        key = answer.key
        self._count(key.stage, key.provider, sent=1, failed=0 if answer.ok else 1, tokens_in=answer.tokens_in,
                    tokens_out=answer.tokens_out, batched=1 if answer.via == "batch" else 0,
                    cost=self.providers[key.provider].cost(answer.tokens_in, answer.tokens_out,
                                                           batch=answer.via != "live"))

    def _batched(self, provider: str) -> bool:
        return (self.batch is not None and self.batch.mode in ("remote", "files")
                and self.providers[provider].batch)

    def resolve(self, jobs: list[Job]) -> list[Answer | None]:
        """Each job's answer, in order; None only in plan mode, for one not stored yet."""
        found: list[Answer | None] = [None] * len(jobs)
        missing: list[int] = []
        for i, job in enumerate(jobs):
            answer = self.store.get(job.key)
            if answer is not None and answer.ok:
                found[i] = self._judged(answer)
                self._count(job.stage, job.provider, stored=1)
            else:
                missing.append(i)
        if not self.send:
            self._estimate([jobs[i] for i in missing])
            return found
        for stage in dict.fromkeys(jobs[i].stage for i in missing):
            self.progress.add(stage, sum(1 for i in missing if jobs[i].stage == stage))
        if self._batcher is not None and missing:
            self._batcher.resolve([jobs[i] for i in missing], submit=False)  # what batches in flight hold
            missing = [i for i in missing if not self._stored(jobs[i], found, i)]
        self._send_live(jobs, [i for i in missing if not self._batched(jobs[i].provider)], found)
        batched = [i for i in missing if self._batched(jobs[i].provider)]
        if batched and self._batcher is not None:
            if self.batch is not None and self.batch.mode == "files":
                self._batcher.write_files([jobs[i] for i in batched])
            self._batcher.resolve([jobs[i] for i in batched], submit=True)
            for i in batched:
                if not self._stored(jobs[i], found, i):
                    found[i] = self.store.get(jobs[i].key) or Answer(jobs[i].key, jobs[i].kind, jobs[i].attempt,
                                                                     False, None, None, "no answer", via="batch")
        return found

    def _stored(self, job: Job, found: list[Answer | None], i: int) -> bool:
        """Whether the store now holds an answer for `job` (put in `found[i]`)."""
        answer = self.store.get(job.key)
        if answer is None or not answer.ok:
            return False
        found[i] = self._judged(answer)
        return True

    def _estimate(self, jobs: list[Job]) -> None:
        """Plan mode: count what the jobs would send and cost, live and as batches."""
        for job in jobs:
            provider = self.providers[job.provider]
            t_in, t_out = estimate_in(job.prompt), TYPICAL_OUT[job.stage]
            self._count(job.stage, job.provider, sent=1, tokens_in=t_in, tokens_out=t_out,
                        cost=provider.cost(t_in, t_out), batch_cost=provider.cost(t_in, t_out, batch=True))

    def _send_live(self, jobs: list[Job], indexes: list[int], found: list[Answer | None]) -> None:
        """Send the jobs at `indexes` live, concurrently; their answers into `found`."""
        futures: dict[Future[Answer], int] = {
            self._pools[jobs[i].provider].submit(self._fetch, jobs[i]): i for i in indexes
        }
        if not futures:
            return
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

    def _judged(self, answer: Answer) -> Answer:
        """A stored answer with the verdict of today's rules (written back if it changed)."""
        verdict = check(answer.key.stage, answer.text, answer.value)
        if verdict == answer.rejected:
            return answer
        if self.send:  # plan mode reads a read-only store and changes nothing
            self.store.set_rejected(answer.key, verdict)
        return replace(answer, rejected=verdict)

    def _fetch(self, job: Job) -> Answer:
        outcome = self._callers[job.provider].ask(job.body, PARSERS[job.stage])
        verdict = check(job.stage, outcome.text, outcome.value) if outcome.ok else None
        answer = Answer(job.key, job.kind, job.attempt, outcome.ok, outcome.value, outcome.text,
                        outcome.error, outcome.tokens_in, outcome.tokens_out, outcome.tries,
                        outcome.seconds, verdict)
        self.store.put(answer, job.body["messages"], job.model)
        self._count_answer(answer)
        self.progress.advance(job.stage)
        return answer


_TALLY_LOCK = threading.Lock()
