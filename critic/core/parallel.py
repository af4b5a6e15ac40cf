"""Several requests in flight against a server, each result handed back as it finishes.

`InFlight(work, items, parallel)` runs ``work(item)`` (a generator: one item may give
several results, e.g. one per perspective) for every item, at most `parallel` items at
once, and iterates over `Done` values in the order they finish. The caller writes each
one as it comes, so a kill loses only the requests in flight. With `parallel` 1 (the
local llama.cpp engine, which answers one request at a time) everything runs in the
calling thread, in input order, exactly as a plain loop would.

Hand-written rather than `concurrent.futures.ThreadPoolExecutor` because the executor's
threads are joined when the interpreter exits: after a Ctrl-C the process would wait for
every request in flight, up to the client's timeout, before it could stop. Here the
workers are daemon threads; `stop()` hands back the results that finished but were not
yet taken (so the caller can still write them) and the process can exit at once,
abandoning the requests in flight, which a rerun asks again.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterable, Iterator, TypeVar

DEFAULT_PARALLEL = 4
"""Requests in flight against a server when --parallel is not given."""

MAX_PARALLEL = 64
"""The most --parallel accepts: a bound, so a slip cannot open thousands of connections."""

T = TypeVar("T")


@dataclass
class Done(Generic[T]):
    """One result of `work(item)`, or the exception that ended it."""

    item: T
    value: Any = None
    error: BaseException | None = None


def check_parallel(parallel: int | None, server: str | None) -> int:
    """The requests to keep in flight: --parallel as given (checked), else 4 with a server, 1 without."""
    from critic.core.errors import UsageError

    if parallel is None:
        return DEFAULT_PARALLEL if server else 1
    if not 1 <= parallel <= MAX_PARALLEL:
        raise UsageError(f"--parallel must be between 1 and {MAX_PARALLEL}")
    if parallel > 1 and not server:
        raise UsageError("--parallel needs --server URL: the local llama.cpp engine answers one request at a time")
    return parallel


class InFlight(Generic[T]):
    """`work(item)` over `items`, at most `parallel` at once; iterate to get each `Done` as it finishes."""

    def __init__(self, work: Callable[[T], Iterable[Any]], items: Iterable[T], parallel: int = 1) -> None:
        self.work = work
        self.items = list(items)
        self.parallel = max(1, min(parallel, len(self.items) or 1))
        self._todo: queue.SimpleQueue = queue.SimpleQueue()
        self._results: queue.SimpleQueue = queue.SimpleQueue()
        self._stopped = threading.Event()

    def __iter__(self) -> Iterator[Done[T]]:
        if self.parallel == 1:
            yield from self._inline()
            return
        for item in self.items:
            self._todo.put(item)
        for n in range(self.parallel):
            threading.Thread(target=self._worker, name=f"critic-request-{n}", daemon=True).start()
        ended = 0
        while ended < self.parallel:  # each worker puts its results before its exit mark
            done = self._results.get()
            if done is _WORKER_EXIT:
                ended += 1
                continue
            yield done

    def _inline(self) -> Iterator[Done[T]]:
        for item in self.items:
            if self._stopped.is_set():
                return
            try:
                for value in self.work(item):
                    yield Done(item, value)
            except Exception as err:  # KeyboardInterrupt goes straight to the caller
                yield Done(item, error=err)

    def _worker(self) -> None:
        try:
            while not self._stopped.is_set():
                try:
                    item = self._todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    for value in self.work(item):
                        self._results.put(Done(item, value))
                        if self._stopped.is_set():
                            return
                except BaseException as err:  # handed to the caller, who decides
                    self._results.put(Done(item, error=err))
        finally:
            self._results.put(_WORKER_EXIT)

    def each(self, keep: Callable[[Any], None]) -> None:
        """Hand every result to `keep` as it finishes. The first error is raised; on it, or on any
        exception here (a Ctrl-C), the results that finished before the stop are kept as well."""
        try:
            for done in self:
                if done.error is not None:
                    raise done.error
                keep(done.value)
        except BaseException:
            for done in self.stop():
                if done.error is None:
                    keep(done.value)
            raise

    def stop(self) -> list[Done[T]]:
        """Hand out no more items; return the results that finished but were not taken yet."""
        self._stopped.set()
        left = []
        while True:
            try:
                done = self._results.get_nowait()
            except queue.Empty:
                return left
            if done is not _WORKER_EXIT:
                left.append(done)


_WORKER_EXIT: Any = object()
"""Put by each worker as it ends, so the waiting caller wakes and can tell when all have ended."""
