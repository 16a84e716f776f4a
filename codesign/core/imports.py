"""Import the user's own modules (``--workload mypkg.models:build``, ``--data mypkg.data:load``)
from the folder codesign runs in, as ``python -m`` would."""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType


def import_user_module(name: str) -> ModuleType:
    """The module `name`, imported with the current folder first on ``sys.path``.

    A console script (``codesign explore``) starts with its ``bin/`` folder first on the path,
    not the folder it runs in; ``python -m`` puts that folder first. The folder stays on the
    path afterwards, so the module's own later imports and Dask worker processes (which start
    with this process's ``sys.path``) find it too. Raises what `importlib.import_module` raises.
    """
    cwd = os.getcwd()
    if not sys.path or sys.path[0] not in ("", cwd):
        sys.path.insert(0, cwd)
        importlib.invalidate_caches()
    return importlib.import_module(name)
