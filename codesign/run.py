"""The run directory: every input, every evaluated candidate, written as soon as it exists.

Only this module reads and writes run files. Layout of ``results/<run-id>/``::

    run.json         format codesign.run v2: status (running / complete / failed /
                     interrupted), pid and host of the process, the `ExploreConfig` it ran
                     with, fingerprints of hardware, workload and weights, package versions
    hw.yaml          a copy of the hardware file the run priced against (the base one
                     of a sizing run, whose space file is copied as hw_space.yaml)
    layers.json      the extracted layer graph
    checkpoint.pkl   strategy, RNG and archive after the last finished generation
    candidates.csv   every evaluated candidate (appended per generation)
    finetune.csv     fine-tuned accuracies (appended as each finishes)
    pareto.json      the Pareto front (format codesign.front v2; v1 files are read too)
    pareto.csv       the front as a table
    pareto.html      the interactive report
"""

from __future__ import annotations

import csv
import json
import os
import platform
import shutil
import socket
from dataclasses import asdict
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

try:  # the run lock; without flock (Windows) runs are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

from codesign.core.candidates import Candidate, Front, Rescore
from codesign.core.errors import RunError
from codesign.core.files import write_json_atomic
from codesign.core.types import LayerCost, MappingDescription, NetworkCost, Objective, Precision

RUN_FORMAT, RUN_VERSION = "codesign.run", 2
FRONT_FORMAT, FRONT_VERSION = "codesign.front", 2
FRONT_METRICS = ("latency_ms", "energy_uj", "peak_kb", "weight_kb")

