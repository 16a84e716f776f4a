"""Runs the codesign CLI and kills its own process with SIGKILL at a chosen moment.

    python tests/killer.py search:N -- explore ...     dies as generation N is being recorded
    python tests/killer.py finetune:N -- explore ...   dies right after the N-th fine-tune result
                                                       reached the evaluation cache

Used by tests/test_resume.py to check that a run killed anywhere resumes to the same front.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> int:
    where, _, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
    kind, n = where.split(":")
    n = int(n)

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    if kind == "search":
        from codesign.search.archive import Archive

        original = Archive.record

        def record(self, generation, strategy, batch, scores):  # noqa: ANN001, ANN202
            if generation == n:
                die()
            return original(self, generation, strategy, batch, scores)

        Archive.record = record
    elif kind == "finetune":
        from codesign.cache import EvalCache

        original_put = EvalCache.put
        count = {"n": 0}

        def put(self, key, **kw):  # noqa: ANN001, ANN003, ANN202
            original_put(self, key, **kw)
            count["n"] += 1
            if count["n"] == n:
                die()

        EvalCache.put = put
    from codesign.cli import main as cli

    return cli(argv)


if __name__ == "__main__":
    sys.exit(main())
