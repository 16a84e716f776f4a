"""The SQLite evaluation cache: keys, several writers at once, a writer killed mid-write."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time

import torch

from codesign.cache import EvalCache, eval_key, weights_hash

RESULT = {
    "status": "ok",
    "accuracy": 97.5,
    "ptq_accuracy": 90.0,
    "final_loss": 0.01,
    "reason": None,
    "seconds": 1.5,
}


def _put(cache: EvalCache, key: str, i: int = 0) -> None:
    cache.put(
        key,
        workload="w",
        base_hash="b",
        config={"i": i},
        recipe={"r": 1},
        seed=0,
        result={**RESULT, "accuracy": float(i)},
    )


def test_keys_separate_every_field():
    base = eval_key("w", "h", {"l": [8]}, {"steps": 10}, 0)
    assert base == eval_key("w", "h", {"l": [8]}, {"steps": 10}, 0)
    others = [
        eval_key("v", "h", {"l": [8]}, {"steps": 10}, 0),
        eval_key("w", "g", {"l": [8]}, {"steps": 10}, 0),
        eval_key("w", "h", {"l": [4]}, {"steps": 10}, 0),
        eval_key("w", "h", {"l": [8]}, {"steps": 11}, 0),
        eval_key("w", "h", {"l": [8]}, {"steps": 10}, 1),
    ]
    assert len({base, *others}) == 6


def test_weights_hash_sees_one_changed_weight():
    m = torch.nn.Linear(3, 2)
    h = weights_hash(m)
    with torch.no_grad():
        m.weight[0, 0] += 1e-6
    assert weights_hash(m) != h


def test_round_trip(tmp_path):
    c = EvalCache(tmp_path / "e.sqlite")
    assert c.get("k") is None
    _put(c, "k", 3)
    assert c.get("k") == {**RESULT, "accuracy": 3.0}
    c.close()
    assert EvalCache(tmp_path / "e.sqlite").get("k")["accuracy"] == 3.0  # persisted


def _writer(path: str, worker: int, n: int) -> None:
    c = EvalCache(path)
    for i in range(n):
        _put(c, f"{worker}-{i}", i)
    c.close()


def test_several_writers_at_once(tmp_path):
    path = str(tmp_path / "e.sqlite")
    EvalCache(path).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    c = EvalCache(path)
    assert len(c) == 160 and c.integrity_ok()
    assert c.get("3-39")["accuracy"] == 39.0


_LOOP = """
import sys
from codesign.cache import EvalCache
c = EvalCache(sys.argv[1])
i = 0
while True:
    c.put(f"k{i}", workload="w", base_hash="b", config={"i": i, "pad": "x" * 4000},
          recipe={}, seed=0, result={"status": "ok", "accuracy": float(i)})
    i += 1
    if i == 20:
        print("ready", flush=True)
"""


def test_writer_killed_mid_write_leaves_a_good_database(tmp_path):
    path = tmp_path / "e.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", _LOOP, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    c = EvalCache(path)
    assert c.integrity_ok()
    n = len(c)
    assert n >= 20
    # every committed row is whole and readable, and the cache still takes writes
    for i in range(n):
        assert c.get(f"k{i}")["accuracy"] == float(i)
    _put(c, "after", 1)
    assert c.get("after") is not None