_PACKAGES = (
    "codesign",
    "torch",
    "numpy",
    "pymoo",
    "networkx",
    "pydantic",
    "plotly",
    "scikit-learn",
)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on."""
    out = {"python": platform.python_version()}
    for p in _PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


LOCK = "run.lock"  # held (flock) by the process that runs or resumes the run


def _lock_held(path: Path) -> bool | None:
    """Whether some process holds the run lock in folder `path` (None: no lock file, or no
    flock on this platform). A killed process's lock is released by the kernel, so this is
    right whatever the host name or pid a run.json recorded (containers, moved folders)."""
    f = Path(path) / LOCK
    if fcntl is None or not f.exists():
        return None
    try:
        with f.open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fh, fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except OSError:
        return None
    return False


def effective_status(info: dict[str, Any], path: str | Path | None = None) -> str:
    """A run's status as whoever reads it should see it: a 'running' run whose process is gone
    (killed, machine rebooted) is 'interrupted'. With the run's folder `path`, its lock tells;
    without (or for a run written before locks), its recorded pid on this host does."""
    status = str(info.get("status", "unknown"))
    if status != "running":
        return status
    held = None if path is None else _lock_held(Path(path))
    if held is not None:
        return "running" if held else "interrupted"
    pid, host = info.get("pid"), info.get("host")
    if host == socket.gethostname() and isinstance(pid, int) and not _pid_alive(pid):
        return "interrupted"
    return status


class RunDir:
    """A run directory being written. Files are appended and flushed as results arrive."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._writers: dict[str, tuple[Any, Any]] = {}
        self.info: dict[str, Any] = {}  # the run.json this process writes (see `note`)
        self.held = False  # notes stay in memory (a resume not checked yet must not write)
        self._lock: Any = None

    @staticmethod
    def new_id(workload: str, hw_name: str) -> str:
        """A sortable run id: UTC timestamp, workload and hardware names."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{workload}-{hw_name}")
        return f"{stamp}-{safe}"

    @classmethod
    def create(cls, results_dir: str | Path, run_id: str) -> RunDir:
        """A new, empty run folder `results_dir/run_id`, created exclusively: when another run
        took that id (two runs started in the same second), `run_id-2`, `-3`, ... instead."""
        root = Path(results_dir)
        root.mkdir(parents=True, exist_ok=True)
        for n in range(1, 10_000):
            path = root / (run_id if n == 1 else f"{run_id}-{n}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return cls(path)
        raise RunError(f"{root}: no free run id for {run_id}")

    def lock(self) -> None:
        """Hold the run's lock (`run.lock`) until `close`; `RunError` when another process
        runs or resumes this run."""
        if fcntl is None or self._lock is not None:
            return
        fh = self.file(LOCK).open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            owner = fh.read().strip() or "another process"
            fh.close()
            raise RunError(
                f"{self.path}: in use by {owner}: one process runs or resumes a run at a time"
            ) from None
        fh.truncate(0)
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        fh.flush()
        self._lock = fh

    def file(self, name: str) -> Path:
        """Path of a file in this run."""
        return self.path / name

    @property
    def checkpoint_path(self) -> Path:
        """Where the search checkpoint lives."""
        return self.file("checkpoint.pkl")

    def write_json(self, name: str, data: Any) -> None:
        """Write a JSON file atomically."""
        write_json_atomic(self.file(name), data)

    def read_json(self, name: str) -> Any:
        """A JSON file of the run; `RunError` when missing or corrupt."""
        f = self.file(name)
        if not f.exists():
            raise RunError(f"{self.path}: missing {name}")
        try:
            return json.loads(f.read_text())
        except json.JSONDecodeError as exc:
            raise RunError(f"{f}: corrupt JSON: {exc}") from None

    def note(self, **sections: Any) -> None:
        """Record `sections` (status, progress, what a stage did ...) in run.json and write it.

        run.json is what the stages report to the user and to a later resume; no stage reads
        another's section back (values pass between stages as their return values)."""
        self.info.update(sections)
        if self.held:
            return
        doc = {"format": RUN_FORMAT, "version": RUN_VERSION, **self.info}
        doc["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.write_json("run.json", doc)

    def read_info(self) -> dict[str, Any]:
        """run.json, with `status` as `effective_status` sees it."""
        info = self.read_json("run.json")
        if info.get("format") != RUN_FORMAT:
            raise RunError(
                f"{self.file('run.json')}: written by an older codesign (no format "
                f"'{RUN_FORMAT}'); rerun it"
            )
        info["status"] = effective_status(info, self.path)
        return info

    def copy_in(self, src: Path, name: str) -> None:
        """Copy an input file into the run."""
        shutil.copyfile(src, self.file(name))

    def append_rows(self, name: str, header: list[str], rows: list[list[Any]]) -> None:
        """Append rows to a CSV file (header written once per process when the file is new
        or empty; an existing file is appended to) and flush them to disk."""
        if name not in self._writers:
            f = self.file(name)
            fresh = not f.exists() or f.stat().st_size == 0
            fh = f.open("a", newline="")
            w = csv.writer(fh)
            if fresh:
                w.writerow(header)
            self._writers[name] = (fh, w)
        fh, w = self._writers[name]
        w.writerows(rows)
        fh.flush()
        os.fsync(fh.fileno())

    def rewrite_rows(self, name: str, header: list[str], rows: list[list[Any]]) -> None:
        """Replace a CSV file with `header` and `rows` (atomically); later appends go on it."""
        if name in self._writers:
            self._writers.pop(name)[0].close()
        tmp = self.file(name + ".tmp")
        with tmp.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.file(name))

    def read_rows(self, name: str) -> list[dict[str, str]]:
        """A CSV file of the run as dicts (empty when absent)."""
        f = self.file(name)
        if not f.exists():
            return []
        with f.open(newline="") as fh:
            return list(csv.DictReader(fh))

    def evaluated_points(self) -> dict[str, Any]:
        """Every evaluated candidate's id, feasibility and metrics (from candidates.csv) as
        arrays: keys ``id``, ``feasible`` and each of est_accuracy_loss_pp, latency_ms,
        energy_uj, peak_kb, weight_kb."""
        import numpy as np

        rows = self.read_rows("candidates.csv")
        keys = ("est_accuracy_loss_pp", "latency_ms", "energy_uj", "peak_kb", "weight_kb")
        out: dict[str, Any] = {
            "id": np.array([int(r["id"]) for r in rows], dtype=np.int64),
            "feasible": np.array([r["feasible"] == "True" for r in rows], dtype=bool),
        }
        for k in keys:
            out[k] = np.array([float(r[k]) for r in rows], dtype=np.float64)
        return out

    def close(self) -> None:
        """Close every open CSV file and let go of the run's lock."""
        for f, _ in self._writers.values():
            f.close()
        self._writers.clear()
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None

    # ---- the front -----------------------------------------------------------------------

    def save_front(self, front: Front, channels: dict[str, int]) -> None:
        """Write pareto.json (format codesign.front v2) and pareto.csv."""
        self.write_json("pareto.json", front_to_dict(front, channels))
        keys = ["rank", "id", "est_accuracy", "finetuned_accuracy", *FRONT_METRICS]
        names = front.layers
        rows = [
            [
                r,
                c.id,
                front.est_accuracy(c),
                c.finetuned_accuracy,
                c.latency_ms,
                c.energy_uj,
                c.peak_kb,
                c.weight_kb,
            ]
            + [_csv_bits(p) for p in c.precisions]
            + list(c.act_bits)
            for r, c in enumerate(front.candidates)
        ]
        header = keys + [f"w:{n}" for n in names] + [f"a:{n}" for n in names]
        sized = [c.hardware for c in front.candidates if c.hardware is not None]
        if sized:  # a sizing run: each point's area and hardware parameters
            params = [k for k, _ in sized[0]]
            header += ["area_mm2"] + [f"hw:{k}" for k in params]
            for row, c in zip(rows, front.candidates):
                hp = dict(c.hardware or ())
                row += [c.area_mm2] + [_whole(hp.get(k)) for k in params]
        self.rewrite_rows("pareto.csv", header, rows)

    def load_front(self) -> Front:
        """The run's Pareto front; `RunError` when the run did not get that far."""
        if not self.file("pareto.json").exists():
            raise RunError(
                f"{self.path}: no pareto.json (was the run interrupted before the Pareto "
                "front? `codesign explore --resume` finishes it)"
            )
        return front_from_dict(self.read_json("pareto.json"), self.file("pareto.json"))


