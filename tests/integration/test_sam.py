"""template.yaml under the AWS SAM CLI: lint, `sam local invoke`, `sam local start-lambda` + boto3.

aws-sam-cli lives in its own venv (build/sam-venv, `make sam-venv`; its click pin conflicts with
requirements/dev.lock) and carries the real Lambda Runtime Interface Emulator. Everything runs offline:
``SAM_CLI_TELEMETRY=0``, ``--skip-pull-image``, the TFLite image built from this worktree (test_package's
tag). Answers are compared with the same image run directly; the url event's image comes from the
file-server container on the test network (``--docker-network``), as in test_images.py.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

from bench.measure import schema
from bench.measure.targets import aws as aws_bench
from core.budget import function_timeout_s
from core.catalogue import IMAGES, PACKAGING_FORMS, PackagingForm, runtime_of
from core.contracts import PackageSummary, Winner
from core.paths import ROOT, WINNER_JSON
from deploy import settings as deploy_settings
from images import build as imgbuild
from images import sam as sam_params
from infra import awslambda
from tests.support.containers import (
    SHIP_IMAGE_TAG,
    SHIP_VARIANT,
    dataset_dir,
    default_model_name,
    ensure_image,
    make_network,
    remove_strangers,
    require_docker,
    sample_images,
    serve_test_split,
    start_lambda,
)
from tests.support.emf import INFERENCE_KEYS, emf_lines

pytestmark = [pytest.mark.docker, pytest.mark.slow]
require_docker()
require_docker()
SAM = ROOT / "build" / "sam-venv" / "bin" / "sam"
TEMPLATE = ROOT / "template.yaml"
FUNCTION = "TfliteFunction"
MEMORY = "1024"
SAM_ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def sam() -> Path:
    """The sam binary, installed by `make sam-venv` when missing (a fresh machine's `make test`)."""
    if not SAM.exists():
        proc = subprocess.run(["make", "-s", "sam-venv"], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return SAM


@pytest.fixture(scope="module")
def network(request: pytest.FixtureRequest) -> tuple[str, str]:
    return make_network(request)


@pytest.fixture(scope="module")
def file_server(request: pytest.FixtureRequest, network: tuple[str, str]) -> str:
    return serve_test_split(request, network)


@pytest.fixture(scope="module")
def image() -> str:
    try:
        imgbuild.build_one("tflite", default_model_name(), SHIP_VARIANT, measure=False, tag=SHIP_IMAGE_TAG)
    except imgbuild.BuildError as e:
        pytest.fail(str(e))
    return SHIP_IMAGE_TAG.split(":", 1)[1]


def _params(tag: str) -> list[str]:
    return ["--parameter-overrides", f"TfliteImageTag={tag}", f"MemorySize={MEMORY}"]


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    """!Sub x -> {"Sub": x} etc.: enough of CloudFormation's short forms to read the template."""
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


def _load_template() -> dict[str, Any]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", _cfn_tag)
    return yaml.load(TEMPLATE.read_text(), Loader=Loader)


def test_template_timeout_and_public_cap_follow_the_budgets() -> None:
    """The function timeout is what the handler's budgets need at the template's default memory (no
    longer: a slow request would bill longer), and a public URL caps concurrency (denial of wallet)."""
    tpl = _load_template()
    params, glob = tpl["Parameters"], tpl["Globals"]["Function"]
    assert params["FunctionTimeout"]["Default"] == function_timeout_s(params["MemorySize"]["Default"])
    assert glob["Timeout"] == {"Ref": "FunctionTimeout"}
    cap = glob["ReservedConcurrentExecutions"]["If"]
    assert cap == ["IsPublicUrl", {"Ref": "PublicReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    assert tpl["Conditions"]["IsPublicUrl"] == {"Equals": [{"Ref": "FunctionUrlAuthType"}, "NONE"]}
    assert params["PublicReservedConcurrency"]["Default"] == deploy_settings.DEFAULT_PUBLIC_CONCURRENCY


def test_template_lints_and_covers_every_image_kind(sam: Path) -> None:
    proc = subprocess.run(
        [str(sam), "validate", "--lint", "-t", str(TEMPLATE)],
        env=SAM_ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and "is a valid SAM Template" in proc.stdout + proc.stderr, proc.stderr
    res = _load_template()["Resources"]
    repos = {
        str(r["Properties"]["ImageUri"]["Sub"]).split(":", 1)[0]
        for r in res.values()
        if r["Type"] == "AWS::Serverless::Function" and "Sub" in r["Properties"].get("ImageUri", {})
    }
    assert repos == {f"clothing-{k}" for k in IMAGES}
    # Managed Instances: the winner's whole image on a capacity provider, only in that mode
    assert res["ManagedFunction"]["Properties"]["ImageUri"] == {"Ref": "ManagedImage"}
    assert res["ManagedFunction"]["Condition"] == res["CapacityProvider"]["Condition"] == "IsManaged"
    zip_fn = res["ZipTfliteFunction"]["Properties"]
    assert zip_fn["SnapStart"] == {"ApplyOn": "PublishedVersions"} and zip_fn["Runtime"] == "python3.13"


def _invoke(sam: Path, tag: str, event: dict, tmp: Path, net: tuple[str, str]) -> tuple[Any, str]:
    ev, env = tmp / "event.json", tmp / "env.json"
    ev.write_text(json.dumps(event))
    env.write_text(json.dumps({FUNCTION: {"ALLOW_URL_CIDRS": net[1]}}))
    proc = subprocess.run(
        [
            str(sam),
            "local",
            "invoke",
            FUNCTION,
            "-t",
            str(TEMPLATE),
            "-e",
            str(ev),
            "--skip-pull-image",
            "--docker-network",
            net[0],
            "--env-vars",
            str(env),
            *_params(tag),
        ],
        env=SAM_ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_sam_local_invoke_answers_like_the_container(
    request: pytest.FixtureRequest,
    sam: Path,
    image: str,
    network: tuple[str, str],
    file_server: str,
    tmp_path: Path,
) -> None:
    direct = start_lambda(request, SHIP_IMAGE_TAG, network)
    p = sample_images()[0]
    url_event = {"url": f"{file_server}/{p.relative_to(dataset_dir() / 'test').as_posix()}"}
    b64_event = {"image_b64": base64.b64encode(p.read_bytes()).decode()}
    for event in (url_event, b64_event):
        answer, logs = _invoke(sam, image, event, tmp_path, network)
        assert "errorType" not in answer, (answer, logs[-2000:])
        assert answer == pytest.approx(direct.invoke(event), abs=1e-6)
        recs = [r for r in emf_lines(logs) if r.get("msg") == "inference"]
        assert len(recs) == 1 and INFERENCE_KEYS <= set(recs[0]) and recs[0]["cold"] is True
        assert (recs[0]["runtime"], recs[0]["variant"], recs[0]["memory"]) == ("tflite", SHIP_VARIANT, MEMORY)
        report = awslambda.find_report(logs)  # the platform line the deploy code parses on AWS
        assert report.memory_size_mb == int(MEMORY) and report.duration_ms > 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start_lambda_cmd(sam: Path, port: int, image: str, null_tag: str, network: str) -> list[str]:
    """`sam local start-lambda` on 127.0.0.1:``port``, warm containers on our ``network``."""
    return [
        str(sam),
        "local",
        "start-lambda",
        "-t",
        str(TEMPLATE),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--skip-pull-image",
        "--warm-containers",
        "LAZY",
        "--docker-network",
        network,
        *_params(image),
        f"NullImageTag={null_tag}",
    ]


@pytest.fixture(scope="module")
def local_lambda(
    request: pytest.FixtureRequest,
    sam: Path,
    image: str,
    network: tuple[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    """`sam local start-lambda` on a free 127.0.0.1 port (its own process group, stopped at the end) and a
    boto3 Lambda client pointed at it. ``--warm-containers LAZY``: a function's first invoke starts its
    container (cold), the next ones reuse it (warm), as a Lambda sandbox does (by default SAM starts one
    per invoke). NullFunction (the null image) is only invoked by the bench test: its first call is cold.
    Its function containers join this module's network, so stopping it removes them too: SAM leaves warm
    containers running when it exits (two were still up 47 minutes after a `make test`)."""
    null_tag = ensure_image({}, "null", "none", default_model_name()).tag.split(":", 1)[1]
    port = _free_port()
    log = open(tmp_path_factory.mktemp("start-lambda") / "start-lambda.log", "w+")
    proc = subprocess.Popen(
        _start_lambda_cmd(sam, port, image, null_tag, network[0]),
        env=SAM_ENV,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def stop() -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # the process group this test started: sam and its workers
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        remove_strangers(network[0])
        log.close()

    request.addfinalizer(stop)
    deadline = time.monotonic() + 120
    while not _listening(port):
        assert proc.poll() is None and time.monotonic() < deadline, Path(log.name).read_text()[-2000:]
        time.sleep(0.3)
    lam = boto3.client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 0}, read_timeout=300),
    )
    return lam


def test_start_lambda_answers_boto3(
    request: pytest.FixtureRequest, local_lambda: Any, network: tuple[str, str]
) -> None:
    direct = start_lambda(request, SHIP_IMAGE_TAG, network)
    p = sample_images()[1]
    event = {"image_b64": base64.b64encode(p.read_bytes()).decode()}
    resp = local_lambda.invoke(FunctionName=FUNCTION, Payload=json.dumps(event).encode())
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    assert json.loads(resp["Payload"].read()) == pytest.approx(direct.invoke(event), abs=1e-6)
    bad = json.loads(local_lambda.invoke(FunctionName=FUNCTION, Payload=b"{}")["Payload"].read())
    assert bad["errorType"] == "MissingInput"  # errors come back in the payload, as the emulator does


def test_aws_bench_invoke_and_measure_path_runs_against_start_lambda(
    request: pytest.FixtureRequest, local_lambda: Any, network: tuple[str, str]
) -> None:
    """bench/measure/targets/aws.py's measuring (not its deploy) against a real emulator: start-lambda refuses
    LogType=Tail, so it runs with log_tail=False (client times + the handler's meta; REPORT columns empty)."""
    p = sample_images()[2]
    event = {"image_b64": base64.b64encode(p.read_bytes()).decode(), "meta": True}
    payload = json.dumps(event).encode()
    with pytest.raises(ClientError, match="Tail is not supported"):
        aws_bench.invoke_once(local_lambda, FUNCTION, payload)  # why log_tail exists
    out = io.StringIO()  # NullFunction's first invoke in this module: a new container, the cold start
    m = aws_bench.measure(
        local_lambda,
        "NullFunction",
        payload,
        cold_starts=1,
        warm_invocations=2,
        out=out,
        force_cold=None,
        log_tail=False,
    )
    assert all(s.report is None and s.error is None for s in (*m.cold, *m.warm)), out.getvalue()
    assert [s.cold for s in (*m.cold, *m.warm)] == [True, False, False]  # the handler's meta, LAZY reuse
    direct = start_lambda(request, ensure_image({}, "null", "none", default_model_name()).tag, network)
    want = max(direct.invoke(event)["predictions"].items(), key=lambda kv: kv[1])[0]
    assert m.top_class == want and m.errors == 0
    cols = m.columns()
    assert (cols["cold_n"], cols["cold_rejected_n"], cols["warm_n"], cols["errors"]) == (1, 0, 2, 0)
    assert cols["cold_init_median_ms"] > 0 and cols["cold_total_median_ms"] > cols["warm_client_p50_ms"] > 0
    assert cols["warm_handler_p50_ms"] is None and cols["warm_billed_mean_ms"] is None  # no REPORT line
    assert not m.has_reports and m.max_memory_mb is None
    null_image = ensure_image({}, "null", "none", default_model_name()).tag
    row = aws_bench._row(
        deploy_settings.load(overrides={"image": null_image}, use_winner=False), null_image, 1, "local", m
    )
    frame = schema.to_frame([row])  # a valid bench/measure/schema.py row (unknown columns or targets raise)
    assert "no log tail" in row["note"] and frame["cold_n"].iloc[0] == 1 and row["runtime"] == "null"
    print(
        f"\nstart-lambda: cold {cols['cold_total_median_ms']:.0f} ms (init "
        f"{cols['cold_init_median_ms']:.0f} ms), warm client p50 {cols['warm_client_p50_ms']:.0f} ms"
    )


def _fake_package(tmp: Path, variant: str) -> Path:
    PackageSummary.save(tmp, {"runtime": "python3.13", "model": "reference", "variant": variant})
    return tmp


def test_winner_parameters_name_the_templates_function(tmp_path: Path) -> None:
    """images.sam (used by `make sam-invoke` and the README's `sam deploy`) maps every image kind onto a
    function and a tag parameter the template defines, and the winner's values onto the template's."""
    tpl = _load_template()
    for kind in IMAGES:
        image = f"clothing-{kind}:reference-float32"
        winner = Winner(image, kind, runtime_of(kind), "reference", "float32", 1769, "x86_64", 1)
        params = sam_params.parameters(winner)
        assert set(params) <= set(tpl["Parameters"]), params
        fn = tpl["Resources"][sam_params.function_for(kind)]
        tag_param = f"{sam_params.logical_prefix(kind)}ImageTag"
        assert fn["Properties"]["ImageUri"]["Sub"] == f"clothing-{kind}:${{{tag_param}}}"
    zipped = sam_params.form_parameters("zip", _fake_package(tmp_path, "int8"))
    assert zipped == {"ZipFunction": "true", "ZipModelVariant": "int8"}
    assert sam_params.form_parameters("image", _fake_package(tmp_path, "int8")) == {}
    assert tpl["Parameters"]["ZipModelVariant"]["AllowedValues"] == list(PACKAGING_FORMS["zip"].variants)
    real = sam_params.parameters(Winner.load(WINNER_JSON))
    assert real["MemorySize"] in {str(m) for m in range(128, 10241)}
    assert real["Architecture"] in tpl["Parameters"]["Architecture"]["AllowedValues"]


def test_sam_build_keeps_the_prebuilt_artefacts(sam: Path, tmp_path: Path) -> None:
    """`sam build` (the README's first step) succeeds offline: images are prebuilt by `make build-all`
    and the zip archives by `make package`, so it only rewrites their paths for `sam deploy`."""
    params = sam_params.parameters(Winner.load(WINNER_JSON))
    proc = subprocess.run(
        [
            str(sam),
            "build",
            "-t",
            str(TEMPLATE),
            "--build-dir",
            str(tmp_path / "b"),
            "--cache-dir",
            str(tmp_path / "c"),
            "--parameter-overrides",
            *(f"{k}={v}" for k, v in params.items()),
        ],
        env=SAM_ENV,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and "Build Succeeded" in proc.stdout, proc.stdout + proc.stderr
    built_tpl = (tmp_path / "b" / "template.yaml").read_text()
    for name in ("function.zip", "layer-x86_64.zip", "layer-arm64.zip"):
        assert f"package/{name}" in built_tpl, name


# -- the deploy modes as CloudFormation: SAM's own translation, checked by the SDK's request validation --
_TRANSLATE = """
import json, sys
from samtranslator.parser.parser import Parser
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoPolicies:
    def load(self):
        return {}

tpl = yaml_parse(open(sys.argv[1]).read())
for r in tpl["Resources"].values():  # what `sam package` does to local archives
    for key in ("CodeUri", "ContentUri"):
        if isinstance(r.get("Properties", {}).get(key), str):
            r["Properties"][key] = "s3://bucket/" + r["Properties"][key]
print(json.dumps(transform(tpl, json.loads(sys.argv[2]), NoPolicies())))
"""
CP_ARN = "arn:aws:lambda:us-east-1:123456789012:capacity-provider:stack-capacity"
ROLE_ARN = "arn:aws:iam::123456789012:role/stack-operator"


def _translate(params: dict[str, str]) -> dict[str, Any]:
    python = SAM.parent / "python"
    proc = subprocess.run(
        [str(python), "-c", _TRANSLATE, str(TEMPLATE), json.dumps(params)],
        env=SAM_ENV,  # a region for the pseudo parameters; nothing is sent anywhere
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return dict(json.loads(proc.stdout))


def _resolve(value: Any, params: dict[str, Any], conditions: dict[str, bool]) -> Any:
    """Intrinsics -> the values the stack would have: parameters, conditions, the provider's ARN."""
    if isinstance(value, list):
        return [v for v in (_resolve(x, params, conditions) for x in value) if v is not _NO]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return _NO if value["Ref"] == "AWS::NoValue" else params.get(value["Ref"], value["Ref"])
    if set(value) == {"Fn::If"}:
        cond, yes, no = value["Fn::If"]
        return _resolve(yes if conditions[cond] else no, params, conditions)
    if set(value) == {"Fn::Sub"}:
        return CP_ARN if "capacity-provider" in str(value["Fn::Sub"]) else "stack-capacity"
    if set(value) == {"Fn::GetAtt"}:
        return ROLE_ARN
    out = {k: _resolve(v, params, conditions) for k, v in value.items()}
    return {k: v for k, v in out.items() if v is not _NO}


_NO = object()


@pytest.mark.parametrize("concurrency", ["0", "8"])
def test_modes_translate_into_requests_the_sdk_accepts(sam: Path, concurrency: str) -> None:
    """sam's translation of each mode, resolved for the parameters, validated by botocore against the
    Lambda service model: the capacity provider (CreateCapacityProvider), the function's capacity
    configuration (UpdateFunctionConfiguration), provisioned concurrency (PutProvisionedConcurrencyConfig)."""
    from botocore.session import get_session
    from botocore.validate import validate_parameters

    model = get_session().get_service_model("lambda")
    managed = {
        "DeployMode": "managed-instances",
        "ManagedImage": "clothing-onnx:reference-float32",
        "CapacityProviderSubnetIds": "subnet-0123456789abcdef0",
        "MemorySize": "2048",
        "PerEnvironmentMaxConcurrency": concurrency,
        "CapacityProviderMaxVCpus": "16",
        "TfliteImageTag": "reference-float32",
    }
    res = _translate(managed)["Resources"]
    values: dict[str, Any] = {
        **managed,
        "MemoryGiBPerVCpu": 2,
        "PerEnvironmentMaxConcurrency": int(concurrency),
        "CapacityProviderMaxVCpus": 16,
        "Architecture": "x86_64",
        "CapacityProviderSubnetIds": ["subnet-0123456789abcdef0"],
        "CapacityProviderSecurityGroupIds": [],
    }
    conditions = {"HasMaxConcurrency": concurrency != "0", "HasMaxVCpus": True, "IsProvisioned": False}
    conditions |= {"IsPublicUrl": False, "IsArm64": False}
    cps = [r for r in res.values() if r["Type"] == "AWS::Lambda::CapacityProvider"]
    assert len(cps) == 1
    cp = _resolve(cps[0]["Properties"], values, conditions)
    cp.pop("Tags", None)  # CloudFormation's list of Key/Value; the API takes a map
    validate_parameters(cp, model.operation_model("CreateCapacityProvider").input_shape)
    fn = _resolve(res["ManagedFunction"]["Properties"], values, conditions)
    request = {"FunctionName": "f", "CapacityProviderConfig": fn["CapacityProviderConfig"]}
    validate_parameters(request, model.operation_model("UpdateFunctionConfiguration").input_shape)
    inner = fn["CapacityProviderConfig"]["LambdaManagedInstancesCapacityProviderConfig"]
    assert inner["CapacityProviderArn"] == CP_ARN
    assert ("PerExecutionEnvironmentMaxConcurrency" in inner) == (concurrency != "0")

    provisioned = {
        "DeployMode": "provisioned",
        "ProvisionedConcurrency": "3",
        "TfliteImageTag": "reference-float32",
    }
    res = _translate(provisioned)["Resources"]
    aliases = {k: r for k, r in res.items() if r["Type"] == "AWS::Lambda::Alias"}
    found = {
        k: _resolve(
            a["Properties"].get("ProvisionedConcurrencyConfig"),
            {"ProvisionedConcurrency": 3},
            {"IsProvisioned": True},
        )
        for k, a in aliases.items()
    }
    # every function's live alias has it, but the Managed Instances one (no provisioned concurrency there)
    assert {k for k, c in found.items() if not c} == {k for k in aliases if k.startswith("ManagedFunction")}
    configs = [c for c in found.values() if c]
    assert len(configs) == 6  # the five image kinds and the zip function
    for c in configs:
        put = {"FunctionName": "f", "Qualifier": "live", **c}
        validate_parameters(put, model.operation_model("PutProvisionedConcurrencyConfig").input_shape)


@pytest.mark.parametrize(
    "form", [f for f in PACKAGING_FORMS.values() if not f.from_image], ids=lambda f: f.name
)
def test_a_form_s_function_loads_each_variant_s_own_artefact(sam: Path, form: PackagingForm) -> None:
    """SAM's translation of a form's function, with the Mappings CloudFormation resolves it against: for
    every variant the form carries, MODEL_PATH is that variant's catalogue path (Variant.path) in the
    function's model folder, MODEL_VARIANT its name and MODEL_RUNTIME the kind's runtime."""
    prefix = sam_params.logical_prefix(form.name)
    for variant in form.variants:
        params = {f"{prefix}Function": "true", f"{prefix}ModelVariant": variant}
        out = _translate(params)
        for kind in form.kinds:
            fn = out["Resources"][f"{prefix}{sam_params.logical_prefix(kind)}Function"]["Properties"]
            assert fn["PackageType"] == form.package_type and fn["Runtime"] == form.managed_runtime
            env = fn["Environment"]["Variables"]
            table, key, field = env["MODEL_PATH"]["Fn::FindInMap"]
            resolved = out["Mappings"][table][_resolve(key, params, {})][field]
            assert resolved == f"/var/task/model/{IMAGES[kind].variants[variant]}", (variant, resolved)
            assert _resolve(env["MODEL_VARIANT"], params, {}) == variant
            assert env["MODEL_RUNTIME"] == runtime_of(kind)
