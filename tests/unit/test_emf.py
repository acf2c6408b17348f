"""The handler's log line is a CloudWatch Embedded Metric Format record, checked against the specification.

Spec: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
``check_emf`` encodes its rules (root ``_aws`` object with an integer ``Timestamp`` and a
``CloudWatchMetrics`` array of MetricDirectives; each directive a ``Namespace`` string, ``Dimensions`` an
array of DimensionSets of at most 30 names, ``Metrics`` at most 100 MetricDefinitions with ``Name`` and an
allowed ``Unit``; every referenced dimension a root string member, every metric a root number or array
of at most 100 numbers). test_package.py and test_sam.py apply it to the lines the Lambda emulator
printed; here it runs on the handler in-process and on SnapStart's hooks (awslambdaric's own runner).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.paths import ROOT
from tests.support.emf import INFERENCE_KEYS, check_emf, emf_lines, metric_names

# --- in-process --------------------------------------------------------------------------------------


def _run(code: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _model_env(variant: str = "int8") -> dict[str, str]:
    art = ROOT / "build" / "models" / "reference" / f"{variant}.tflite"
    if not art.exists():
        pytest.skip(f"{art.relative_to(ROOT)} missing: run `make models`")
    return {
        "MODEL_RUNTIME": "tflite",
        "MODEL_PATH": str(art),
        "MODEL_THREADS": "1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1536",
    }


def _sample() -> str:
    test = Path(os.environ.get("CLOTHING_DATASET") or ROOT / "data" / "clothing-dataset-small") / "test"
    jpg = sorted(test.glob("*/*.jpg"))
    if not jpg:
        pytest.skip(f"no test images under {test}: set CLOTHING_DATASET or run `make data`")
    return base64.b64encode(jpg[0].read_bytes()).decode()


HANDLER_SCRIPT = """
import json, sys, lambda_function as lf
ev = {"image_b64": sys.argv[1]} if len(sys.argv) > 1 else {}
for e in [ev, ev, {}]:
    try:
        lf.lambda_handler(e, None)
    except Exception as x:
        print("raised", type(x).__name__, file=sys.stderr)
"""


def test_log_lines_are_emf_and_keep_every_key() -> None:
    env = _model_env()
    proc = _run(HANDLER_SCRIPT, {**env, "MODEL_VARIANT": ""}, _sample())
    assert proc.returncode == 0, proc.stderr
    recs = emf_lines(proc.stdout)
    assert len(recs) == 3, proc.stdout
    cold, warm, bad = recs
    assert INFERENCE_KEYS <= set(cold) and INFERENCE_KEYS <= set(warm)
    assert cold["cold"] is True and cold["cold_start"] == 1
    assert warm["cold"] is False and warm["cold_start"] == 0
    assert {"init_ms", "fetch_ms", "preprocess_ms", "inference_ms", "cold_start"} <= metric_names(cold)
    assert "init_ms" not in metric_names(warm) and "inference_ms" in metric_names(warm)
    for rec in (cold, warm, bad):
        assert rec["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["runtime", "variant", "memory"]]
        assert (rec["runtime"], rec["variant"], rec["memory"]) == ("tflite", "int8", "1536")
    assert bad["msg"] == "bad_input" and bad["error"] == 1 and "error" in metric_names(bad)


def test_check_emf_rejects_what_the_spec_forbids() -> None:
    """The validator itself: a dimension whose value is not a string, a boolean metric, a bad unit."""
    good = {
        "_aws": {
            "Timestamp": 1_700_000_000_000,
            "CloudWatchMetrics": [
                {
                    "Namespace": "N",
                    "Dimensions": [["runtime"]],
                    "Metrics": [{"Name": "x", "Unit": "Milliseconds"}],
                }
            ],
        },
        "runtime": "tflite",
        "x": 1.5,
    }
    check_emf(json.dumps(good))
    for path, value in (
        (("runtime",), 3),
        (("x",), True),
        (("_aws", "CloudWatchMetrics", 0, "Metrics", 0, "Unit"), "ms"),
    ):
        bad = json.loads(json.dumps(good))
        node = bad
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
        with pytest.raises(AssertionError):
            check_emf(json.dumps(bad))


SNAPSTART_SCRIPT = """
import json, random, sys
import lambda_function as lf
from runtimes import snapstart
ev = {"image_b64": sys.argv[1]}
lf.lambda_handler(ev, None); lf.lambda_handler(ev, None)
before = (snapstart.sandbox_id(), random.random())
from awslambdaric import lambda_runtime_hooks_runner as hooks  # the runtime's own hook runner
hooks.run_before_snapshot()
hooks.run_after_restore()
print("STATE", json.dumps({"ids": [before[0], snapstart.sandbox_id()], "restored": snapstart.restored()}))
lf.lambda_handler(ev, None)
"""


def test_snapstart_hooks_reset_per_sandbox_state() -> None:
    """awslambdaric's runner calls the registered hooks as Lambda would around a snapshot: afterwards the
    next invocation is cold again, the sandbox id is new and the line says it was restored."""
    pytest.importorskip("snapshot_restore_py")
    proc = _run(SNAPSTART_SCRIPT, _model_env(), _sample())
    assert proc.returncode == 0, proc.stderr
    state = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("STATE "))[6:])
    recs = emf_lines(proc.stdout)
    assert [r["cold"] for r in recs] == [True, False, True]
    assert state["restored"] and state["ids"][0] != state["ids"][1]
    assert recs[2]["sandbox"] == state["ids"][1] != recs[0]["sandbox"]
    assert recs[2].get("snapstart_restored") is True and "snapstart_restored" not in recs[0]


def test_handler_works_without_snapshot_restore_py() -> None:
    """Where the hook library is absent (older runtimes, plain python), register() is a no-op."""
    code = (
        "import sys; sys.modules['snapshot_restore_py'] = None\n"
        "from runtimes import snapstart; print(snapstart.register(lambda: None, lambda: None))\n"
        + HANDLER_SCRIPT
    )
    proc = _run(code, _model_env(), _sample())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "False"
    assert [r["cold"] for r in emf_lines(proc.stdout)] == [True, False, False]


def test_metrics_emf_0_keeps_the_plain_line() -> None:
    proc = _run(HANDLER_SCRIPT, {**_model_env(), "METRICS_EMF": "0"}, _sample())
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 3 and all("_aws" not in r and "cold_start" not in r for r in lines)
    assert INFERENCE_KEYS <= set(lines[0])