def open_run(path: str | Path) -> RunDir:
    """An existing run directory; `RunError` when there is none."""
    p = Path(path)
    if not p.is_dir() or not (p / "run.json").exists():
        raise RunError(f"{p}: not a run directory (no run.json)")
    return RunDir(p)


def list_runs(results_dir: str | Path) -> list[dict[str, Any]]:
    """Every run under `results_dir` (newest first): path, status, workload, hardware and
    the summary figures when it finished. A run whose run.json cannot be read is listed with
    status 'unreadable' and the reason in `error`, never left out."""
    out = []
    root = Path(results_dir)
    for f in sorted(root.glob("*/run.json"), reverse=True):
        try:
            info = json.loads(f.read_text())
            if not isinstance(info, dict):
                raise ValueError(f"top level is a {type(info).__name__}, not an object")
            cfg = info.get("config", info.get("inputs", {}))
            row = {
                "path": str(f.parent),
                "status": effective_status(info, f.parent),
                "workload": cfg.get("workload"),
                "hardware": info.get("hardware", {}).get("name"),
                "strategy": cfg.get("strategy", "nsga2"),
                "generation": info.get("progress", {}).get("generation"),
                "generations": cfg.get("generations"),
                "evaluated": info.get("summary", {}).get("evaluated"),
                "pareto": info.get("summary", {}).get("pareto"),
                "updated": info.get("updated"),
            }
        except (OSError, ValueError, AttributeError) as exc:  # listed, never hidden
            row = dict.fromkeys(_ROW_KEYS)
            first = (str(exc).splitlines() or [""])[0]
            row.update(path=str(f.parent), status="unreadable", error=f"{f.name}: {first}")
        out.append(row)
    return out


_ROW_KEYS = ("path", "status", "workload", "hardware", "strategy", "generation")
_ROW_KEYS += ("generations", "evaluated", "pareto", "updated")


# ---- front <-> JSON -------------------------------------------------------------------------


def layer_cost_to_dict(lc: LayerCost) -> dict[str, Any]:
    """A layer's cost as JSON figures (cycles, latency_us, energy_nj, weight_bytes, act_bytes)
    and its mapping, as pareto.json holds it."""
    out = {
        "cycles": lc.cycles,
        "latency_us": lc.latency_s * 1e6,
        "energy_nj": lc.energy_j * 1e9,
        "weight_bytes": lc.weight_bytes,
        "act_bytes": lc.act_bytes,
    }
    if lc.mapping is not None:
        out["mapping"] = lc.mapping.to_dict()
    return out


def _layer_cost_from_dict(d: dict[str, Any]) -> LayerCost:
    m = d.get("mapping")
    return LayerCost(
        d["cycles"],
        d["latency_us"] * 1e-6,
        d["energy_nj"] * 1e-9,
        d["weight_bytes"],
        d.get("act_bytes", 0.0),
        MappingDescription.from_dict(m) if m else None,
    )


