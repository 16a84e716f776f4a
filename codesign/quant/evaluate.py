"""One candidate's fine-tune as a self-contained task a Dask worker can run.

A task carries plain data only (the workload name, the base weights as bytes, the config as a
dict, the recipe), so it pickles to any worker; the worker rebuilds the model and loads the
data itself (once per process).
"""

from __future__ import annotations

import functools
import io
import math
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import TensorDataset

from codesign.core.errors import RunError
from codesign.data import DataSplits, load_dataset
from codesign.quant.config import QuantConfig, config_from_dict
from codesign.quant.train import FinetuneRecipe, finetune
from codesign.workload import Workload, get_workload


@dataclass(frozen=True)
class FinetuneTask:
    """Everything a worker needs to fine-tune and score one candidate."""

    key: str
    base_hash: str
    workload: str
    input_shape: tuple[int, ...]
    dataset: str
    data_path: str | None
    base_state: bytes
    config: dict[str, Any]
    recipe: FinetuneRecipe
    seed: int
    torch_threads: int = 1
    split: str = "test"  # the held-out split that scores the result: "val", "test" or
    # "val,test" (accuracy on val, `accuracies` on both: select on one, report the other)
    artefact_dir: str | None = None  # keep the fine-tuned model there as <key>.pt


@functools.lru_cache(maxsize=4)
def _data(name: str, path: str | None) -> DataSplits:
    return load_dataset(name, seed=0, path=path)


def heldout(data: DataSplits, split: str) -> TensorDataset:
    """The split a result is scored on: 'val', 'test', or 'val+test' (both, never trained on)."""
    if split == "val+test":
        return TensorDataset(
            *(torch.cat([a, b]) for a, b in zip(data.val.tensors, data.test.tensors))
        )
    return getattr(data, split)


def state_bytes(model: torch.nn.Module) -> bytes:
    """A model's state dict serialised with torch.save."""
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getvalue()


def run_finetune_task(task: FinetuneTask) -> dict[str, Any]:
    """Fine-tune and score one candidate; returns a result dict (never raises for divergence).

    Keys: status ('ok' or 'failed'), accuracy / ptq_accuracy (percent, held-out), final_loss,
    reason (why it failed), seconds (wall time of the fine-tune).
    """
    t0 = time.perf_counter()
    torch.set_num_threads(task.torch_threads)
    data = _data(task.dataset, task.data_path)
    model = get_workload(task.workload, task.input_shape).build()
    model.load_state_dict(torch.load(io.BytesIO(task.base_state), weights_only=True))
    model.eval()
    config = config_from_dict(task.config, f"task {task.key[:12]}")
    first, *more = task.split.split(",")
    res = finetune(
        model,
        config,
        data.train,
        heldout(data, first),
        task.recipe,
        seed=task.seed,
        also={s: heldout(data, s) for s in more},
    )
    out = {
        "accuracy": res.accuracy,
        "accuracies": {first: res.accuracy, **res.also},
        "ptq_accuracy": res.ptq_accuracy,
        "final_loss": res.final_loss,
        "seconds": time.perf_counter() - t0,
        "status": "ok",
        "reason": None,
    }
    if not math.isfinite(res.final_loss):
        out.update(
            status="failed", reason="fine-tune diverged: training loss is NaN/inf", accuracy=None
        )
    elif task.artefact_dir is not None and res.model is not None:
        save_artefact(Path(task.artefact_dir), task, res.model, out)
    return out


ARTEFACT_FORMAT = "codesign.finetuned"


def artefact_path(artefact_dir: str | Path, key: str) -> Path:
    """Where the fine-tuned model of cache key `key` (an `eval_key`: 64 hex digits) is kept;
    `RunError` for any other key (a key read from a file must not name a path elsewhere)."""
    if not re.fullmatch(r"[0-9a-f]{64}", str(key)):
        raise RunError(f"fine-tune key {str(key)[:80]!r} is not a codesign cache key")
    return Path(artefact_dir) / f"{key}.pt"


def save_artefact(
    artefact_dir: Path, task: FinetuneTask, model: torch.nn.Module, result: dict[str, Any]
) -> Path:
    """Keep a fine-tuned model (its state: weights, LSQ step sizes, bits; its config; what it
    scored) under its cache key, so an export never trains again."""
    from codesign.core.files import save_state_atomic

    path = artefact_path(artefact_dir, task.key)
    doc = {
        "format": ARTEFACT_FORMAT,
        "version": 1,
        "key": task.key,
        "workload": task.workload,
        "input_shape": list(task.input_shape),
        "dataset": task.dataset,
        "config": task.config,
        "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "accuracies": result.get("accuracies"),
        "split": task.split,
    }
    save_state_atomic(doc, path)
    return path


def load_artefact(artefact_dir: str | Path, key: str) -> dict[str, Any] | None:
    """The kept fine-tuned model of `key` (see `save_artefact`), or None when there is none."""
    path = artefact_path(artefact_dir, key)
    if not path.exists():
        return None
    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)  # data only, never code
    except Exception as exc:  # truncated, not a torch file, or naming code (refused)
        aside = path.with_name(path.name + ".corrupt")
        path.replace(aside)  # set aside: the next run that fine-tunes this point keeps it again
        first = (str(exc).splitlines() or [""])[0]
        raise RunError(
            f"{path}: unreadable fine-tuned model ({type(exc).__name__}: {first[:200]}); set "
            f"aside as {aside.name}: run the same `codesign explore` again to fine-tune it anew"
        ) from None
    return doc if isinstance(doc, dict) and doc.get("format") == ARTEFACT_FORMAT else None


def make_task(
    workload: Workload,
    base: tuple[str, bytes],
    config: QuantConfig,
    recipe: FinetuneRecipe,
    seed: int,
    *,
    split: str = "test",
    data_path: str | None = None,
) -> FinetuneTask:
    """The fine-tune task of one configuration; `base` is (weights hash, state bytes)."""
    from codesign.cache import eval_key

    doc = config.to_dict()
    recipe_doc = {**asdict(recipe), "score_on": split}
    key = eval_key(workload.name, base[0], doc["layers"], recipe_doc, seed)
    return FinetuneTask(
        key,
        base[0],
        workload.name,
        workload.input_shape,
        workload.dataset,
        data_path,
        base[1],
        doc,
        recipe,
        seed,
        split=split,
    )


def load_finetuned(doc: dict[str, Any]) -> torch.nn.Module:
    """The fine-tuned, fake-quantized model a kept artefact holds (`load_artefact`), in eval
    mode: the workload rebuilt, the config applied, the kept state loaded."""
    from codesign.quant.apply import apply_config

    model = get_workload(doc["workload"], tuple(doc["input_shape"])).build()
    config = config_from_dict(doc["config"], f"artefact {doc['key'][:12]}")
    q = apply_config(model, config)
    q.load_state_dict(doc["state"])
    return q.eval()
