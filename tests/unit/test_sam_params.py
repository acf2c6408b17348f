"""images/sam.py: template parameters from winner.json, including the mode block bench writes, so that
`sam deploy` ships the same mode and cell as `make deploy` (deploy/settings.py reads the same block); and
template.yaml's blocks of each packaging form follow its catalogue entry (core.catalogue.PACKAGING_FORMS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from core.catalogue import ARCHS, DEFAULT_PACKAGING, IMAGES, PACKAGING_FORMS, PackagingForm, runtime_of
from core.contracts import DEPLOY_MODES, PackageSummary, Winner
from core.paths import ROOT
from images.sam import form_parameters, logical_prefix, parameters
from images.template import MODEL_DIR, model_path_map


class _Loader(yaml.SafeLoader):
    """template.yaml uses CloudFormation's short tags (!Ref, !Sub ...): read them as {tag: value}."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


_Loader.add_multi_constructor("!", _cfn_tag)
TEMPLATE = yaml.load(Path(ROOT / "template.yaml").read_text(), Loader=_Loader)  # noqa: S506
#: the forms whose function the template deploys beside the winner's image (<Form>Function=true)
OTHER_FORMS = [f for f in PACKAGING_FORMS.values() if f is not DEFAULT_PACKAGING]


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
    if mode is None:
        assert p["DeployMode"] == "on-demand" and p["TfliteImageTag"] == "reference-full-int8"
        return
    assert p[f"{logical_prefix(kind)}ImageTag"] == "reference-float32"
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


def _layer(form: PackagingForm, arch: str) -> dict[str, Any]:
    """The form's dependency layer of one architecture (DepsLayerX8664, DepsLayerArm64)."""
    res = TEMPLATE["Resources"]
    (layer,) = [
        r["Properties"]
        for r in res.values()
        if r["Type"] == "AWS::Serverless::LayerVersion"
        and r["Properties"]["CompatibleArchitectures"] == [arch]
    ]
    assert layer["CompatibleRuntimes"] == [form.managed_runtime]
    return dict(layer)


@pytest.mark.parametrize("form", OTHER_FORMS, ids=lambda f: f.name)
def test_template_blocks_of_a_form_follow_its_catalogue_entry(form: PackagingForm, tmp_path: Path) -> None:
    """<Form>ModelVariant allows exactly the variants the form carries; its function per image kind has
    the form's PackageType, managed runtime, runtime and SnapStart, and loads the variant's own artefact
    path (a Mappings entry images/template.py writes from the catalogue's Variant.path)."""
    prefix = logical_prefix(form.name)
    params, res = TEMPLATE["Parameters"], TEMPLATE["Resources"]
    variant_param = f"{prefix}ModelVariant"
    assert params[variant_param]["AllowedValues"] == list(form.variants)
    assert params[f"{prefix}Function"]["AllowedValues"] == ["true", "false"]
    for kind in form.kinds:
        fn = res[f"{prefix}{logical_prefix(kind)}Function"]["Properties"]
        assert (fn["PackageType"], fn["Runtime"]) == (form.package_type, form.managed_runtime)
        assert (fn.get("SnapStart") == {"ApplyOn": "PublishedVersions"}) == form.snapstart
        env = fn["Environment"]["Variables"]
        assert env["MODEL_RUNTIME"] == runtime_of(kind)
        table, key, field = env["MODEL_PATH"]["FindInMap"]  # the variant's own path, not its name
        assert (table, key) == (model_path_map(form, kind), {"Ref": variant_param})
        paths = {v: entry[field] for v, entry in TEMPLATE["Mappings"][table].items()}
        assert paths == {v: f"{MODEL_DIR}/{p}" for v, p in IMAGES[kind].variants.items()}
    for arch in ARCHS:
        assert _layer(form, arch)["ContentUri"] == f"build/package/layer-{arch}.zip"
    PackageSummary.save(tmp_path, {"runtime": form.managed_runtime, "model": "m", "variant": "float32"})
    assert set(form_parameters(form.name, tmp_path)) <= set(params)