def _csv_bits(p: Precision) -> int | str:
    """A layer's weight bits in pareto.csv: one int, or '0x3 2x5 8x24' per-channel counts."""
    w = p.weight_summary
    return int(w) if " " not in w else w


def _whole(v: float | None) -> int | float | None:
    return int(v) if v is not None and float(v).is_integer() else v


def _bits(p: Precision) -> int | list[int]:
    return p.weight_bits[0] if len(set(p.weight_bits)) == 1 else list(p.weight_bits)


def front_to_dict(front: Front, channels: dict[str, int]) -> dict[str, Any]:
    """The JSON document of a front (format codesign.front v2)."""
    names = front.layers
    cands = []
    for rank, c in enumerate(front.candidates):
        cost = c.cost
        cands.append(
            {
                "rank": rank,
                "id": c.id,
                "generation": c.generation,
                "strategy": c.strategy,
                "act_bits": dict(zip(names, c.act_bits)),
                "weight_bits": {n: _bits(p) for n, p in zip(names, c.precisions)},
                "mapping_choice": None if c.mapping is None else dict(zip(names, c.mapping)),
                "latency_ms": c.latency_ms,
                "energy_uj": c.energy_uj,
                "peak_kb": c.peak_kb,
                "weight_kb": c.weight_kb,
                "est_accuracy_loss_pp": c.est_accuracy_loss,
                "est_accuracy": front.est_accuracy(c),
                "finetuned_accuracy": c.finetuned_accuracy,
                "rescores": [asdict(r) for r in c.rescores],
                "cost": {
                    "cycles": cost.cycles,
                    "latency_s": cost.latency_s,
                    "energy_j": cost.energy_j,
                    "weight_bytes": cost.weight_bytes,
                    "peak_act_bytes": cost.peak_act_bytes,
                    "memory_limit_bytes": cost.memory_limit_bytes,
                },
                "per_layer": {n: layer_cost_to_dict(lc) for n, lc in cost.layers.items()},
            }
        )
        if c.hardware is not None:  # a sizing run: the point, its area, its hardware file
            cands[-1]["hardware_point"] = dict(c.hardware)
            cands[-1]["area_mm2"] = c.area_mm2
            cands[-1]["hardware_doc"] = c.hardware_doc
    return {
        "format": FRONT_FORMAT,
        "version": FRONT_VERSION,
        "workload": front.workload,
        "hardware": front.hardware,
        "family": front.family,
        "strategy": front.strategy,
        "objectives": [o.value for o in front.objectives],
        "layers": list(names),
        "channels": {n: int(channels[n]) for n in names},
        "fp_accuracy": front.fp_accuracy,
        "memory_limit_kb": front.memory_limit_bytes / 1e3,
        "evaluated": front.evaluated,
        "candidates": cands,
    }


def _upgrade_v1(doc: dict[str, Any], layers_json: Path) -> dict[str, Any]:
    """A v1 pareto.json (no format key; codesign 0.1 before typed fronts) as v2."""
    channels = {}
    if layers_json.exists():
        channels = {r["name"]: int(r["K"]) for r in json.loads(layers_json.read_text())}
    out = {**doc, "format": FRONT_FORMAT, "version": FRONT_VERSION}
    out.setdefault("family", "unknown")
    out.setdefault("strategy", "nsga2")
    out["channels"] = {n: channels.get(n, 1) for n in doc["layers"]}
    run_json = layers_json.with_name("run.json")
    if "evaluated" not in out and run_json.exists():
        out["evaluated"] = json.loads(run_json.read_text()).get("summary", {}).get("evaluated", 0)
    cands = []
    for p in doc["candidates"]:
        ft = p.get("finetuned_accuracy")
        rescores = []
        if p.get("finetune_status", "not run") != "not run":
            rescores.append(
                {
                    "method": "finetune",
                    "recipe": "",
                    "steps": 0,
                    "split": "test",
                    "status": "ok" if ft is not None else "failed",
                    "accuracy": ft,
                    "ptq_accuracy": p.get("ptq_accuracy"),
                    "cached": bool(p.get("finetune_cached")),
                    "reason": None if ft is not None else p.get("finetune_status"),
                }
            )
        cost = {
            "cycles": sum(v.get("cycles", 0.0) for v in p["per_layer"].values()),
            "latency_s": p["latency_ms"] * 1e-3,
            "energy_j": p["energy_uj"] * 1e-6,
            "weight_bytes": p["weight_kb"] * 1e3,
            "peak_act_bytes": (p["peak_kb"] - p["weight_kb"]) * 1e3,
            "memory_limit_bytes": doc.get("memory_limit_kb", float("inf")) * 1e3,
        }
        per_layer = {}
        for n, v in p["per_layer"].items():
            v = dict(v)
            if "mapping" in v:
                v["mapping"] = {
                    "kind": "spatial",
                    **v["mapping"],
                    "utilization": v.pop("utilization", None),
                }
            elif "l1_tiles" in v:
                v["mapping"] = {"kind": "mcu-kernel", "l1_tiles": v.pop("l1_tiles")}
            per_layer[n] = v
        cands.append(
            {**p, "strategy": "nsga2", "rescores": rescores, "cost": cost, "per_layer": per_layer}
        )
    out["candidates"] = cands
    return out


