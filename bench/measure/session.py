"""One benchmark session's state (bench/conftest.py's ``bench_session`` fixture): its configuration, the rows
and raw samples it collected, the in-process reference answers it cached, and where progress lines go."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.measure import schema
from bench.measure.env import Config, emulator_versions, log
from bench.measure.targets import inprocess as ip
from infra import docker


@dataclass
class Session:
    cfg: Config
    run_id: str
    env: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    acc: Any = None
    reference: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    sizes: dict[str, docker.ImageSizes] = field(default_factory=dict)
    reporter: Any = None
    capman: Any = None
    samples: list[dict[str, Any]] = field(default_factory=list)  # bench/measure/samples.py lines
    runtime_versions: dict[str, dict[str, str]] = field(default_factory=dict)

    def progress(self, msg: str) -> None:
        """One line on the terminal even when pytest captures output (no -s needed)."""
        if self.reporter is None:
            log(msg)
        elif self.capman is not None:
            with self.capman.global_and_fixture_disabled():
                self.reporter.write_line(msg, flush=True)
        else:
            self.reporter.write_line(msg, flush=True)

    def reference_logits(self, a: ip.Artefact, images: list[bytes]) -> np.ndarray:
        """In-process answers of artefact ``a`` on the fixed set (cached per artefact): what every container
        serving the same bytes must reproduce."""
        key = (a.model, a.name)
        if key not in self.reference:
            adapter, _ = ip.load(a, 1)
            self.reference[key] = ip.predict_logits(
                adapter, ip.preprocess_bytes(images, ip.input_size(a.path.parent))
            )
        return self.reference[key]

    def versions(self, tag: str) -> dict[str, str]:
        """Emulator and awslambdaric versions read inside image ``tag`` (once per session)."""
        if tag not in self.runtime_versions:
            self.runtime_versions[tag] = emulator_versions(tag)
        return self.runtime_versions[tag]

    def add(self, **row: Any) -> dict[str, Any]:
        full = {"run_id": self.run_id, **self.env, "cold_fraction": self.cfg.cold_fraction, **row}
        schema.to_frame([full])  # fail fast on a typo'd column, not at session end
        self.rows.append(full)
        return full
