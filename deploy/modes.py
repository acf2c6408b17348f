"""How the deployed function runs: on-demand (Lambda's default), provisioned concurrency on the ``live``
alias, or on Lambda Managed Instances (a capacity provider of EC2 instances in the user's VPC, several
handler processes per execution environment).

The mode comes from results/winner.json (``mode`` and its configuration, read defensively: absent means
on-demand), and flags override it. Each mode's steps read before they change, print a ``+ ~ =`` plan line
and do nothing in a dry run, like every other step of the Deployer; what they create carries the managed-by
tag and is the only thing undeploy removes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from core.contracts import DEPLOY_MODES, deploy_mode
from deploy import MANAGED_TAG, MANAGED_VALUE, DeployError
from deploy.reads import NOT_FOUND, is_managed, unless_missing
from deploy.roles import Role, ensure_role

ON_DEMAND, PROVISIONED, MANAGED = DEPLOY_MODES
MODES = DEPLOY_MODES
_ALIASES = {
    "ondemand": ON_DEMAND, "on_demand": ON_DEMAND, "default": ON_DEMAND,
    "provisioned-concurrency": PROVISIONED, "provisioned_concurrency": PROVISIONED, "pc": PROVISIONED,
    "managed_instances": MANAGED, "managed-instance": MANAGED, "lmi": MANAGED, "mi": MANAGED,
}  # fmt: skip
#: Managed Instances: memory per vCPU of an execution environment may be 2, 4 or 8 GiB (Lambda API:
#: ExecutionEnvironmentMemoryGiBPerVCpu), and a function's memory is at least 2 GiB.
MEMORY_GIB_PER_VCPU = (2.0, 4.0, 8.0)
MANAGED_MIN_MEMORY_MB = 2048
#: the operator role's permissions: AWS's managed policy for Managed Instances' EC2 resources
OPERATOR_POLICY = "arn:{partition}:iam::aws:policy/AWSLambdaManagedEC2ResourceOperator"
PC_NOT_FOUND = "ProvisionedConcurrencyConfigNotFoundException"


@dataclass(frozen=True)
class Mode:
    name: str = ON_DEMAND
    provisioned: int = 0  # provisioned concurrency on the alias (provisioned mode)
    # -- Managed Instances: the capacity provider (VPC and operator role are the user's) ---------------
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    operator_role_arn: str = ""  # empty: deploy creates <function>-operator with OPERATOR_POLICY
    instance_types: tuple[str, ...] = ()  # AllowedInstanceTypes; empty = Lambda chooses
    max_vcpus: int | None = None  # CapacityProviderScalingConfig.MaxVCpuCount
    # -- Managed Instances: the function's capacity configuration --------------------------------------
    memory_gib_per_vcpu: float = 2.0
    max_concurrency: int | None = None  # PerExecutionEnvironmentMaxConcurrency (= processes, python)
    memory_mb: int | None = None  # the function's memory (vCPUs = memory / ratio); None: settings'
    source: str = "default"

    @property
    def managed(self) -> bool:
        return self.name == MANAGED


def mode_name(raw: object) -> str:
    name = str(raw or ON_DEMAND).strip().lower()
    name = _ALIASES.get(name, deploy_mode(name))
    if name not in MODES:
        raise DeployError(f"unknown deploy mode {raw!r}; fix: one of {', '.join(MODES)} (--mode)")
    return name


def _get(cfg: Mapping[str, Any], *keys: str) -> Any:
    return next((cfg[k] for k in keys if cfg.get(k) not in (None, "", [])), None)


def from_winner(raw: Mapping[str, Any]) -> Mode:
    """winner.json's ``mode``: a name (its configuration under ``mode_config``/``configuration``) or an
    object with ``name``/``mode`` and the configuration beside it. Absent: on-demand. Unknown keys are
    ignored; a value of the wrong type is a DeployError naming it."""
    value = raw.get("mode")
    if value is None:
        return Mode(source="winner.json: no mode (on-demand)")
    cfg: Mapping[str, Any] = {}
    if isinstance(value, Mapping):
        cfg, value = value, _get(value, "name", "mode", "kind")
    for key in ("mode_config", "configuration", "config"):
        for holder in (raw, cfg):
            if isinstance(holder.get(key), Mapping):
                cfg = {**holder[key], **cfg}
    try:
        types = _get(cfg, "instance_types", "instance_type", "instance")
        return Mode(
            name=mode_name(value),
            provisioned=int(
                _get(cfg, "provisioned_concurrency", "provisioned_environments", "provisioned", "concurrency")
                or 0
            ),
            instance_types=tuple([types] if isinstance(types, str) else types or ()),
            memory_gib_per_vcpu=float(_get(cfg, "memory_gib_per_vcpu", "memory_per_vcpu_gib") or 2.0),
            max_concurrency=_opt_int(
                _get(
                    cfg, "per_execution_environment_max_concurrency", "max_concurrency", "processes_per_vcpu"
                )
            ),
            memory_mb=_opt_int(_get(cfg, "function_memory_mb", "environment_memory_mb")),
            max_vcpus=_opt_int(_get(cfg, "max_vcpus", "max_vcpu_count")),
            source="winner.json",
        )
    except (TypeError, ValueError) as e:
        raise DeployError(
            f"winner.json's mode configuration is malformed ({e}); fix: re-run `make report`"
        ) from e


def chosen_cell(raw: Mapping[str, Any]) -> dict[str, object]:
    """The image and memory size winner.json's mode block chose at the user's traffic (bench/decide/modes.py
    writes them under ``configuration``); empty when the block names none. Managed Instances price
    their own environment, so its memory is the environment's, not the on-demand pick's."""
    block = raw.get("mode")
    cfg = block.get("configuration") if isinstance(block, Mapping) else None
    if not isinstance(cfg, Mapping):
        return {}
    out: dict[str, object] = {}
    if isinstance(cfg.get("image"), str) and cfg["image"]:
        out["image"] = cfg["image"]
    if isinstance(cfg.get("memory_mb"), int) and not isinstance(cfg.get("memory_mb"), bool):
        out["memory_mb"] = cfg["memory_mb"]
    return out


def _opt_int(v: object) -> int | None:
    return None if v is None else int(str(v))


def with_flags(mode: Mode, flags: Mapping[str, Any]) -> Mode:
    """Flags over the winner's mode (None = not given); the result is checked."""
    given = {k: v for k, v in flags.items() if v is not None}
    if "name" in given:
        given["name"] = mode_name(given["name"])
    for key in ("subnet_ids", "security_group_ids", "instance_types"):
        if isinstance(given.get(key), str):
            given[key] = tuple(x.strip() for x in given[key].split(",") if x.strip())
    m = replace(mode, **given, source="flags" if given else mode.source)
    check(m)
    return m


