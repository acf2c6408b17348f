"""Lambda SnapStart runtime hooks, for the zip + layer form of the function (python3.13 managed runtime).

SnapStart supports Python 3.12+ managed runtimes for zip functions, not container images
(https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html). With it, Lambda runs the init phase once
when a version is published, snapshots the microVM and resumes every new sandbox from that snapshot. The
handler already loads the model during init (lambda_function._eager_init), so the loaded interpreter is in
the snapshot. What must NOT be shared between sandboxes restored from the one snapshot, for this handler:

* the cold flag / invocation count: each restored sandbox is new, so its first invocation must report
  ``cold: true`` (the handler's after-restore hook resets its count);
* init timing: ``init_ms`` was paid once at publish time, not by the restored sandbox; lines carry
  ``snapstart_restored: true`` so a reader does not take it for this sandbox's init (REPORT gives
  ``Restore Duration`` instead, infra/awslambda.py);
* random state: python's ``random`` and numpy's global generator would replay the same sequence in
  every sandbox; both are reseeded from os.urandom after restore (the handler draws no random numbers
  today; this keeps any future use safe);
* the pid: identical in every restored sandbox, so it stops identifying a sandbox; ``sandbox_id()`` is a
  fresh random id per restore (and per ordinary cold start).

Hooks come from ``snapshot_restore_py`` (https://docs.aws.amazon.com/lambda/latest/dg/snapstart-runtime-hooks-python.html),
which the python managed runtimes and awslambdaric ship; awslambdaric runs them only when
AWS_LAMBDA_INITIALIZATION_TYPE is ``snap-start``. Where the module is absent, ``register`` does nothing
and the handler works as before. Nothing of this can be measured here: no emulator implements snapshots.
"""

from __future__ import annotations

import os
from collections.abc import Callable

_STATE = {"restored": False, "sandbox": os.urandom(8).hex()}


def restored() -> bool:
    """True in a sandbox resumed from a SnapStart snapshot (after the after-restore hooks ran)."""
    return bool(_STATE["restored"])


def sandbox_id() -> str:
    """Random id of this sandbox, renewed after a restore (the pid is the same in every restored copy)."""
    return str(_STATE["sandbox"])


def _after_restore() -> None:
    """Per-sandbox state: new id, reseeded random generators, restored flag."""
    _STATE["restored"] = True
    _STATE["sandbox"] = os.urandom(8).hex()
    import random  # here, not at import: only a restored sandbox reseeds it, and it costs every cold start

    random.seed(os.urandom(32))
    try:
        import numpy as np

        np.random.seed(int.from_bytes(os.urandom(4), "big"))
    except ImportError:  # numpy-free callers (tests of this module alone)
        pass


def register(
    before_snapshot: Callable[[], None] | None = None, after_restore: Callable[[], None] | None = None
) -> bool:
    """Register the handler's hooks (and this module's own after-restore reset, which runs first).

    Returns False, registering nothing, where ``snapshot_restore_py`` is not importable."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    register_after_restore(_after_restore)
    if after_restore is not None:
        register_after_restore(after_restore)
    if before_snapshot is not None:
        register_before_snapshot(before_snapshot)
    return True
