"""Candidate evaluation through Dask (dask.distributed), with the SQLite cache in front.

In-process by default (one worker thread); a LocalCluster of worker processes with
``workers > 1``; an existing cluster with ``scheduler="tcp://host:port"``. A worker that dies
or a fine-tune that diverges marks that candidate failed with its reason; the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

import dask
from distributed import Client, LocalCluster, as_completed

from codesign.cache import EvalCache
from codesign.core.errors import CodesignError
from codesign.quant.evaluate import FinetuneTask, run_finetune_task

LOOPBACK = "127.0.0.1"  # where the local cluster listens: never another machine's reach

# A failure that says something about the candidate itself is cached; one that says something
# about the infrastructure (a worker died) is not, so a later run tries again.
_DETERMINISTIC_FAILURES = ("fine-tune diverged",)

ResultHook = Callable[[FinetuneTask, dict[str, Any], bool], None]


class DaskEvaluator:
    """Context manager that runs `FinetuneTask`s on Dask and caches their results.

    `task_fn` is the function each worker runs (tests substitute one that crashes).
    """

    def __init__(
        self,
        cache: EvalCache | None = None,
        workers: int = 1,
        scheduler: str | None = None,
        task_fn: Callable[[FinetuneTask], dict[str, Any]] = run_finetune_task,
        *,
        dashboard: str | None = None,
    ) -> None:
        if workers < 1:
            raise CodesignError("--workers must be >= 1")
        self.cache = cache
        self.workers = workers
        self.scheduler = scheduler
        self.dashboard = dashboard
        self.task_fn = task_fn
        self.client: Client | None = None
        self._cluster: LocalCluster | None = None
        self.cache_hits = 0
        self.computed = 0
        self.failed = 0

    def __enter__(self) -> DaskEvaluator:
        return self

    def _start(self) -> None:
        """Connect to (or start) the Dask cluster; only when there is work for it."""
        settings: dict[str, Any] = {
            "distributed.scheduler.allowed-failures": 0,
            "distributed.worker.daemon": False,
            # Dask's scheduler and every worker always open an HTTP server; serve nothing on
            # it (no logs, call stacks, host or scratch paths) and bind it to loopback only
            "distributed.worker.http.routes": [],
        }
        if self.dashboard is None:
            settings["distributed.scheduler.http.routes"] = []
        with dask.config.set(settings):
            if self.scheduler is not None:
                try:
                    self.client = Client(self.scheduler, timeout="5s")
                except (OSError, ValueError, TypeError) as exc:
                    first = (str(exc).splitlines() or [""])[0]
                    raise CodesignError(
                        f"--scheduler {self.scheduler}: cannot connect: {first}"
                    ) from None
            else:
                try:
                    self._cluster = LocalCluster(
                        n_workers=self.workers,
                        threads_per_worker=1,
                        processes=self.workers > 1,
                        # worker processes talk over TCP on loopback; in-process ones over
                        # inproc:// (no socket)
                        **({"host": LOOPBACK} if self.workers > 1 else {}),
                        dashboard_address=self.dashboard or f"{LOOPBACK}:0",
                        worker_dashboard_address=f"{LOOPBACK}:0",
                        silence_logs=logging.ERROR,
                    )
                except OSError as exc:
                    what = f"--dashboard {self.dashboard}" if self.dashboard else "Dask"
                    raise CodesignError(f"{what}: cannot start a local cluster: {exc}") from None
                self.client = Client(self._cluster)

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def describe(self) -> str:
        """Where tasks run, in words."""
        if self.scheduler:
            return f"Dask cluster at {self.scheduler}"
        if self.workers == 1:
            return "Dask, in-process (1 worker)"
        return f"Dask LocalCluster ({self.workers} worker processes)"

    def run(
        self, tasks: Iterable[FinetuneTask], on_result: ResultHook | None = None
    ) -> dict[str, dict[str, Any]]:
        """Evaluate `tasks` (cache first); returns results by task key.

        `on_result(task, result, cached)` is called as each result arrives, so callers can
        save it at once.
        """
        results: dict[str, dict[str, Any]] = {}
        todo: list[FinetuneTask] = []
        for t in tasks:
            hit = self.cache.get(t.key) if self.cache is not None else None
            if hit is not None and hit.get("status") == "ok" and _artefact_missing(t):
                hit = None  # fine-tuned before models were kept: once more, to keep it
            if hit is not None:
                results[t.key] = hit
                self.cache_hits += 1
                if on_result:
                    on_result(t, hit, True)
            else:
                todo.append(t)
        if todo and self.client is None:
            self._start()
        by_key = {}
        futures = []
        for t in todo:
            fut = self.client.submit(self.task_fn, t, key=f"finetune-{t.key[:24]}", pure=False)
            by_key[fut.key] = t
            futures.append(fut)
        for fut in as_completed(futures) if futures else ():
            t = by_key[fut.key]
            try:
                res = fut.result()
            except Exception as exc:  # KilledWorker, CommClosedError, an exception in the task
                res = {
                    "status": "failed",
                    "accuracy": None,
                    "ptq_accuracy": None,
                    "final_loss": None,
                    "seconds": None,
                    "reason": f"worker failed: {type(exc).__name__}: {exc}".splitlines()[0],
                }
            self.computed += 1
            if res.get("status") != "ok":
                self.failed += 1
            cacheable = res.get("status") == "ok" or str(res.get("reason", "")).startswith(
                _DETERMINISTIC_FAILURES
            )
            if self.cache is not None and cacheable:
                self.cache.put(
                    t.key,
                    workload=t.workload,
                    base_hash=t.base_hash,
                    config=t.config,
                    recipe=asdict(t.recipe),
                    seed=t.seed,
                    result=res,
                )
            results[t.key] = res
            if on_result:
                on_result(t, res, False)
        return results


def _artefact_missing(task: FinetuneTask) -> bool:
    """True when `task` asks to keep its fine-tuned model and none is kept yet."""
    from codesign.quant.evaluate import artefact_path

    return task.artefact_dir is not None and not artefact_path(task.artefact_dir, task.key).exists()