def check(m: Mode) -> None:
    if m.name == PROVISIONED and m.provisioned < 1:
        raise DeployError("provisioned mode needs a count; fix: --provisioned-concurrency N (N >= 1)")
    if not m.managed:
        return
    if not m.subnet_ids:
        raise DeployError(
            "Managed Instances run in your VPC; fix: --subnet-ids subnet-a,subnet-b "
            "--security-group-ids sg-x (the capacity provider's network)"
        )
    if m.memory_gib_per_vcpu not in MEMORY_GIB_PER_VCPU:
        raise DeployError(f"memory per vCPU {m.memory_gib_per_vcpu} GiB is not one of 2, 4, 8")
    if m.max_concurrency is not None and not 1 <= m.max_concurrency <= 1600:
        raise DeployError(f"per-environment concurrency {m.max_concurrency} is outside 1..1600")


# -------------------------------------------------------------------------------------- requests
def capacity_provider_request(
    name: str, m: Mode, architecture: str, operator_role_arn: str
) -> dict[str, Any]:
    """CreateCapacityProvider's arguments (validated by botocore against Lambda's model when sent)."""
    req: dict[str, Any] = {
        "CapacityProviderName": name,
        "VpcConfig": {"SubnetIds": list(m.subnet_ids), "SecurityGroupIds": list(m.security_group_ids)},
        "PermissionsConfig": {"CapacityProviderOperatorRoleArn": operator_role_arn},
        "InstanceRequirements": {"Architectures": [architecture]},
        "Tags": {MANAGED_TAG: MANAGED_VALUE},
    }
    if m.instance_types:
        req["InstanceRequirements"]["AllowedInstanceTypes"] = list(m.instance_types)
    if m.max_vcpus:
        req["CapacityProviderScalingConfig"] = {"MaxVCpuCount": m.max_vcpus}
    return req


def function_capacity_config(capacity_provider_arn: str, m: Mode) -> dict[str, Any]:
    """The function's CapacityProviderConfig (CreateFunction / UpdateFunctionConfiguration)."""
    inner: dict[str, Any] = {
        "CapacityProviderArn": capacity_provider_arn,
        "ExecutionEnvironmentMemoryGiBPerVCpu": m.memory_gib_per_vcpu,
    }
    if m.max_concurrency:
        inner["PerExecutionEnvironmentMaxConcurrency"] = m.max_concurrency
    return {"LambdaManagedInstancesCapacityProviderConfig": inner}


# ----------------------------------------------------------------------------------------- steps
class Deployer(Protocol):
    """What the steps use of deploy.aws.Deployer (which calls them: this module cannot import it)."""

    s: Any  # deploy.settings.Settings
    lam: Any
    iam: Any

    def step(self, symbol: str, text: str, action: Any = None) -> Any: ...


class Identity(Protocol):
    @property
    def account(self) -> str: ...
    @property
    def partition(self) -> str: ...
    @property
    def region(self) -> str: ...


def capacity_provider_name(d: Deployer) -> str:
    return f"{d.s.function_name}-capacity"[:64]


