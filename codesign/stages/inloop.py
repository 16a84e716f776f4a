"""Fine-tunes inside the search (`--rescore-per-gen K`) and an estimator calibrated on them.

After each generation is scored, up to K of its new candidates that lie on the archive's
current front (measured losses where there are some, estimates elsewhere) are fine-tuned
through the Dask evaluator and the evaluation cache, spread along the first cost objective.
Each fine-tune is scored on the validation split, which decides, and on the test split, which
is reported. The estimator is then corrected by an isotonic (monotone) regression from its raw
loss to the measured validation loss, so the search ranks the next candidates on calibrated
estimates, and the strategy learns the measured loss of the candidates just measured.

When the search ends, the unmeasured points of its estimated front (up to `finetune_top`,
spread) are fine-tuned too, and the final front is built from measured candidates only: every
point shown as Pareto-optimal has a fine-tuned held-out accuracy, and its place on the front was
decided on the validation split, never on the test split it reports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.progress import Progress
from sklearn.isotonic import IsotonicRegression

from codesign.core.candidates import CandidateBatch, Rescore, Scores
from codesign.core.pareto import pareto_mask, spread
from codesign.core.protocols import AccuracyEstimator
from codesign.core.types import Objective
from codesign.distributed import DaskEvaluator
from codesign.quant.evaluate import FinetuneTask
from codesign.quant.train import evaluate
from codesign.search.archive import Archive
from codesign.stages.context import Context
from codesign.stages.estimators import finetune_task

MIN_POINTS = 3  # distinct estimates before the calibration replaces the identity
SPLITS = "val,test"  # decide on val, report test

INLOOP_HEADER = [
    "generation",
    "id",
    "status",
    "raw_est_loss_pp",
    "val_accuracy",
    "test_accuracy",
    "measured_loss_pp",
    "cached",
    "seconds",
]


class CalibratedEstimator:
    """An estimator whose losses go through a monotone map fitted to measured losses (the
    identity until `MIN_POINTS` distinct estimates have been measured)."""

    def __init__(self, inner: AccuracyEstimator) -> None:
        self.inner = inner
        self.raw: dict[bytes, float] = {}  # raw loss of each candidate scored (by its key)
        self._iso: IsotonicRegression | None = None
        self.points = 0

    def loss(self, batch: CandidateBatch) -> np.ndarray:
        """The calibrated loss [P] in percentage points (NaN stays NaN)."""
        raw = np.asarray(self.inner.loss(batch), dtype=np.float64)
        for k, r in zip(batch.keys(), raw):
            self.raw[k] = float(r)
        return self.apply(raw)

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """The calibration applied to raw losses."""
        if self._iso is None:
            return raw
        out = raw.copy()
        ok = np.isfinite(raw)
        if ok.any():
            out[ok] = self._iso.predict(raw[ok])
        return out

    def fit(self, pairs: list[tuple[float, float]]) -> None:
        """Fit the map to (raw estimated loss, measured loss) pairs."""
        pts = [(r, m) for r, m in pairs if np.isfinite(r) and np.isfinite(m)]
        self.points = len(pts)
        if len({r for r, _ in pts}) < MIN_POINTS:
            self._iso = None
            return
        r, m = np.array(pts).T
        self._iso = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(r, m)


class InLoopRescorer:
    """The `GenerationHook` of `--rescore-per-gen` (see the module docstring)."""

    def __init__(
        self,
        ctx: Context,
        archive: Archive,
        estimator: CalibratedEstimator,
        ev: DaskEvaluator,
        progress: Progress,
    ) -> None:
        self.ctx = ctx
        self.archive = archive
        self.estimator = estimator
        self.ev = ev
        self.progress = progress
        self.k = ctx.config.rescore_per_gen
        objs = ctx.objectives
        self.loss_col = objs.index(Objective.ACCURACY_LOSS)
        self.cost_col = next(i for i, o in enumerate(objs) if o != Objective.ACCURACY_LOSS)
        self.fp_val = evaluate(ctx.model, ctx.data.val)  # the estimators' reference
        self.measured: dict[int, dict[str, Any]] = {}
        self.computed = self.from_cache = 0
        self.bar = progress.add_task("fine-tunes in the search", total=None)

    # ---- the hook --------------------------------------------------------------------------

    def __call__(self, generation: int, ids: np.ndarray, scores: Scores) -> Scores:
        """Measure up to K new front candidates; calibrate; the measured losses to the strategy."""
        F = self.current_objectives()
        front = pareto_mask(F, self.archive.feasible())
        new = [
            int(i)
            for i in np.unique(ids)
            if self.archive.generation(int(i)) == generation
            and front[i]
            and int(i) not in self.measured
        ]
        new.sort(key=lambda i: F[i, self.cost_col])
        self.measure([new[j] for j in spread(len(new), self.k)], generation)
        out = scores.objectives.copy()
        for r, i in enumerate(ids):
            m = self.measured.get(int(i))
            if m is not None:
                out[r, self.loss_col] = m["loss"]
        return Scores(out, scores.violation, scores.costs, scores.accuracy_loss)

    def state(self) -> dict[str, Any]:
        """What was measured (the calibration is refitted from it)."""
        return {"measured": dict(self.measured)}

    def restore(self, state: dict[str, Any]) -> None:
        """Go back to a `state()` snapshot."""
        self.measured = dict(state["measured"])
        self.estimator.fit([(m["raw"], m["loss"]) for m in self.measured.values()])

    # ---- measuring -------------------------------------------------------------------------

    def current_objectives(self) -> np.ndarray:
        """The archive's objectives, measured losses replacing estimates where measured."""
        F = self.archive.objectives().copy()
        for i, m in self.measured.items():
            F[i, self.loss_col] = m["loss"]
        return F

    def measure(self, ids: list[int], generation: int) -> None:
        """Fine-tune candidates `ids` (cache first), record them, refit the calibration."""
        if not ids:
            return
        batch = self.archive.batch(ids)
        keys = batch.keys()
        tasks: list[FinetuneTask] = []
        of: dict[str, tuple[int, bytes]] = {}
        for j, i in enumerate(ids):
            t = finetune_task(self.ctx, batch.precisions(j), SPLITS, keep=True)
            tasks.append(t)
            of[t.key] = (i, keys[j])
        rows: list[list[Any]] = []

        def done(t: FinetuneTask, res: dict[str, Any], cached: bool) -> None:
            i, key = of[t.key]
            acc = res.get("accuracies") or {}
            ok = res.get("status") == "ok" and "val" in acc and "test" in acc
            val = acc.get("val") if ok else None
            m = {
                "generation": generation,
                "status": "ok" if ok else "failed",
                "raw": self.estimator.raw.get(key, float("nan")),
                "val": val,
                "test": acc.get("test") if ok else None,
                "ptq": None,  # before the fine-tune it was scored on val only
                # a failed fine-tune counts as every point of accuracy lost
                "loss": self.fp_val - val if ok else self.fp_val,
                "key": t.key,
                "cached": cached,
                "seconds": res.get("seconds"),
                "reason": None if ok else res.get("reason") or "no per-split accuracies",
            }
            self.measured[i] = m
            self.from_cache += int(cached)
            self.computed += int(not cached)
            rows.append(
                [
                    generation,
                    i,
                    m["status"],
                    m["raw"],
                    m["val"],
                    m["test"],
                    m["loss"],
                    cached,
                    m["seconds"],
                ]
            )
            self.progress.advance(self.bar)

        self.ev.run(tasks, done)
        self.ctx.run.append_rows("inloop.csv", INLOOP_HEADER, rows)
        self.estimator.fit([(m["raw"], m["loss"]) for m in self.measured.values()])

    def finish(self, generation: int) -> None:
        """Fine-tune the unmeasured points of the final estimated front (up to finetune_top,
        spread along the first cost objective)."""
        F = self.archive.objectives()
        est_front = np.flatnonzero(pareto_mask(F, self.archive.feasible()))
        todo = sorted(
            (int(i) for i in est_front if int(i) not in self.measured),
            key=lambda i: F[i, self.cost_col],
        )
        self.measure([todo[j] for j in spread(len(todo), self.ctx.config.finetune_top)], generation)

    def front_ids(self) -> np.ndarray:
        """The measured candidates on the front of measured losses (feasible, fine-tune ok)."""
        ids = np.array(
            sorted(i for i, m in self.measured.items() if m["status"] == "ok"), dtype=np.int64
        )
        if len(ids) == 0:
            return ids
        F = self.current_objectives()[ids]
        return ids[pareto_mask(F, self.archive.feasible()[ids])]

    def rescore_of(self, i: int) -> Rescore:
        """The `Rescore` of measured candidate `i`."""
        m = self.measured[i]
        rec = self.ctx.recipe
        return Rescore(
            method="finetune",
            recipe=rec.name,
            steps=rec.steps,
            split="test",
            status=m["status"],
            accuracy=m["test"],
            ptq_accuracy=m["ptq"],
            cached=m["cached"],
            seconds=m["seconds"],
            reason=m["reason"],
            key=m["key"],
            selected_on="val",
            val_accuracy=m["val"],
            generation=m["generation"],
        )

    def summary(self) -> dict[str, Any]:
        """What the in-loop fine-tunes cost, for run.json."""
        return {
            "per_generation": self.k,
            "measured": len(self.measured),
            "computed": self.computed,
            "from_cache": self.from_cache,
            "failed": sum(m["status"] != "ok" for m in self.measured.values()),
            "calibration_points": self.estimator.points,
            "fp_val_accuracy": self.fp_val,
        }
