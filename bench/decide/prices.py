"""Every price and platform rule the verdict uses, as data: each figure with its public source and the date
it was read. Change a figure here and nowhere else; bench/decide/cost.py and bench/decide/modes.py read only
this.

Region us-east-1, on-demand rates, no free tier, no Savings Plans. ``assumption=True`` marks a figure AWS
does not publish (or that this project could not read): it is overridable by the environment variable named
in ``setting`` and the report lists it as an assumption. Figures were read on ``READ`` from the stored
copies of the pages named (AWS's pricing pages render their tables client-side: the figures quoted here are
those the pages' text and AWS's own examples state; where only a third-party page confirmed a figure, its
``source`` says so). EC2 instance prices other than m7g.large could not be read off any stored page: they
are marked unverified (``Instance.verified``) and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from core import catalogue, settings

READ = "2026-12-06"
LAMBDA_PRICING = "https://aws.amazon.com/lambda/pricing/"
EC2_PRICING = "https://aws.amazon.com/ec2/pricing/on-demand/"
MI_DOCS = "https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances.html"
MI_SCALING = "https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances-scaling.html"
MI_PYTHON = "https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances-python-runtime.html"
MI_API = "https://docs.aws.amazon.com/lambda/latest/api/API_LambdaManagedInstancesCapacityProviderConfig.html"
LAMBDA_PERF = "https://github.com/maxday/lambda-perf (daily runs, python3.13 hello-world, 2026-07/08)"


@dataclass(frozen=True)
class Figure:
    """One published (or assumed) number with where it comes from."""

    name: str
    value: float
    unit: str
    source: str
    read: str = READ
    assumption: bool = False
    setting: str = ""  # the environment variable that overrides it ("" = fixed by AWS's price list)
    note: str = ""

    def current(self) -> float:
        """The value, or its setting's when set (only assumptions have one)."""
        return float(settings.read(self.setting, self.value)) if self.setting else self.value


