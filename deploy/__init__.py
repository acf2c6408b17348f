"""Deploy the benchmark's winning image (results/winner.json) to AWS Lambda, and undo it.

Everything is tracked through AWS tags (no local state file): resources carrying
``MANAGED_TAG = MANAGED_VALUE`` were created by this package and are the only ones ``undeploy``
removes. Errors a user can fix are raised as :class:`DeployError` whose message is one line that
says what is wrong and how to fix it; the CLI prints it and exits non-zero.
"""

from __future__ import annotations

MANAGED_TAG = "lambda-model-bench:managed-by"
MANAGED_VALUE = "deploy"


class DeployError(RuntimeError):
    """A problem the user can fix; ``str(err)`` is one line including the fix."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(" ".join(message.split()))
        self.exit_code = exit_code