def operator_role_name(d: Deployer) -> str:
    return f"{d.s.function_name}-operator"[:64]


def ensure_operator_role(d: Deployer, ident: Identity) -> str:
    """The role Lambda assumes to run the capacity provider's instances: given, or made once (tagged)."""
    role = Role(
        "operator role",
        operator_role_name(d),
        "Lambda Managed Instances operator role for the clothing classifier",
        OPERATOR_POLICY.format(partition=ident.partition),
        "--operator-role-arn",
        d.s.mode.operator_role_arn,
    )
    return ensure_role(d, role, ident.partition, ident.account)


def ensure_capacity_provider(d: Deployer, ident: Identity) -> str:
    """Create the capacity provider when absent; an existing one must be deploy's and is kept (its VPC
    and instance requirements cannot change; its scaling limit is updated when it differs)."""
    m, name = d.s.mode, capacity_provider_name(d)
    found = unless_missing(NOT_FOUND, d.lam.get_capacity_provider, CapacityProviderName=name)
    if found is None:
        role = ensure_operator_role(d, ident)
        req = capacity_provider_request(name, m, d.s.architecture, role)
        made = d.step(
            "+",
            f"create capacity provider {name} ({d.s.architecture}, subnets {', '.join(m.subnet_ids)})",
            lambda: d.lam.create_capacity_provider(**req),
        )
        arn = (made or {}).get("CapacityProvider", {}).get("CapacityProviderArn")
        return str(
            arn or f"arn:{ident.partition}:lambda:{ident.region}:{ident.account}:capacity-provider:{name}"
        )
    cp = found["CapacityProvider"]
    arn = str(cp["CapacityProviderArn"])
    if not is_managed(d.lam.list_tags(Resource=arn).get("Tags")):
        raise DeployError(
            f"capacity provider {name} exists but was not created by deploy; fix: another --function-name"
        )
    have = (cp.get("CapacityProviderScalingConfig") or {}).get("MaxVCpuCount")
    if m.max_vcpus and have != m.max_vcpus:
        d.step(
            "~",
            f"capacity provider {name}: max vCPUs {have} -> {m.max_vcpus}",
            lambda: d.lam.update_capacity_provider(
                CapacityProviderName=name, CapacityProviderScalingConfig={"MaxVCpuCount": m.max_vcpus}
            ),
        )
    else:
        d.step("=", f"capacity provider {name} ({cp.get('State', '?')})")
    return arn


def check_compute_type(d: Deployer, cfg: Mapping[str, Any]) -> None:
    """A function's compute type is fixed at creation: an on-demand function cannot move onto Managed
    Instances, nor back (Lambda refuses to add or remove CapacityProviderConfig)."""
    on_managed = bool(cfg.get("CapacityProviderConfig"))
    if on_managed != d.s.mode.managed:
        now, want = ("Managed Instances", "on-demand") if on_managed else ("on-demand", "Managed Instances")
        raise DeployError(
            f"function {d.s.function_name} runs {now} and cannot be changed to {want}; fix: `make undeploy` "
            "first, or deploy under another --function-name"
        )


def ensure_provisioned(d: Deployer, exists: bool, alias: str) -> None:
    """Provisioned concurrency on the alias: set to the mode's count, removed in any other mode."""
    name, want = d.s.function_name, d.s.mode.provisioned if d.s.mode.name == PROVISIONED else 0
    have = None
    if exists and not d.s.mode.managed:
        have = unless_missing(
            PC_NOT_FOUND, d.lam.get_provisioned_concurrency_config, FunctionName=name, Qualifier=alias
        )
    count = int(have["RequestedProvisionedConcurrentExecutions"]) if have else 0
    if count == want:
        if want:
            d.step("=", f"provisioned concurrency {want} on {name}:{alias} ({have and have.get('Status')})")
        return
    if want == 0:
        d.step(
            "~",
            f"remove provisioned concurrency {count} from {name}:{alias}",
            lambda: d.lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=alias),
        )
        return
    d.step(
        "+" if count == 0 else "~",
        f"provisioned concurrency {count or 'none'} -> {want} on {name}:{alias} (billed while provisioned)",
        lambda: d.lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier=alias, ProvisionedConcurrentExecutions=want
        ),
    )


def undeploy_capacity(d: Deployer) -> None:
    """After the function is gone: the capacity provider and operator role deploy made (tagged)."""
    name = capacity_provider_name(d)
    found = unless_missing(NOT_FOUND, d.lam.get_capacity_provider, CapacityProviderName=name)
    if found is None:
        d.step("=", f"capacity provider {name} does not exist")
    elif not is_managed(
        d.lam.list_tags(Resource=found["CapacityProvider"]["CapacityProviderArn"]).get("Tags")
    ):
        d.step("=", f"capacity provider {name} was not created by deploy: left alone")
    else:
        d.step(
            "-",
            f"delete capacity provider {name} (its instances)",
            lambda: d.lam.delete_capacity_provider(CapacityProviderName=name),
        )
