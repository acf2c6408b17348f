"""What every test session shares: the end-of-session check that nothing was left running.

Fixtures of the integration tests are in tests/integration/conftest.py; helpers in tests/support/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support import leaks


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """Fail the session when a test left a container or network of this session (or one attached to
    such a network, e.g. a `sam local start-lambda --warm-containers` function container) or a child
    process running; what it finds is removed so the next run starts clean."""
    before = leaks.child_processes()
    yield
    found = leaks.find(ignore_pids=before)
    if found:
        leaks.remove(found)
        pytest.fail("tests left these behind (now removed): " + "; ".join(found.describe()))


@pytest.fixture(scope="session")
def fresh_sandbox() -> Callable[[], None]:
    """A function that makes the in-process handler a fresh sandbox again: no model, limits or settings
    loaded (they are read once, with the model), no invocation counted."""
    import lambda_function as lf

    def reset() -> None:
        lf._MODEL = None
        lf._INVOCATIONS = 0

    return reset