def _f(name: str, value: float, unit: str, source: str, **kw: str | bool) -> Figure:
    return Figure(name, value, unit, source, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------- on-demand Lambda
REQUEST = _f("request charge", 0.20 / 1e6, "USD per request", LAMBDA_PRICING, note="$0.20 per 1M requests")
DURATION = {
    "x86_64": _f("duration, x86_64", 0.0000166667, "USD per GB-s", LAMBDA_PRICING, note="first tier"),
    "arm64": _f("duration, arm64", 0.0000133334, "USD per GB-s", LAMBDA_PRICING, note="first tier"),
}
BILLING_RULE = _f(
    "billed duration rounding", 1.0, "ms", LAMBDA_PRICING,
    note="duration rounded up to the next 1 ms; a container image's cold request bills its INIT and its "
    "handler as one duration, so the sum is rounded once",
)  # fmt: skip

# ------------------------------------------------------------------------ provisioned concurrency
PC_PROVISIONED = {
    "x86_64": _f("provisioned concurrency, x86_64", 0.0000041667, "USD per GB-s configured", LAMBDA_PRICING),
    "arm64": _f("provisioned concurrency, arm64", 0.0000033334, "USD per GB-s configured", LAMBDA_PRICING),
}
PC_DURATION = {
    "x86_64": _f(
        "duration with provisioned concurrency, x86_64", 0.0000097222, "USD per GB-s", LAMBDA_PRICING
    ),
    "arm64": _f("duration with provisioned concurrency, arm64", 0.0000077778, "USD per GB-s", LAMBDA_PRICING),
}
PC_HEADROOM = _f(
    "provisioned concurrency headroom", 1.5, "x mean concurrency", LAMBDA_PRICING, assumption=True,
    setting="BENCH_PC_HEADROOM",
    note="environments configured per environment busy on average: Poisson arrivals need headroom so that "
    "few requests spill over to on-demand cold starts; not an AWS figure",
)  # fmt: skip

# ----------------------------------------------------------------------------- Managed Instances
MI_REQUEST = _f("Managed Instances request charge", 0.20 / 1e6, "USD per request", LAMBDA_PRICING)
MI_MANAGEMENT_FEE = _f(
    "Managed Instances management fee", 0.15, "share of the instance's on-demand price", LAMBDA_PRICING,
    note="15 % of the EC2 on-demand price (AWS's per-instance table; confirmed by third-party write-ups)",
)  # fmt: skip
MI_MIN_ENVIRONMENTS = _f(
    "Managed Instances minimum execution environments", 3, "environments", MI_SCALING,
    note="Lambda launches three instances and three execution environments by default for AZ resiliency; no "
    "scale to zero while the function version is active",
)  # fmt: skip
MI_MEMORY_PER_VCPU = _f(
    "Managed Instances memory per vCPU (allowed)", 2.0, "GiB per vCPU, 2.0 to 8.0", MI_API,
    note="ExecutionEnvironmentMemoryGiBPerVCpu; 2 (compute), 4 (general), 8 (memory) match c/m/r families",
)  # fmt: skip
MI_PYTHON_CONCURRENCY = _f(
    "Managed Instances Python default concurrency", 16, "requests per vCPU", MI_PYTHON,
    note="one process per concurrent request, each serving one request at a time (Python 3.13+)",
)  # fmt: skip
MI_RESERVED = _f(
    "capacity reserved on each instance", 0.10, "share of vCPU and memory", MI_DOCS, assumption=True,
    setting="BENCH_MI_RESERVED_FRACTION",
    note="the Lambda agent and OS run on the instance; AWS publishes no share, so this is a setting",
)  # fmt: skip
MI_TARGET_UTILISATION = _f(
    "Managed Instances CPU utilisation the fleet runs at", 0.5, "share of saturation", MI_SCALING,
    assumption=True, setting="BENCH_MI_UTILISATION",
    note="Managed Instances scale on CPU utilisation and absorb a doubling within 5 minutes: running at half "
    "the measured saturation rate keeps that headroom; the SLO may force a lower share",
)  # fmt: skip


@dataclass(frozen=True)
class Instance:
    """An EC2 instance type a capacity provider may launch (on-demand Linux, us-east-1)."""

    name: str
    architecture: str
    vcpus: int
    memory_gib: float
    usd_per_hour: float
    source: str = EC2_PRICING
    read: str = READ
    #: False: the price was not read off a page this project could open (AWS renders its EC2 table
    #: client-side); the report marks it unverified, to be checked before quoting a Managed Instances cost.
    verified: bool = False

    @property
    def gib_per_vcpu(self) -> float:
        return self.memory_gib / self.vcpus


_CONFIRMED = f"{EC2_PRICING}; m7g.large confirmed by a third-party table (factualminds.com, 2026-06)"
INSTANCES: tuple[Instance, ...] = (
    Instance("c7i.large", "x86_64", 2, 4, 0.08925),
    Instance("m7i.large", "x86_64", 2, 8, 0.1008),
    Instance("r7i.large", "x86_64", 2, 16, 0.1323),
    Instance("c7g.large", "arm64", 2, 4, 0.0725),
    Instance("m7g.large", "arm64", 2, 8, 0.0816, _CONFIRMED, verified=True),
    Instance("r7g.large", "arm64", 2, 16, 0.1071),
)

# ------------------------------------------------------------------------- the platform's cold term
#: The real-Lambda part of a cold start the local emulator does not have: lambda-perf's python3.13
#: hello-world Init Duration (about 280-300 cold starts per configuration). It contains the python runtime's
#: own start, which a local INIT REPORT also contains, so adding it to a local INIT is an upper bound.
PLATFORM_INIT = {
    (catalogue.PACKAGING_FORMS["image"].name, "x86_64"): _f(
        "platform cold term, container image, x86_64", 160.0, "ms (median; p90 ~295-326)", LAMBDA_PERF,
        assumption=True, setting="BENCH_PLATFORM_INIT_MS",
        note="hello-world Init Duration median ~156-163 ms; p90 ~295-326 ms",
    ),
    (catalogue.PACKAGING_FORMS["zip"].name, "x86_64"): _f(
        "platform cold term, zip, x86_64", 84.0, "ms (median; p90 ~96-103)", LAMBDA_PERF,
        note="hello-world Init Duration median ~83-85 ms; p90 ~96-103 ms (published; the image figure is "
        "the setting)",
    ),
}  # fmt: skip

SECONDS_PER_MONTH = 730 * 3600  # AWS's pricing examples use 730 hours a month


def all_figures() -> list[Figure]:
    """Every figure, for the report's table of prices and assumptions."""
    out = [REQUEST, *DURATION.values(), BILLING_RULE, *PC_PROVISIONED.values(), *PC_DURATION.values()]
    out += [PC_HEADROOM, MI_REQUEST, MI_MANAGEMENT_FEE, MI_MIN_ENVIRONMENTS, MI_MEMORY_PER_VCPU]
    out += [MI_PYTHON_CONCURRENCY, MI_RESERVED, MI_TARGET_UTILISATION, *PLATFORM_INIT.values()]
    return out


def platform_init_ms(
    packaging: str = catalogue.DEFAULT_PACKAGING.name, architecture: str = catalogue.DEFAULT_ARCH
) -> float:
    """The platform's cold term added to a local INIT + first invoke (x86_64's figure stands in for arm64)."""
    fig = PLATFORM_INIT.get((packaging, architecture)) or PLATFORM_INIT[(packaging, "x86_64")]
    return fig.current()