def front_from_dict(doc: dict[str, Any], source: Path | str = "pareto.json") -> Front:
    """A `Front` from its JSON document (v2, or v1 converted forward); `RunError` naming the
    file and the field when a field is missing or malformed."""
    where = "top level"
    try:
        if not isinstance(doc, dict):
            raise TypeError(f"a {type(doc).__name__}, not an object")
        return _front_from_dict(doc, source)
    except _Where as exc:
        where, err = exc.args
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        err = exc
    what = f"missing field {err}" if isinstance(err, KeyError) else f"{type(err).__name__}: {err}"
    raise RunError(f"{source}: {where}: {what}") from None


class _Where(Exception):
    """Carries (where, error) out of a candidate of a front document."""


def _front_from_dict(doc: dict[str, Any], source: Path | str) -> Front:
    if "format" not in doc:
        doc = _upgrade_v1(doc, Path(source).with_name("layers.json"))
    if doc.get("format") != FRONT_FORMAT or doc.get("version") != FRONT_VERSION:
        raise RunError(
            f"{source}: front format {doc.get('format')} v{doc.get('version')}; this codesign "
            f"reads {FRONT_FORMAT} v{FRONT_VERSION}"
        )
    names = tuple(doc["layers"])
    channels = doc["channels"]
    cands = []
    for i, p in enumerate(doc["candidates"]):
        try:
            cands.append(_candidate_from_dict(p, names, channels))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise _Where(f"candidate {i}", exc) from None
    return Front(
        workload=doc["workload"],
        hardware=doc["hardware"],
        family=doc.get("family", ""),
        objectives=tuple(Objective(o) for o in doc["objectives"]),
        layers=names,
        candidates=tuple(cands),
        fp_accuracy=doc.get("fp_accuracy"),
        memory_limit_bytes=float(doc.get("memory_limit_kb", float("inf"))) * 1e3,
        evaluated=int(doc.get("evaluated", 0)),
        strategy=doc.get("strategy", ""),
        extra={"channels": dict(channels)},
    )


def _candidate_from_dict(
    p: dict[str, Any], names: tuple[str, ...], channels: dict[str, Any]
) -> Candidate:
    """One candidate of a front document."""
    precisions = []
    for n in names:
        wb = p["weight_bits"][n]
        per_ch = tuple(wb) if isinstance(wb, list) else (int(wb),) * int(channels[n])
        precisions.append(Precision(int(p["act_bits"][n]), per_ch))
    c = p["cost"]
    cost = NetworkCost(
        {n: _layer_cost_from_dict(v) for n, v in p["per_layer"].items()},
        c["cycles"],
        c["latency_s"],
        c["energy_j"],
        c["weight_bytes"],
        c["peak_act_bytes"],
        c["memory_limit_bytes"],
    )
    mc = p.get("mapping_choice")
    hp = p.get("hardware_point")
    return Candidate(
        id=int(p["id"]),
        generation=int(p["generation"]),
        strategy=p.get("strategy", ""),
        precisions=tuple(precisions),
        mapping=None if not mc else tuple(int(mc[n]) for n in names),
        cost=cost,
        est_accuracy_loss=p.get("est_accuracy_loss_pp"),
        rescores=tuple(Rescore(**r) for r in p.get("rescores", [])),
        hardware=None if hp is None else tuple((str(k), float(v)) for k, v in hp.items()),
        area_mm2=None if p.get("area_mm2") is None else float(p["area_mm2"]),
        hardware_doc=p.get("hardware_doc"),
    )
