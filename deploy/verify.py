"""Post-deploy check: the deployed alias must give the same top class as the same image run locally.

The local answer comes from ``docker run`` of the very image that was pushed (same bytes, same
runtime library, same preprocessing), POSTed through the Lambda Runtime Interface Emulator on a
127.0.0.1 port. Running the runtimes in-process instead would compare against the host's library
versions, which is a different question (that is what ``make eval`` answers).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from core.catalogue import LABEL
from deploy import DeployError
from deploy.settings import ALIAS
from infra import docker


def pick_test_image(path: Path | None = None) -> Path:
    """The image to send: --test-image, else the first image of the dataset's test split (sorted)."""
    if path is not None:
        if not Path(path).is_file():
            raise DeployError(f"test image {path} not found; fix: pass an existing --test-image.")
        return Path(path)
    from models import dataset  # local import: only the verify step needs the dataset

    try:
        return dataset.split("test")[0].path
    except dataset.DatasetError as e:
        raise DeployError(f"{e} (or pass --no-verify / --test-image)") from e


def payload_for(path: Path) -> dict[str, Any]:
    return {"image_b64": base64.b64encode(Path(path).read_bytes()).decode("ascii")}


def scores_of(answer: Any, where: str) -> dict[str, float]:
    """Handler answer -> {class: score}; a typed handler error becomes one DeployError line."""
    if isinstance(answer, dict) and "predictions" in answer:
        answer = answer["predictions"]
    if isinstance(answer, dict) and ("errorType" in answer or "errorMessage" in answer):
        raise DeployError(
            f"{where} answered an error: {answer.get('errorType')}: {answer.get('errorMessage')}"
        )
    if (
        not isinstance(answer, dict)
        or not answer
        or not all(isinstance(v, int | float) for v in answer.values())
    ):
        raise DeployError(
            f"{where} answered {str(answer)[:120]!r}, not {{class: score}}; fix: check the image's handler."
        )
    return {str(k): float(v) for k, v in answer.items()}


def top_class(scores: dict[str, float]) -> str:
    return max(scores, key=lambda k: scores[k])


def compare(local: dict[str, float], remote: dict[str, float]) -> str:
    """Same top class (and same class set) or DeployError; returns the agreed class."""
    if set(local) != set(remote):
        raise DeployError(
            f"deployed function returns classes {sorted(remote)} but the local image {sorted(local)}; "
            "fix: the function serves another image; re-run deploy."
        )
    a, b = top_class(local), top_class(remote)
    if a != b:
        raise DeployError(
            f"deployed function says {b!r} ({remote[b]:.3f}) but the local image says {a!r} "
            f"({local[a]:.3f}) for the same picture; fix: check the deployed image digest and memory."
        )
    return a


def local_scores(
    image: str,
    payload: dict[str, Any],
    *,
    threads: int = 1,
    memory_mb: int | None = None,
    timeout_s: float = 180.0,
) -> dict[str, float]:
    """Run the image under its emulator on 127.0.0.1:<random port>, POST once, remove the container."""
    emu = docker.Emulator(
        image, memory_mb, env={"MODEL_THREADS": str(threads)}, labels={LABEL: "deploy-verify"},
        http_timeout_s=timeout_s,
    )  # fmt: skip
    try:
        with emu:
            emu.start()
            emu.wait_ready(timeout_s)
            answer = emu.invoke(payload)
    except docker.DockerError as e:
        raise DeployError(
            f"cannot run {image} locally ({e}); fix: run it by hand (docker run -p 9000:8080 IMAGE) "
            "and read its logs, or --no-verify."
        ) from e
    if answer.body is None:
        raise DeployError(
            f"local {image} did not answer ({answer.error_type}); "
            "fix: run it by hand (docker run -p 9000:8080 IMAGE) and read its logs."
        )
    return scores_of(answer.body, f"local {image}")


def remote_scores(lam: Any, function_name: str, payload: dict[str, Any]) -> dict[str, float]:
    """Invoke the `live` alias synchronously and read its answer."""
    resp = lam.invoke(
        FunctionName=function_name,
        Qualifier=ALIAS,
        InvocationType="RequestResponse",
        Payload=json.dumps(payload).encode(),
    )
    body = resp["Payload"].read()
    try:
        answer = json.loads(body)
    except ValueError as e:
        raise DeployError(f"{function_name}:{ALIAS} answered non-JSON {body[:120]!r}") from e
    if resp.get("FunctionError"):
        raise DeployError(
            f"{function_name}:{ALIAS} failed: {answer.get('errorType')}: {answer.get('errorMessage')}; "
            "fix: read the function's CloudWatch log group /aws/lambda/" + function_name
        )
    return scores_of(answer, f"{function_name}:{ALIAS}")
