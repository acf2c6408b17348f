"""What every test session shares: the end-of-session check that nothing was left running.

Fixtures of the integration tests are in tests/integration/conftest.py; helpers in tests/support/.
"""

from __future__ import annotations

from collections.abc import Iterator

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
