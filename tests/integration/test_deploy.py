"""deploy/ against moto (ECR, Lambda, IAM, STS in server mode on 127.0.0.1) and a local docker-registry.

Nothing here can reach real AWS: every test runs under ``aws_env``, which points AWS_ENDPOINT_URL at
the moto server on 127.0.0.1, uses fake credentials and refuses to run otherwise. Moto's ECR
repository URIs name AWS hosts, so images are pushed to a local ``docker-registry`` through the
``--registry`` override; the function is still configured with the ECR URI pinned to the digest
that registry returned.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st

from core.budget import function_timeout_s
from core.paths import ROOT
from deploy import (
    MANAGED_TAG,
    MANAGED_VALUE,
    DeployError,
    aws,
    dockercli,
    modes,
    settings,
    undeploy,
    verify,
    zipdeploy,
)
from deploy.__main__ import main

FN = "clothing-test-fn"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# -- moto -------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto in server mode on a free 127.0.0.1 port (own process, stopped by pid at the end).

    Its request recorder (off until a test starts it, see ``recorded``) shows what reached the API where
    moto does not keep it (SnapStart, Architectures on UpdateFunctionCode)."""
    port = free_port()
    recording = tmp_path_factory.mktemp("moto") / "recording.jsonl"
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true", "MOTO_RECORDER_FILEPATH": str(recording)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/moto-api/")
        # invokes use moto's docker-free Lambda (answers come from a queue we fill), see test_verify_*
        requests.post(f"{url}/moto-api/config", json={"lambda": {"use_docker": False}}, timeout=5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Fake credentials + endpoint at moto; a clean moto state; a private docker config for `docker login`."""
    for var in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "DEPLOY_IMAGE",
        "DEPLOY_MEMORY_MB",
        "DEPLOY_ARCHITECTURE",
        "DEPLOY_FUNCTION",
        "DEPLOY_REPOSITORY",
        "DEPLOY_ROLE_ARN",
        "DEPLOY_REGISTRY",
        "DEPLOY_TIMEOUT_S",
        "DEPLOY_PACKAGE",
        "DEPLOY_S3_BUCKET",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    if not os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:"):
        pytest.fail("refusing to run deploy tests against a non-local AWS endpoint")
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10)
    return moto_endpoint


def client(name: str) -> Any:  # boto3 clients are dynamically typed
    """A moto client with its own fake credentials (independent of what a test removed from the env)."""
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    assert endpoint.startswith("http://127.0.0.1:")
    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    ).client(name, endpoint_url=endpoint)


def moto_is_empty() -> bool:
    """No repository, role or function exists (what a dry run must leave behind)."""
    return (
        not client("ecr").describe_repositories()["repositories"]
        and not client("iam").list_roles()["Roles"]
        and not client("lambda").list_functions()["Functions"]
    )


# -- docker: local registry and tiny images ---------------------------------------------------------
def docker_ok() -> bool:
    return (
        shutil.which("docker") is not None
        and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    )


def start_registry(tmp: Path, readonly: bool = False) -> tuple[str, subprocess.Popen[bytes]]:
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry missing: apt-get install docker-registry (make apt)")
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    maintenance = "  maintenance:\n    readonly:\n      enabled: true\n" if readonly else ""
    (tmp / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {tmp / 'store'}\n  delete:\n    enabled: true\n{maintenance}"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(
        [binary, "serve", str(tmp / "config.yml")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_http(f"http://127.0.0.1:{port}/v2/")
    return f"127.0.0.1:{port}", proc


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not docker_ok():
        pytest.skip("docker daemon not available")
    host, proc = start_registry(tmp_path_factory.mktemp("registry"))
    yield host
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def tiny_images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two few-hundred-byte images made with `docker import` (nothing can be pulled here)."""
    if not docker_ok():
        pytest.skip("docker daemon not available")
    run = uuid.uuid4().hex[:8]
    tags = []
    for i in range(2):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            data = f"deploy test image {i} {run}\n".encode()
            info = tarfile.TarInfo("payload.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tag = f"deploy-test-{run}:v{i}"
        subprocess.run(["docker", "import", "-", tag], input=buf.getvalue(), check=True, capture_output=True)
        tags.append(tag)
    yield tags
    subprocess.run(["docker", "rmi", "-f", *tags, f"deploy-test-{run}:current"], capture_output=True)


def registry_digest(host: str, repo: str, tag: str) -> str | None:
    r = requests.head(
        f"http://{host}/v2/{repo}/manifests/{tag}",
        timeout=5,
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    return r.headers.get("Docker-Content-Digest") if r.status_code == 200 else None


def deploy_args(image: str, registry_host: str, *extra: str) -> list[str]:
    return [
        "deploy",
        "--image",
        image,
        "--registry",
        registry_host,
        "--function-name",
        FN,
        "--winner",
        "/nonexistent/winner.json",
        "--no-verify",
        *extra,
    ]


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


# -- the happy path, idempotency, real changes ------------------------------------------------------
@pytest.mark.docker
def test_deploy_pins_pushed_digest_then_rerun_is_noop_then_changes_move_alias(
    aws_env: str, registry: str, tiny_images: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tiny_images
    current = first.split(":")[0] + ":current"  # the tag a user rebuilds in place
    subprocess.run(["docker", "tag", first, current], check=True)
    lam = client("lambda")

    rc, out, err = run_main(deploy_args(current, registry), capsys)
    assert rc == 0, err
    assert "push:" in err  # docker push progress was streamed
    repo_tag = current.replace(":", "-")
    digest = registry_digest(registry, FN, repo_tag)
    assert digest and digest.startswith("sha256:")
    fn = lam.get_function(FunctionName=FN)
    assert fn["Code"]["ImageUri"].endswith(f"/{FN}@{digest}")  # pinned by the digest the registry returned
    cfg = fn["Configuration"]
    assert cfg["PackageType"] == "Image" and cfg["MemorySize"] == settings.DEFAULT_MEMORY_MB
    assert cfg["Architectures"] == ["x86_64"] and cfg["Timeout"] == function_timeout_s(cfg["MemorySize"])
    assert cfg["Environment"]["Variables"]["MODEL_THREADS"] == "1"
    assert cfg["Environment"]["Variables"]["DEPLOY_IMAGE"] == current
    assert fn["Tags"][MANAGED_TAG] == MANAGED_VALUE
    assert lam.get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == "1"
    role = client("iam").get_role(RoleName=f"{FN}-exec")["Role"]
    assert cfg["Role"] == role["Arn"]
    assert "lambda.amazonaws.com" in json.dumps(role["AssumeRolePolicyDocument"])
    attached = client("iam").list_attached_role_policies(RoleName=f"{FN}-exec")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AWSLambdaBasicExecutionRole"]
    versions = lambda: [v["Version"] for v in lam.list_versions_by_function(FunctionName=FN)["Versions"]]  # noqa: E731
    assert versions() == ["$LATEST", "1"]
    modified = cfg["LastModified"]

    # second run, nothing changed: no push, no update, no new version
    rc, out, err = run_main(deploy_args(current, registry), capsys)
    assert rc == 0, err
    assert "push:" not in err
    assert "nothing changed" in out and not any(line.startswith(("+", "~")) for line in out.splitlines())
    assert versions() == ["$LATEST", "1"]
    assert lam.get_function(FunctionName=FN)["Configuration"]["LastModified"] == modified

    # the image is rebuilt under the same tag: pushed, code updated, new version, alias moves
    subprocess.run(["docker", "tag", second, current], check=True)
    rc, out, err = run_main(deploy_args(current, registry), capsys)
    assert rc == 0, err
    assert "push:" in err
    new_digest = registry_digest(registry, FN, repo_tag)
    assert new_digest and new_digest != digest
    assert lam.get_function(FunctionName=FN)["Code"]["ImageUri"].endswith(f"@{new_digest}")
    assert lam.get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == "2"

    # a configuration-only change (memory): no push, new version, alias moves again
    rc, out, err = run_main(deploy_args(current, registry, "--memory", "3008"), capsys)
    assert rc == 0, err
    assert "push:" not in err
    assert lam.get_function_configuration(FunctionName=FN, Qualifier="live")["MemorySize"] == 3008
    assert lam.get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == "3"
    assert versions() == ["$LATEST", "1", "2", "3"]

    # undeploy removes function, alias, role and repository (all tagged as ours)
    rc, out, err = run_main(["undeploy", "--function-name", FN], capsys)
    assert rc == 0, err
    assert moto_is_empty()


@pytest.mark.docker
def test_dry_run_touches_nothing(
    aws_env: str, registry: str, tiny_images: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tiny_images[0]
    rc, out, err = run_main(deploy_args(image, registry, "--dry-run", "--public-url"), capsys)
    assert rc == 0, err
    assert "would create ECR repository" in out and "would push" in out and "would create function" in out
    assert "would create function URL" in out and "(AuthType NONE)" in out
    assert "reserved concurrency none -> 10 (public URL" in out  # the plan shows the cap
    assert moto_is_empty()
    assert registry_digest(registry, FN, image.replace(":", "-")) is None
    assert not (tmp_path / "docker-config" / "config.json").exists()  # no docker login either

    # after a real deploy, a dry run with a change plans it but leaves the function as it is
    assert main(deploy_args(image, registry)) == 0
    capsys.readouterr()
    rc, out, err = run_main(["plan", *deploy_args(image, registry, "--memory", "512")[1:]], capsys)
    assert rc == 0, err
    assert "~ would update function configuration" in out and "+ would publish" in out
    assert (
        client("lambda").get_function_configuration(FunctionName=FN)["MemorySize"]
        == settings.DEFAULT_MEMORY_MB
    )
    assert client("lambda").get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == "1"


@pytest.mark.docker
def test_function_url_iam_by_default_public_only_on_request(
    aws_env: str, registry: str, tiny_images: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    lam = client("lambda")
    assert main(deploy_args(tiny_images[0], registry, "--function-url")) == 0
    assert lam.get_function_url_config(FunctionName=FN, Qualifier="live")["AuthType"] == "AWS_IAM"
    assert aws.policy_sids(lam, FN, "live") == set()
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=FN)
    assert main(deploy_args(tiny_images[0], registry, "--public-url")) == 0
    assert lam.get_function_url_config(FunctionName=FN, Qualifier="live")["AuthType"] == "NONE"
    assert set(aws.PUBLIC_URL_SIDS) <= aws.policy_sids(lam, FN, "live")
    reserved = lam.get_function_concurrency(FunctionName=FN)["ReservedConcurrentExecutions"]
    assert reserved == settings.DEFAULT_PUBLIC_CONCURRENCY  # a public URL is capped by default
    capsys.readouterr()
    rc, out, _ = run_main(deploy_args(tiny_images[0], registry, "--public-url"), capsys)
    assert rc == 0 and "nothing changed" in out
    assert main(deploy_args(tiny_images[0], registry, "--public-url", "--reserved-concurrency", "3")) == 0
    assert lam.get_function_concurrency(FunctionName=FN)["ReservedConcurrentExecutions"] == 3
    assert main(deploy_args(tiny_images[0], registry, "--function-url")) == 0
    assert lam.get_function_url_config(FunctionName=FN, Qualifier="live")["AuthType"] == "AWS_IAM"
    assert not set(aws.PUBLIC_URL_SIDS) & aws.policy_sids(lam, FN, "live")
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=FN)
    assert main(["undeploy", "--function-name", FN]) == 0
    assert moto_is_empty()


@pytest.mark.docker
def test_given_role_is_used_and_untagged_resources_are_left_alone(
    aws_env: str, registry: str, tiny_images: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    iam = client("iam")
    role = iam.create_role(RoleName="theirs", AssumeRolePolicyDocument=json.dumps(aws.TRUST_POLICY))["Role"]
    client("ecr").create_repository(repositoryName=FN)  # exists already, not ours
    assert main(deploy_args(tiny_images[0], registry, "--role-arn", role["Arn"])) == 0
    assert client("lambda").get_function_configuration(FunctionName=FN)["Role"] == role["Arn"]
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["theirs"]
    capsys.readouterr()
    rc, out, _ = run_main(["undeploy", "--function-name", FN], capsys)
    assert rc == 0
    assert "ECR repository clothing-test-fn was not created by deploy: left alone" in out
    assert client("ecr").describe_repositories()["repositories"]
    assert iam.get_role(RoleName="theirs")
    assert not client("lambda").list_functions()["Functions"]


# -- one-line errors with a fix and a non-zero exit --------------------------------------------------
def assert_one_line_error(rc: int, err: str, *needles: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc != 0
    assert len(lines) == 1 and lines[0].startswith("deploy: error: ") and "fix" in lines[0], err
    for n in needles:
        assert n in lines[0], lines[0]


def test_error_no_credentials(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the real entry point (`python -m deploy`), so the exit status is the process's."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    proc = subprocess.run(
        [sys.executable, "-m", "deploy", "undeploy"], cwd=ROOT, capture_output=True, text=True
    )
    assert_one_line_error(proc.returncode, proc.stderr, "no AWS credentials", "aws configure")
    assert moto_is_empty()


def test_error_no_winner(aws_env: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, _, err = run_main(["deploy", "--winner", str(tmp_path / "winner.json")], capsys)
    assert_one_line_error(rc, err, "no winner.json", "make bench")


def test_winner_json_drives_settings_and_flags_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    winner = tmp_path / "winner.json"
    winner.write_text(
        json.dumps(
            {
                "image": "clothing-onnx:reference-float32-opt",
                "image_kind": "onnx",
                "runtime": "onnx",
                "model": "reference",
                "variant": "float32-opt",
                "memory_mb": 2048,
                "architecture": "arm64",
                "threads": 2,
            }
        )
    )
    monkeypatch.delenv("DEPLOY_MEMORY_MB", raising=False)
    monkeypatch.setenv("DEPLOY_ARCHITECTURE", "x86_64")
    s = settings.load(winner, {"memory_mb": 1024})
    assert (s.image, s.memory_mb, s.architecture, s.threads) == (
        "clothing-onnx:reference-float32-opt",
        1024,
        "x86_64",
        2,
    )
    assert s.environment()["MODEL_THREADS"] == "2" and s.environment()["DEPLOY_VARIANT"] == "float32-opt"
    other = settings.load(winner, {"image": "clothing-tflite:reference-int8"})
    assert (other.runtime, other.model, other.variant) == ("tflite", "reference", "int8")
    with pytest.raises(DeployError, match="outside Lambda"):
        settings.load(winner, {"memory_mb": 64})


@pytest.mark.docker
def test_error_image_not_built(aws_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_main(deploy_args(f"clothing-nope:{uuid.uuid4().hex}", "127.0.0.1:1"), capsys)
    assert_one_line_error(rc, err, "is not built", "make build")
    assert moto_is_empty()


@pytest.mark.docker
def test_error_architecture_mismatch(
    aws_env: str, tiny_images: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = run_main(deploy_args(tiny_images[0], "127.0.0.1:1", "--architecture", "arm64"), capsys)
    assert_one_line_error(rc, err, "architecture mismatch", "amd64", "arm64", "--architecture x86_64")
    assert moto_is_empty()


@pytest.mark.docker
def test_error_push_refused(
    aws_env: str, tiny_images: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host, proc = start_registry(tmp_path / "ro-registry", readonly=True)
    try:
        rc, _, err = run_main(deploy_args(tiny_images[0], host), capsys)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    error_lines = [ln for ln in err.splitlines() if ln.startswith("deploy: error:")]
    assert rc != 0 and len(error_lines) == 1 and "push refused" in error_lines[0] and "fix" in error_lines[0]
    assert not client("lambda").list_functions()["Functions"]  # nothing deployed after a refused push


def test_error_function_failed_state(aws_env: str) -> None:
    """Moto functions are always Active, so the Failed state is fed to the waiter with botocore's Stubber."""
    lam = client("lambda")
    failed = {
        "Configuration": {
            "FunctionName": FN,
            "State": "Failed",
            "StateReasonCode": "ImageAccessDenied",
            "StateReason": "Lambda does not have permission to access the ECR image.",
        }
    }
    with Stubber(lam) as stub:
        stub.add_response("get_function", failed, {"FunctionName": FN})
        with pytest.raises(DeployError) as e:
            aws.wait_ready(lam, FN, "function_active_v2")
    msg = str(e.value)
    assert "Failed state" in msg and "ImageAccessDenied" in msg and "fix" in msg and "\n" not in msg
    with pytest.raises(DeployError, match="Failed state"):
        aws.check_not_failed(
            {
                "FunctionName": FN,
                "State": "Active",
                "LastUpdateStatus": "Failed",
                "LastUpdateStatusReason": "image manifest not found",
            }
        )
    aws.check_not_failed({"FunctionName": FN, "State": "Active", "LastUpdateStatus": "Successful"})


@pytest.mark.docker
def test_existing_untagged_function_is_refused(
    aws_env: str, tiny_images: list[str], registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    role = client("iam").create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(aws.TRUST_POLICY))[
        "Role"
    ]
    client("lambda").create_function(
        FunctionName=FN,
        PackageType="Image",
        Role=role["Arn"],
        Code={"ImageUri": "1.dkr.ecr.us-east-1.amazonaws.com/x@sha256:" + "0" * 64},
    )
    rc, _, err = run_main(deploy_args(tiny_images[0], registry), capsys)
    assert_one_line_error(rc, err, "not created by deploy")
    rc, out, _ = run_main(["undeploy", "--function-name", FN], capsys)
    assert rc == 0 and "left alone" in out
    assert client("lambda").get_function(FunctionName=FN)


# -- the post-deploy check ---------------------------------------------------------------------------
SCORES = {
    c: float(i)
    for i, c in enumerate(
        ["dress", "hat", "longsleeve", "outwear", "pants", "shirt", "shoes", "shorts", "skirt", "t-shirt"]
    )
}


def queue_lambda_answers(endpoint: str, *answers: object) -> None:
    """moto's docker-free Lambda returns these payloads, in order, to the next invokes."""
    r = requests.post(
        f"{endpoint}/moto-api/static/lambda-simple/response",
        timeout=5,
        json={"results": [json.dumps(a) for a in answers], "region": REGION},
    )
    assert r.status_code == 201


@pytest.mark.docker
def test_verify_compares_deployed_answer_with_local(
    aws_env: str, registry: str, tiny_images: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The invoke goes through moto (Image functions cannot run there); the answers are queued."""
    assert main(deploy_args(tiny_images[0], registry)) == 0
    lam = client("lambda")
    payload = {"image_b64": base64.b64encode(b"not used by moto").decode()}
    disagree = dict(SCORES, dress=99.0)
    queue_lambda_answers(
        aws_env,
        SCORES,
        {"predictions": disagree, "meta": {"cold": True}},
        {"errorType": "InvalidImage", "errorMessage": "cannot identify image file"},
    )
    assert verify.compare(SCORES, verify.remote_scores(lam, FN, payload)) == "t-shirt"
    with pytest.raises(DeployError, match="deployed function says 'dress'"):
        verify.compare(SCORES, verify.remote_scores(lam, FN, payload))
    with pytest.raises(DeployError, match="InvalidImage"):
        verify.remote_scores(lam, FN, payload)
    with pytest.raises(DeployError, match="returns classes"):
        verify.compare(SCORES, {"cat": 1.0})


def test_verify_picks_a_test_split_image() -> None:
    if not os.environ.get("CLOTHING_DATASET"):
        pytest.skip("CLOTHING_DATASET not set")
    picture = verify.pick_test_image()
    assert picture.parent.parent.name == "test" and picture.is_file()
    assert base64.b64decode(verify.payload_for(picture)["image_b64"]) == picture.read_bytes()


def clothing_images() -> list[str]:
    if not docker_ok():
        return []
    out = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "clothing-*"],
        capture_output=True,
        text=True,
    ).stdout.split()
    return sorted(t for t in out if not t.endswith(":<none>"))


@pytest.mark.docker
@pytest.mark.slow
def test_cli_check_runs_local_image_and_compares(
    aws_env: str, registry: str, fake_emulator_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Full `deploy` with the check on: test-split picture, local `docker run` answer, invoke of `live`.

    The local half runs for real (the fake emulator image below). The deployed half is moto's docker-free
    Lambda answering from a queue: once like the local image (check passes, exit 0), once with another
    top class (check fails, one error line, exit != 0).
    """
    if not os.environ.get("CLOTHING_DATASET"):
        pytest.skip("CLOTHING_DATASET not set")
    local = verify.local_scores(fake_emulator_image, {"image_b64": "aGVsbG8="})
    args = deploy_args(fake_emulator_image, registry)
    args.remove("--no-verify")
    queue_lambda_answers(aws_env, local)
    rc, out, err = run_main(args, capsys)
    assert rc == 0, err
    assert "both say 'hat'" in out
    queue_lambda_answers(aws_env, dict(local, shoes=9.0))
    rc, out, err = run_main([*args, "--memory", "2048"], capsys)
    assert_one_line_error(rc, err, "deployed function says 'shoes'", "local image says 'hat'", "rolled back")
    assert client("lambda").get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == "1"


@pytest.mark.docker
@pytest.mark.slow
def test_local_answer_from_a_real_project_image() -> None:
    """The same local half with an image from `make build` (skipped until one exists)."""
    images = [i for i in clothing_images() if i.startswith(("clothing-null:", "clothing-tflite:"))]
    images = images or clothing_images()
    if not images or not os.environ.get("CLOTHING_DATASET"):
        pytest.skip("no clothing-* image built yet (make build) or no dataset")
    payload = verify.payload_for(verify.pick_test_image())
    scores = verify.local_scores(images[0], payload)
    assert len(scores) == 10
    assert verify.top_class(verify.local_scores(images[0], payload)) == verify.top_class(scores)


FAKE_EMULATOR = """
import json
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer = ({"dress": 0.5, "hat": 2.5, "shoes": -1.0} if self.path.endswith("/invocations")
                  and "image_b64" in event else {"errorType": "InvalidInput", "errorMessage": "no image"})
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

HTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
"""


@pytest.fixture(scope="session")
def fake_emulator_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An image answering like the Lambda emulator, made from this host's Python (nothing can be pulled).

    It holds the interpreter, the shared libraries ldd lists for it and its extension modules, the
    stdlib (no site-packages) and a 15-line HTTP server; it checks deploy's docker run / port / POST /
    cleanup plumbing, not a model.
    """
    if not docker_ok() or shutil.which("ldd") is None:
        pytest.skip("docker daemon or ldd not available")
    import sysconfig

    exe = Path(sys.executable).resolve()
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    binaries = [exe, *(stdlib / "lib-dynload").glob("*.so")]
    libs: set[str] = set()
    for b in binaries:
        for line in subprocess.run(["ldd", str(b)], capture_output=True, text=True).stdout.splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) > 2 and parts[2].startswith("/"):
                libs.add(parts[2])
            elif parts and parts[0].startswith("/"):
                libs.add(parts[0])  # the dynamic loader
    work = tmp_path_factory.mktemp("fake-emulator")
    (work / "emulator.py").write_text(FAKE_EMULATOR)
    tag = f"deploy-test-emulator-{uuid.uuid4().hex[:8]}:py"
    tar = work / "image.tar"
    subprocess.run(
        [
            "tar",
            "-chf",
            str(tar),
            "--exclude=site-packages",
            "--exclude=test",
            "--exclude=__pycache__",
            "--exclude=idlelib",
            "--exclude=tkinter",
            "--exclude=ensurepip",
            "-C",
            "/",
            *(p.lstrip("/") for p in sorted({str(exe), *libs, str(stdlib)})),
            "-C",
            str(work),
            "emulator.py",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "docker",
            "import",
            "--change",
            f"CMD {json.dumps([str(exe), '/emulator.py'])}",
            str(tar),
            tag,
        ],
        check=True,
        capture_output=True,
    )
    tar.unlink()
    yield tag
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


@pytest.mark.docker
@pytest.mark.slow
def test_local_answer_runs_the_image_and_cleans_up(fake_emulator_image: str) -> None:
    def containers() -> list[str]:
        return subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"ancestor={fake_emulator_image}"],
            capture_output=True,
            text=True,
        ).stdout.split()

    scores = verify.local_scores(fake_emulator_image, {"image_b64": "aGVsbG8="}, threads=2, memory_mb=256)
    assert scores == {"dress": 0.5, "hat": 2.5, "shoes": -1.0} and verify.top_class(scores) == "hat"
    with pytest.raises(DeployError, match="answered an error: InvalidInput"):
        verify.local_scores(fake_emulator_image, {"url": "http://example.invalid/x.jpg"})
    assert containers() == []  # every container removed, also after the error


# -- aws bench: what can be exercised without real AWS ------------------------------------------------
def test_aws_bench_skips_without_credentials(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.measure.settings import Settings
    from bench.measure.targets import aws as aws_bench

    assert aws_bench.skip_reason(enabled=True) is None  # moto's fake credentials count as credentials
    assert "opt-in" in str(aws_bench.skip_reason(enabled=False))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    reason = aws_bench.skip_reason(enabled=True)
    assert reason and "no AWS credentials" in reason
    with pytest.raises(DeployError, match="aws bench skipped: no AWS credentials"):
        aws_bench.run(["clothing-null:reference-float32"], Settings(memory_mb=(512,)))
    assert moto_is_empty()


@pytest.mark.docker
def test_aws_bench_forces_cold_start_by_env_change(
    aws_env: str, registry: str, tiny_images: list[str]
) -> None:
    """Functions are named per image x memory; each forced cold start changes only the token variable."""
    from bench.measure.targets import aws as aws_bench

    assert main(deploy_args(tiny_images[0], registry)) == 0
    lam = client("lambda")
    before = lam.get_function_configuration(FunctionName=FN)["Environment"]["Variables"]
    tokens = {aws_bench.force_cold_start(lam, FN) for _ in range(3)}
    after = lam.get_function_configuration(FunctionName=FN)["Environment"]["Variables"]
    assert len(tokens) == 3 and after[aws_bench.COLD_ENV] in tokens
    assert {k: v for k, v in after.items() if k != aws_bench.COLD_ENV} == before
    name = aws_bench.function_name("lmb-bench", "clothing-tflite:reference-full-int8", 10240)
    assert name == "lmb-bench-clothing-tflite-reference-full-int8-10240" and len(name) <= 64
    assert aws_bench.function_name("p", "clothing-x:" + "v" * 80, 128).endswith("-128")
    assert len(aws_bench.function_name("p", "clothing-x:" + "v" * 80, 128)) == 64


# -- zip + layer (deploy/zipdeploy.py) ----------------------------------------------------------------
@contextlib.contextmanager
def recorded(endpoint: str) -> Iterator[list[dict[str, Any]]]:
    """The API calls that reached moto inside the block: [{"target": X-Amz-Target or path, "body": {...}}]."""
    requests.post(f"{endpoint}/moto-api/recorder/reset-recording", timeout=5)
    requests.post(f"{endpoint}/moto-api/recorder/start-recording", timeout=5)
    calls: list[dict[str, Any]] = []
    try:
        yield calls
    finally:
        requests.post(f"{endpoint}/moto-api/recorder/stop-recording", timeout=5)
        text = requests.get(f"{endpoint}/moto-api/recorder/download-recording", timeout=30).text
        for line in text.splitlines():
            entry = json.loads(line)
            raw = entry.get("body") or ""
            raw = base64.b64decode(raw) if entry.get("body_encoded") else raw.encode()
            try:
                body = json.loads(raw) if raw[:1] == b"{" else {}
            except ValueError:
                body = {}
            calls.append({"method": entry["method"], "path": entry["url"].split("?")[0], "body": body})


def lambda_calls(calls: list[dict[str, Any]], method: str, path_end: str) -> list[dict[str, Any]]:
    return [c["body"] for c in calls if c["method"] == method and c["path"].endswith(path_end)]


def small_zip(path: Path, files: dict[str, str]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), text)


@pytest.fixture
def package_dir(aws_env: str, tmp_path: Path) -> Iterator[Path]:
    """What `make package` writes, with kilobyte archives (moto only hashes and stores them).

    Moto 5.2's docker-free Lambda backend keeps layers apart from the one CreateFunction checks them in
    ("LayerVersion does not exist"), so these tests use its default backend (nothing here is invoked)."""
    requests.post(f"{aws_env}/moto-api/config", json={"lambda": {"use_docker": True}}, timeout=5)
    d = tmp_path / "package"
    d.mkdir()
    small_zip(d / "function.zip", {"lambda_function.py": "# test function\n", "model/int8.tflite": "m"})
    for arch in settings.ARCHITECTURES:
        small_zip(d / f"layer-{arch}.zip", {f"python/dep_{arch}.py": f"# {arch}\n"})
    (d / "package.json").write_text(
        json.dumps({"runtime": "python3.13", "model": "reference", "variant": "int8"})
    )
    yield d
    requests.post(f"{aws_env}/moto-api/config", json={"lambda": {"use_docker": False}}, timeout=5)


def zip_args(package: Path, *extra: str) -> list[str]:
    return [
        "deploy",
        "--package",
        "zip",
        "--package-dir",
        str(package),
        "--function-name",
        FN,
        "--winner",
        "/nonexistent/winner.json",
        "--no-verify",
        *extra,
    ]


def layer_versions() -> list[dict[str, Any]]:
    return client("lambda").list_layer_versions(LayerName=f"{FN}-deps")["LayerVersions"]


def test_zip_deploy_publishes_layer_and_snapstart_function(
    aws_env: str, package_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lam = client("lambda")
    with recorded(aws_env) as calls:
        rc, out, err = run_main(zip_args(package_dir), capsys)
    assert rc == 0, err
    (layer,) = layer_versions()
    assert layer["Description"] == zipdeploy.layer_record(
        "x86_64", zipdeploy.Package.read(package_dir, "x86_64").layer
    )
    assert layer["CompatibleRuntimes"] == ["python3.13"] and layer["CompatibleArchitectures"] == ["x86_64"]
    fn = lam.get_function(FunctionName=FN)
    cfg = fn["Configuration"]
    assert (cfg["PackageType"], cfg["Runtime"], cfg["Handler"]) == (
        "Zip",
        "python3.13",
        "lambda_function.lambda_handler",
    )
    assert [x["Arn"] for x in cfg["Layers"]] == [layer["LayerVersionArn"]] and cfg["Architectures"] == [
        "x86_64"
    ]
    want_sha = base64.b64encode(hashlib.sha256((package_dir / "function.zip").read_bytes()).digest()).decode()
    assert cfg["CodeSha256"] == want_sha and fn["Tags"][MANAGED_TAG] == MANAGED_VALUE
    env = cfg["Environment"]["Variables"]
    assert (env["MODEL_RUNTIME"], env["MODEL_PATH"], env["MODEL_VARIANT"]) == (
        "tflite",
        "/var/task/model/int8.tflite",
        "int8",
    )
    assert (env["DEPLOY_MODEL"], env["DEPLOY_VARIANT"], env["DEPLOY_RUNTIME"]) == (
        "reference",
        "int8",
        "tflite",
    )
    assert lam.get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == "1"
    assert lam.get_function_configuration(FunctionName=FN, Qualifier="1")["Description"].startswith(
        "zip reference-int8"
    )
    # moto does not keep SnapStart (it always answers ApplyOn None): what reached the API is the evidence
    (create,) = lambda_calls(calls, "POST", "/2015-03-31/functions")
    assert create["SnapStart"] == {"ApplyOn": "PublishedVersions"} and create["PackageType"] == "Zip"
    assert "ZipFile" in create["Code"] and "+ publish layer" in out and "SnapStart PublishedVersions" in out
    assert len(lambda_calls(calls, "POST", f"/functions/{FN}/versions")) == 1


def test_zip_rerun_is_noop_changes_update_and_undeploy_removes_only_ours(
    aws_env: str, package_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--no-snapstart: moto reports SnapStart None whatever was sent, so an idempotency check needs it off."""
    lam = client("lambda")
    assert main(zip_args(package_dir, "--no-snapstart")) == 0
    capsys.readouterr()
    rc, out, err = run_main(zip_args(package_dir, "--no-snapstart"), capsys)
    assert rc == 0 and "nothing changed" in out and all(line[0] == "=" for line in out.splitlines()[1:-1]), (
        out
    )
    assert len(layer_versions()) == 1
    small_zip(package_dir / "function.zip", {"lambda_function.py": "# changed\n"})
    small_zip(package_dir / "layer-x86_64.zip", {"python/dep.py": "# new dependency\n"})
    rc, out, err = run_main(zip_args(package_dir, "--no-snapstart"), capsys)
    assert rc == 0, err
    assert "+ publish layer" in out and "~ update function code" in out and "Layers" in out
    assert "~ move alias live: version 1 -> 2" in out
    assert len(layer_versions()) == 2
    cfg = lam.get_function_configuration(FunctionName=FN, Qualifier="live")
    assert [x["Arn"] for x in cfg["Layers"]] == [
        max(layer_versions(), key=lambda v: v["Version"])["LayerVersionArn"]
    ]
    foreign = lam.publish_layer_version(
        LayerName=f"{FN}-deps", Content={"ZipFile": (package_dir / "function.zip").read_bytes()}
    )
    rc, out, err = run_main(["undeploy", "--function-name", FN], capsys)
    assert rc == 0, err
    assert [v["Version"] for v in layer_versions()] == [foreign["Version"]]  # not published by deploy
    assert "was not published by deploy: left alone" in out and moto_is_empty()


def test_zip_dry_run_and_plan_touch_nothing(
    aws_env: str, package_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = run_main(zip_args(package_dir, "--dry-run"), capsys)
    assert rc == 0, err
    assert (
        "+ would publish layer" in out
        and "+ would create zip function" in out
        and "+ would publish a version" in out
    )
    assert moto_is_empty() and layer_versions() == []


def test_zip_over_the_direct_limit_goes_through_s3(aws_env: str, package_dir: Path) -> None:
    """Lambda takes 50 MiB zipped in the request; over it, code comes from S3 (moto S3, lowered limit)."""
    s = settings.Settings(
        function_name=FN, repository=FN, package="zip", package_dir=package_dir, upload_limit=64
    )
    out = io.StringIO()
    aws.Deployer(s, aws.session(), zipdeploy.ZipPackaging(s), out=out).run()
    s3 = client("s3")
    (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert aws.is_managed(s3.get_bucket_tagging(Bucket=bucket)["TagSet"])
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert [k.split("/")[1].split("-")[0] for k in keys] == ["function", "layer"], keys
    pkg = zipdeploy.Package.read(package_dir, "x86_64")
    cfg = client("lambda").get_function_configuration(FunctionName=FN)
    assert cfg["CodeSha256"] == pkg.function.code_sha256  # moto read the code from the S3 object
    assert layer_versions()[0]["Description"].endswith(pkg.layer.hex)
    assert "upload function.zip" in out.getvalue() and f"s3://{bucket}/" in out.getvalue()
    undeploy.undeploy(s, aws.session(), out=io.StringIO())
    assert s3.list_buckets()["Buckets"] == [] and moto_is_empty()


def test_zip_errors_name_the_fix(aws_env: str, package_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_main(zip_args(package_dir.parent / "nothing-here"), capsys)
    assert_one_line_error(rc, err, "no zip package for x86_64", "make package")
    (package_dir / "layer-arm64.zip").unlink()
    rc, _, err = run_main(zip_args(package_dir, "--arch", "arm64"), capsys)
    assert_one_line_error(rc, err, "no zip package for arm64", "--arch arm64")
    assert moto_is_empty()


def test_zip_arm64_uses_the_arm64_layer(aws_env: str, package_dir: Path) -> None:
    assert main(zip_args(package_dir, "--arch", "arm64", "--no-snapstart")) == 0
    cfg = client("lambda").get_function_configuration(FunctionName=FN)
    (layer,) = layer_versions()
    assert cfg["Architectures"] == ["arm64"] and layer["CompatibleArchitectures"] == ["arm64"]
    assert layer["Description"].split()[1] == "arm64"


# -- arm64 images -------------------------------------------------------------------------------------
def load_arm64_image(tag: str) -> None:
    """A one-file image whose config says arm64 (docker load of a hand-made docker-save archive: the
    legacy builder and `docker import --platform` both record amd64)."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        data = f"arm64 deploy test {tag}\n".encode()
        info = tarfile.TarInfo("payload.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps(
        {
            "architecture": "arm64",
            "variant": "v8",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": ["l/layer.tar"]}]).encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, blob in (("l/layer.tar", layer_bytes), (config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    subprocess.run(["docker", "load"], input=archive.getvalue(), check=True, capture_output=True)


@pytest.mark.docker
def test_arm64_image_sets_architectures_and_update_switches_it(
    aws_env: str, registry: str, tiny_images: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    tag = f"clothing-null:deploytest{uuid.uuid4().hex[:6]}-none-arm64"  # the catalogue's -arm64 convention
    load_arm64_image(tag)
    try:
        assert dockercli.inspect_image(tag).architecture == "arm64"
        rc, out, err = run_main(deploy_args(tag, registry, "--arch", "arm64"), capsys)
        assert rc == 0, err
        cfg = client("lambda").get_function_configuration(FunctionName=FN)
        assert cfg["Architectures"] == ["arm64"]
        assert cfg["Environment"]["Variables"]["DEPLOY_RUNTIME"] == "null"  # parsed without the -arm64
        rc, _, err = run_main(deploy_args(tag, registry), capsys)  # x86_64 asked, arm64 image: refused
        assert_one_line_error(rc, err, "architecture mismatch")
        with recorded(aws_env) as calls:  # moto keeps the old Architectures on UpdateFunctionCode
            rc, out, err = run_main(deploy_args(tiny_images[0], registry, "--arch", "x86_64"), capsys)
        assert rc == 0, err
        assert "['arm64'] ->" in out and "[x86_64]" in out
        (update,) = lambda_calls(calls, "PUT", f"/functions/{FN}/code")
        assert update["Architectures"] == ["x86_64"]
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


def test_arch_flag_picks_the_winners_arm64_tag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEPLOY_IMAGE", raising=False)
    monkeypatch.delenv("DEPLOY_ARCHITECTURE", raising=False)
    winner = tmp_path / "winner.json"
    winner.write_text(
        json.dumps(
            {
                "image": "clothing-tflite:reference-full-int8",
                "image_kind": "tflite",
                "variant": "full-int8",
                "model": "reference",
                "memory_mb": 1024,
            }
        )
    )
    s = settings.load(winner, {"architecture": "arm64"})
    assert s.image == "clothing-tflite:reference-full-int8-arm64" and s.architecture == "arm64"
    assert (s.image_kind, s.model, s.variant) == ("tflite", "reference", "full-int8")
    assert settings.load(winner, {}).image == "clothing-tflite:reference-full-int8"
    given = settings.load(winner, {"architecture": "arm64", "image": "clothing-onnx:reference-float32-arm64"})
    assert (given.image_kind, given.variant, given.runtime) == ("onnx", "float32", "onnx")


def test_zip_uses_an_existing_untagged_bucket_and_leaves_it(aws_env: str, package_dir: Path) -> None:
    s = settings.Settings(
        function_name=FN, repository=FN, package="zip", package_dir=package_dir, upload_limit=64
    )
    s3 = client("s3")
    ident = aws.identity(aws.session())
    theirs = zipdeploy.bucket_name(s, ident)
    s3.create_bucket(Bucket=theirs)
    aws.Deployer(s, aws.session(), zipdeploy.ZipPackaging(s), out=io.StringIO()).run()
    assert len(s3.list_objects_v2(Bucket=theirs)["Contents"]) == 2  # the uploads went there
    out = io.StringIO()
    undeploy.undeploy(s, aws.session(), out=out)
    assert f"S3 bucket {theirs} was not created by deploy: left alone" in out.getvalue()
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [theirs]
    assert layer_versions() == [] and not client("lambda").list_functions()["Functions"]


def test_image_packaging_without_docker(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Deployer with the image strategy, docker replaced by a fake local image and push: create, then a
    rerun changes nothing, then a new digest updates the code and moves the alias. (The docker-marked tests
    push for real; this runs in `make unit`-style environments.)"""
    pushed = iter(["sha256:" + "1" * 64, "sha256:" + "1" * 64, "sha256:" + "2" * 64])
    local = dockercli.LocalImage("clothing-null:reference-none", "sha256:" + "a" * 64, "amd64", "linux")
    monkeypatch.setattr(dockercli, "inspect_image", lambda ref: local)
    monkeypatch.setattr(aws.ImagePackaging, "ensure_image", lambda self, d, image, repo: next(pushed))
    s = settings.Settings(function_name=FN, repository=FN, image=local.ref, runtime="null")

    def run() -> tuple[aws.Outcome, str]:
        out = io.StringIO()
        return aws.Deployer(s, aws.session(), aws.ImagePackaging(), out=out).run(), out.getvalue()

    first, plan = run()
    assert "+ create ECR repository" in plan and "+ create function" in plan and "+ create alias live" in plan
    cfg = client("lambda").get_function(FunctionName=FN)
    assert cfg["Code"]["ImageUri"] == first.image_uri and first.image_uri.endswith("@sha256:" + "1" * 64)
    assert first.function_arn == f"arn:aws:lambda:{REGION}:123456789012:function:{FN}:live"
    again, plan = run()
    assert not again.changed and again.version == first.version, plan
    moved, plan = run()
    assert "~ update function code" in plan and moved.previous_version == first.version
    assert client("lambda").get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == moved.version


# -- modes: provisioned concurrency, Managed Instances (deploy/modes.py) -----------------------------
# moto 5.2 knows neither PutProvisionedConcurrencyConfig nor the capacity-provider calls (its server
# answers 404 for their routes): these tests send them through botocore's Stubber, whose client
# validates every request against Lambda's service model before the stub answers, and run the rest
# (dry-run plans, refusals, undeploy) against moto.
SUBNETS = ("subnet-0123456789abcdef0", "subnet-0fedcba9876543210")
CP_ARN = f"arn:aws:lambda:{REGION}:123456789012:capacity-provider:{FN}-capacity"


@given(
    name=st.sampled_from(["provisioned", "provisioned-concurrency", "managed-instances", "lmi", "on-demand"]),
    shape=st.sampled_from(["string", "object", "absent"]),
    count=st.integers(1, 50),
    concurrency=st.integers(1, 1600),
    ratio=st.sampled_from([2.0, 4.0, 8.0]),
)
def test_winner_mode_is_read_defensively(
    name: str, shape: str, count: int, concurrency: int, ratio: float
) -> None:
    cfg = {
        "provisioned_concurrency": count,
        "per_execution_environment_max_concurrency": concurrency,
        "memory_gib_per_vcpu": ratio,
    }
    raw: dict[str, Any] = {"image": "clothing-tflite:reference-float32"}
    if shape == "string":
        raw |= {"mode": name, "mode_config": cfg}
    elif shape == "object":
        raw |= {"mode": {"name": name, **cfg}}
    m = modes.from_winner(raw)
    if shape == "absent":
        assert m.name == modes.ON_DEMAND
        return
    assert m.name == modes.mode_name(name) and m.name in modes.MODES
    assert (m.provisioned, m.max_concurrency, m.memory_gib_per_vcpu) == (count, concurrency, ratio)


def test_unknown_or_incomplete_modes_are_refused_with_a_fix() -> None:
    with pytest.raises(DeployError, match="unknown deploy mode"):
        modes.from_winner({"mode": "spot"})
    with pytest.raises(DeployError, match="--subnet-ids"):
        modes.with_flags(modes.Mode(), {"name": "managed-instances"})
    with pytest.raises(DeployError, match="--provisioned-concurrency"):
        modes.with_flags(modes.Mode(), {"name": "provisioned"})
    with pytest.raises(DeployError, match="2048"):
        settings.load(
            None,
            {
                "image": "clothing-tflite:reference-float32",
                "mode": "managed-instances",
                "subnet_ids": ",".join(SUBNETS),
                "memory_mb": 1769,
            },
            use_winner=False,
        )


@given(
    subnets=st.lists(st.from_regex(r"subnet-[0-9a-f]{17}", fullmatch=True), min_size=1, max_size=16),
    groups=st.lists(st.from_regex(r"sg-[0-9a-f]{17}", fullmatch=True), max_size=5),
    arch=st.sampled_from(["x86_64", "arm64"]),
    max_vcpus=st.one_of(st.none(), st.integers(2, 15000)),
    concurrency=st.one_of(st.none(), st.integers(1, 1600)),
    ratio=st.sampled_from(modes.MEMORY_GIB_PER_VCPU),
)
def test_managed_instances_requests_pass_the_sdks_validation(
    subnets: list[str],
    groups: list[str],
    arch: str,
    max_vcpus: int | None,
    concurrency: int | None,
    ratio: float,
) -> None:
    """botocore's own validator, against the Lambda service model of the installed SDK."""
    from botocore.session import get_session
    from botocore.validate import validate_parameters

    model = get_session().get_service_model("lambda")
    m = modes.Mode(
        name=modes.MANAGED,
        subnet_ids=tuple(subnets),
        security_group_ids=tuple(groups),
        max_vcpus=max_vcpus,
        max_concurrency=concurrency,
        memory_gib_per_vcpu=ratio,
    )
    role = "arn:aws:iam::123456789012:role/clothing-operator"
    req = modes.capacity_provider_request("clothing-capacity", m, arch, role)
    validate_parameters(req, model.operation_model("CreateCapacityProvider").input_shape)
    fn = {"FunctionName": FN, "CapacityProviderConfig": modes.function_capacity_config(CP_ARN, m)}
    validate_parameters(fn, model.operation_model("UpdateFunctionConfiguration").input_shape)


class _Steps:
    """What modes' steps use of a Deployer, with a Stubber-validated Lambda client."""

    def __init__(self, s: settings.Settings, lam: Any, dry: bool = False) -> None:
        self.s, self.lam, self.iam, self.dry = s, lam, None, dry
        self.lines: list[str] = []

    def step(self, symbol: str, text: str, action: Any = None) -> Any:
        self.lines.append(f"{symbol} {text}")
        return None if self.dry or action is None else action()


def _lambda_client() -> Any:
    return boto3.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name=REGION).client(
        "lambda"
    )


def test_provisioned_concurrency_is_set_changed_and_removed() -> None:
    base: dict[str, object] = {"image": "clothing-tflite:reference-float32", "function_name": FN}
    s = settings.load(None, {**base, "mode": "provisioned", "provisioned_concurrency": 3}, use_winner=False)
    lam = _lambda_client()
    q = {"FunctionName": FN, "Qualifier": "live"}
    missing = "ProvisionedConcurrencyConfigNotFoundException"
    with Stubber(lam) as stub:
        stub.add_client_error("get_provisioned_concurrency_config", missing, expected_params=q)
        stub.add_response(
            "put_provisioned_concurrency_config",
            {"RequestedProvisionedConcurrentExecutions": 3},
            {**q, "ProvisionedConcurrentExecutions": 3},
        )
        d = _Steps(s, lam)
        modes.ensure_provisioned(d, exists=True, alias="live")
        stub.assert_no_pending_responses()
    assert d.lines == [f"+ provisioned concurrency none -> 3 on {FN}:live (billed while provisioned)"]
    have = {"RequestedProvisionedConcurrentExecutions": 3, "Status": "READY"}
    on_demand = settings.load(None, base, use_winner=False)
    with Stubber(lam) as stub:
        stub.add_response("get_provisioned_concurrency_config", have, q)
        stub.add_response("delete_provisioned_concurrency_config", {}, q)
        d = _Steps(on_demand, lam)
        modes.ensure_provisioned(d, exists=True, alias="live")  # the mode dropped it: removed
        stub.assert_no_pending_responses()
    assert d.lines == [f"~ remove provisioned concurrency 3 from {FN}:live"]


def test_capacity_provider_is_created_once_and_a_foreign_one_refused() -> None:
    over = {
        "image": "clothing-onnx:reference-float32",
        "function_name": FN,
        "mode": "managed-instances",
        "subnet_ids": ",".join(SUBNETS),
        "security_group_ids": "sg-0123456789abcdef0",
        "memory_mb": 2048,
        "operator_role_arn": "arn:aws:iam::123456789012:role/op",
    }
    s = settings.load(None, over, use_winner=False)
    ident = aws.Identity(account="123456789012", partition="aws", region=REGION)
    lam = _lambda_client()
    name = {"CapacityProviderName": f"{FN}-capacity"}
    op = "arn:aws:iam::123456789012:role/op"
    vpc = {"SubnetIds": list(SUBNETS), "SecurityGroupIds": []}
    made = {
        "CapacityProvider": {
            "CapacityProviderArn": CP_ARN,
            "State": "Pending",
            "VpcConfig": vpc,
            "PermissionsConfig": {"CapacityProviderOperatorRoleArn": op},
        }
    }
    with Stubber(lam) as stub:
        stub.add_client_error("get_capacity_provider", "ResourceNotFoundException", expected_params=name)
        stub.add_response(
            "create_capacity_provider",
            made,
            modes.capacity_provider_request(
                name["CapacityProviderName"], s.mode, "x86_64", "arn:aws:iam::123456789012:role/op"
            ),
        )
        d = _Steps(s, lam)
        assert modes.ensure_capacity_provider(d, ident) == CP_ARN
        stub.add_response("get_capacity_provider", made, name)
        stub.add_response("list_tags", {"Tags": {MANAGED_TAG: MANAGED_VALUE}}, {"Resource": CP_ARN})
        assert modes.ensure_capacity_provider(d, ident) == CP_ARN
        stub.add_response("get_capacity_provider", made, name)
        stub.add_response("list_tags", {"Tags": {}}, {"Resource": CP_ARN})
        with pytest.raises(DeployError, match="not created by deploy"):
            modes.ensure_capacity_provider(d, ident)
    assert [ln.split(" ", 1)[0] for ln in d.lines] == ["=", "+", "="]  # given role, create, exists
    # a function's compute type is fixed: an on-demand function is not moved onto the provider
    with pytest.raises(DeployError, match="cannot be changed"):
        modes.check_compute_type(d, {"FunctionName": FN})


@pytest.mark.docker
def test_managed_instances_dry_run_plans_and_touches_nothing(
    aws_env: str, registry: str, tiny_images: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    extra = (
        "--dry-run",
        "--mode",
        "managed-instances",
        "--subnet-ids",
        ",".join(SUBNETS),
        "--memory",
        "2048",
    )
    rc, out, err = run_main(deploy_args(tiny_images[0], registry, *extra), capsys)
    assert rc == 0, err
    assert f"would create IAM role {FN}-operator" in out and "AWSLambdaManagedEC2ResourceOperator" in out
    assert f"would create capacity provider {FN}-capacity (x86_64, subnets {', '.join(SUBNETS)})" in out
    assert "would create function" in out
    assert moto_is_empty()
    rc, out, err = run_main(["undeploy", "--function-name", FN, "--dry-run"], capsys)
    assert rc == 0, err
    assert f"capacity provider {FN}-capacity does not exist" in out


def winner_with_mode(mode: str, configuration: dict[str, Any], **block: Any) -> dict[str, Any]:
    """winner.json as bench writes it: the on-demand pick (TFLite full-int8 at 1769 MB) and a ``mode`` block
    naming the mode and the cell it chose (``block``: more keys of that block)."""
    return {
        "image": "clothing-tflite:reference-full-int8",
        "image_kind": "tflite",
        "runtime": "tflite",
        "model": "reference",
        "variant": "full-int8",
        "memory_mb": 1769,
        "architecture": "x86_64",
        "threads": 1,
        "mode": {"mode": mode, "configuration": configuration, **block},
    }


@given(
    mode=st.sampled_from(["on-demand", "provisioned concurrency", "managed instances"]),
    variant=st.sampled_from(["float32", "int8", "full-int8"]),
    kind=st.sampled_from(["tflite", "onnx"]),
    memory=st.sampled_from([1024, 1769, 2048, 3008]),
    environments=st.integers(1, 80),
)
def test_the_mode_block_bench_writes_deploys_its_own_cell(
    mode: str, variant: str, kind: str, memory: int, environments: int
) -> None:
    """winner.json's ``mode`` block as bench/decide/modes.py writes it: the mode's name (spelt with spaces),
    its
    count, and the cell it chose, which may be another image or memory size than the on-demand pick."""
    image = f"clothing-{kind}:reference-{variant}"
    cfg: dict[str, Any] = {"image": image}
    if mode == "provisioned concurrency":
        cfg |= {"memory_mb": memory, "provisioned_environments": environments}
    elif mode == "managed instances":
        cfg |= {"instance": "c7i.large", "instances": 3, "processes_per_vcpu": 2, "memory_gib_per_vcpu": 2.0}
    else:
        cfg |= {"memory_mb": memory, "cold_share": 0.01}
    raw = winner_with_mode(mode, cfg, by_mode={})
    m = modes.from_winner(raw)
    assert m.name == modes.mode_name(mode)
    assert m.provisioned == (environments if mode == "provisioned concurrency" else 0)
    assert modes.chosen_cell(raw)["image"] == image
    if mode == "managed instances":
        assert (m.instance_types, m.max_concurrency) == (("c7i.large",), 2)
    else:
        assert modes.chosen_cell(raw)["memory_mb"] == memory


def test_settings_ship_the_cell_the_mode_chose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEPLOY_MEMORY_MB", raising=False)
    monkeypatch.delenv("DEPLOY_IMAGE", raising=False)
    winner = tmp_path / "winner.json"
    chosen = {"image": "clothing-onnx:reference-float32", "memory_mb": 1024, "provisioned_environments": 3}
    winner.write_text(json.dumps(winner_with_mode("provisioned concurrency", chosen)))
    s = settings.load(winner)
    assert (s.image, s.memory_mb, s.runtime, s.variant) == (chosen["image"], 1024, "onnx", "float32")
    assert (s.mode.name, s.mode.provisioned) == (modes.PROVISIONED, 3)
