"""Every benchmark target implements the one target interface (bench/measure/targets/base.py).

The assignments are checked by mypy (``make lint``): a target whose ``start``, ``cold_start`` or
``cleanup`` drifts from the Protocol fails there; the test checks the same at run time, parameter by
parameter, so a target cannot grow a required argument the interface does not pass.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from bench.measure.targets import base
from bench.measure.targets.aws import AwsInstance, AwsTarget
from bench.measure.targets.container import ContainerInstance, ContainerTarget
from bench.measure.targets.inprocess import InProcessInstance, InProcessTarget

TARGETS: tuple[type[Any], ...] = (InProcessTarget, ContainerTarget, AwsTarget)
INSTANCES: tuple[type[Any], ...] = (InProcessInstance, ContainerInstance, AwsInstance)


def _static_conformance(c: ContainerTarget, i: InProcessTarget, a: AwsTarget) -> list[base.Target]:
    """Never called: mypy checks that each target is a base.Target and each instance a base.Instance."""
    instances: list[base.Instance] = [c.start(base.Launch("t", 1, 1.0)), i.start(base.Launch("t", 1, 1.0))]
    instances.append(a.start(base.Launch("t", 1, 1.0)))
    return [c, i, a]


def _params(fn: Any) -> list[tuple[str, Any]]:
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values() if p.name != "self"]


def _conforms(impl: Any, proto: Any) -> bool:
    """The interface's parameters, in order and with its defaults, then only optional ones."""
    got, want = _params(impl), _params(proto)
    return got[: len(want)] == want and all(d is not inspect.Parameter.empty for _, d in got[len(want) :])


@pytest.mark.parametrize("cls", TARGETS, ids=lambda c: c.__name__)
def test_target_methods_take_what_the_interface_passes(cls: type[Any]) -> None:
    assert isinstance(cls.name, str) and cls.name in ("inprocess", "container", "aws")
    for method in ("start", "cold_start", "cleanup"):
        assert _conforms(getattr(cls, method), getattr(base.Target, method)), method


@pytest.mark.parametrize("cls", INSTANCES, ids=lambda c: c.__name__)
def test_instances_answer_invoke_log_and_stop(cls: type[Any]) -> None:
    for method in ("invoke", "platform_log", "stop"):
        assert _conforms(getattr(cls, method), getattr(base.Instance, method)), method


def test_container_target_is_a_target() -> None:
    assert isinstance(ContainerTarget("s"), base.Target)
    assert isinstance(InProcessTarget(), base.Target)
