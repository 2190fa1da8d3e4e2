"""Rendering and verifying codes on several cores.

Rendering is CPU-bound Python (segno's mask selection, Pillow, zlib, zxing-cpp), so the work is
spread over processes, not threads. Results come back in the order of the input, so the bytes of
a batch do not depend on the number of processes. Processes are spawned, not forked: the caller
may be a Dagster run or hold database connections and threads a fork would copy.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor

from dz_assets.ecode.render import RenderedCode, Renderer

# Addresses per task sent to a worker: ~0.1-0.3 s of work, so the pickling of tasks and results
# stays under 1 % while both cores keep busy to the end of a small batch.
TASK_SIZE = 32
# Below this many codes a second process costs more (~0.5 s to spawn and import) than it saves.
MIN_PARALLEL = 200

_renderer: Renderer | None = None


def _init(renderer: Renderer) -> None:
    global _renderer
    _renderer = renderer


def _render_task(items: list[tuple[str, str]]) -> list[RenderedCode]:
    assert _renderer is not None
    return [_renderer.render(dzbm, dzmc) for dzbm, dzmc in items]


def _tasks(items: Iterable[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
    task: list[tuple[str, str]] = []
    for item in items:
        task.append(item)
        if len(task) == TASK_SIZE:
            yield task
            task = []
    if task:
        yield task


class RenderPool:
    """``with RenderPool(renderer, workers) as pool: pool.render(items)`` (items: (dzbm, dzmc))."""

    def __init__(self, renderer: Renderer, workers: int) -> None:
        self.renderer = renderer
        self.workers = max(1, workers)
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> RenderPool:
        return self

    def __exit__(self, *exc) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init, initargs=(self.renderer,))
        return self._executor

    def map(self, fn, *iterables):
        """``fn`` over the iterables on the pool's processes (in order); in this process when the
        pool has one worker."""
        if self.workers == 1:
            return map(fn, *iterables)
        return self._pool().map(fn, *iterables)

    def render(self, items: list[tuple[str, str]]) -> Iterator[RenderedCode]:
        """The rendered, verified codes in the order of ``items``; a CodeMismatch stops it."""
        if self.workers == 1 or len(items) < MIN_PARALLEL:
            for dzbm, dzmc in items:
                yield self.renderer.render(dzbm, dzmc)
            return
        for task in self._pool().map(_render_task, _tasks(items)):
            yield from task
