"""Post-deploy check: the deployed alias must give the same top class as the same image run locally.

The local answer comes from ``docker run`` of the very image that was pushed (same bytes, same
runtime library, same preprocessing), POSTed through the Lambda Runtime Interface Emulator on a
127.0.0.1 port. Running the runtimes in-process instead would compare against the host's library
versions, which is a different question (that is what ``make eval`` answers).
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

from deploy import DeployError
from deploy.settings import ALIAS

INVOKE_PATH = "/2015-03-31/functions/function/invocations"


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
    cmd = ["docker", "run", "-d", "-p", "127.0.0.1::8080", "-e", f"MODEL_THREADS={threads}"]
    if memory_mb:
        cmd += ["--memory", f"{memory_mb}m"]
    proc = subprocess.run([*cmd, image], capture_output=True, text=True)
    if proc.returncode != 0:
        raise DeployError(
            f"cannot run {image} locally ({proc.stderr.strip()}); fix: check docker, or --no-verify."
        )
    cid = proc.stdout.strip()

    def died() -> DeployError:
        logs = subprocess.run(["docker", "logs", "--tail", "3", cid], capture_output=True, text=True)
        tail = " | ".join((logs.stdout + logs.stderr).strip().splitlines()[-3:]) or "no output"
        return DeployError(
            f"local {image} exited before answering ({tail}); fix: run it by hand "
            "(docker run -p 9000:8080 IMAGE) and read its logs, or --no-verify."
        )

    try:
        port_out = subprocess.run(["docker", "port", cid, "8080/tcp"], capture_output=True, text=True)
        if port_out.returncode != 0 or not port_out.stdout.split():
            raise died()
        url = f"http://127.0.0.1:{port_out.stdout.split()[0].rsplit(':', 1)[1]}{INVOKE_PATH}"
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                r = requests.post(url, json=payload, timeout=timeout_s)
                return scores_of(r.json(), f"local {image}")
            except (requests.ConnectionError, ValueError):
                running = subprocess.run(
                    ["docker", "inspect", "-f", "{{.State.Running}}", cid], capture_output=True, text=True
                ).stdout.strip()
                if running != "true":
                    raise died() from None
                if time.monotonic() > deadline:
                    raise DeployError(
                        f"local {image} did not answer on {url} within {timeout_s:.0f} s; "
                        "fix: run it by hand (docker run -p 9000:8080 IMAGE) and read its logs."
                    ) from None
                time.sleep(0.5)
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)


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
