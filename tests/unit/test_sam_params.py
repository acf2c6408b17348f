"""images/sam.py: template parameters from winner.json, including the mode block bench writes, so that
`sam deploy` ships the same mode and cell as `make deploy` (deploy/settings.py reads the same block)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from core.contracts import DEPLOY_MODES, Winner
from core.paths import ROOT
from images.sam import parameters


class _Loader(yaml.SafeLoader):
    """template.yaml uses CloudFormation's short tags (!Ref, !If ...): read them as plain values."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
TEMPLATE = yaml.load(Path(ROOT / "template.yaml").read_text(), Loader=_Loader)  # noqa: S506


@given(
    mode=st.sampled_from(["on-demand", "provisioned concurrency", "managed instances", None]),
    kind=st.sampled_from(["tflite", "onnx", "tf"]),
    memory=st.sampled_from([1024, 1769, 3008]),
    n=st.integers(1, 60),
    ratio=st.sampled_from([2.0, 4.0, 8.0]),
)
def test_parameters_follow_the_mode_block(
    mode: str | None, kind: str, memory: int, n: int, ratio: float
) -> None:
    image = f"clothing-{kind}:reference-float32"
    cfg: dict[str, Any] = {"image": image, "memory_mb": memory}
    if mode == "provisioned concurrency":
        cfg["provisioned_environments"] = n
    if mode == "managed instances":
        cfg = {"image": image, "instance": "m7g.large", "processes_per_vcpu": n, "memory_gib_per_vcpu": ratio}
    raw = {"image": "clothing-tflite:reference-full-int8", "image_kind": "tflite", "memory_mb": 1769}
    if mode is not None:
        raw["mode"] = {"mode": mode, "configuration": cfg}
    p = parameters(_winner(raw))
    declared = TEMPLATE["Parameters"]
    assert set(p) <= set(declared), set(p) - set(declared)
    assert p["DeployMode"] in DEPLOY_MODES and p["DeployMode"] in declared["DeployMode"]["AllowedValues"]
    tag_param = {"tflite": "TfliteImageTag", "onnx": "OnnxImageTag", "tf": "TfImageTag"}
    if mode is None:
        assert p["DeployMode"] == "on-demand" and p["TfliteImageTag"] == "reference-full-int8"
        return
    assert p[tag_param[kind]] == "reference-float32"
    if mode == "provisioned concurrency":
        assert (p["DeployMode"], p["ProvisionedConcurrency"], p["MemorySize"]) == (
            "provisioned",
            str(n),
            str(memory),
        )
    if mode == "managed instances":
        assert p["ManagedImage"] == image and int(p["MemorySize"]) >= 2048
        assert (p["PerEnvironmentMaxConcurrency"], float(p["MemoryGiBPerVCpu"])) == (str(n), ratio)


def _winner(raw: dict[str, Any]) -> Winner:
    return Winner(str(raw["image"]), "tflite", "tflite", "reference", "full-int8", 1769, "x86_64", 1, raw)
