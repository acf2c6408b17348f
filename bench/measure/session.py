"""One benchmark session's state (bench/conftest.py's ``bench_session`` fixture): its settings, the rows
and raw samples it collected, the in-process reference answers it cached, and where progress lines go;
opened once per pytest session and closed by writing its run (CSV, raw samples, local diff, timing)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.measure import accuracy, env, plan, samples, schema
from bench.measure.env import emulator_versions, log
from bench.measure.settings import Settings
from bench.measure.targets import container as ct
from bench.measure.targets import inprocess as ip
from infra import docker


def say(reporter: Any, capman: Any, msg: str) -> None:
    """One line on pytest's terminal (``reporter``) even when it captures output (no -s needed); stderr
    without one."""
    if reporter is None:
        log(msg)
    elif capman is not None:
        with capman.global_and_fixture_disabled():
            reporter.write_line(msg, flush=True)
    else:
        reporter.write_line(msg, flush=True)


@dataclass
class Session:
    cfg: Settings
    run_id: str
    env: schema.Row  # what every row of the session carries (env.environment)
    rows: list[schema.Row] = field(default_factory=list)
    acc: Any = None
    reference: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    sizes: dict[str, docker.ImageSizes] = field(default_factory=dict)
    reporter: Any = None
    capman: Any = None
    samples: list[dict[str, Any]] = field(default_factory=list)  # bench/measure/samples.py lines
    runtime_versions: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def open(cls, cfg: Settings, reporter: Any = None, capman: Any = None) -> Session:
        """A new run: its id, the environment every row carries, the accuracy rows beside its results; the
        settings line printed first."""
        rid = env.run_id()
        s = cls(
            cfg, rid, env.environment(cfg, rid), acc=accuracy.load(cfg.results_dir / "accuracy.csv"),
            reporter=reporter, capman=capman,
        )  # fmt: skip
        s.progress(
            f"bench run {rid}: memory {list(cfg.memory_mb)} MB, cold N={cfg.cold_n}, warm M={cfg.warm_m}, "
            f"models {list(cfg.models)}, quick={cfg.quick}, repeats {cfg.repeats} (seed {cfg.seed}), "
            f"forced threads {list(cfg.threads) or 'none'} at {list(cfg.threads_memory_mb)} MB, "
            f"cold-cache N={cfg.cold_cache_n}"
        )
        return s

    def progress(self, msg: str) -> None:
        say(self.reporter, self.capman, msg)

    def container_target(self) -> ct.ContainerTarget:
        """The container target of this session (its containers carry the run id as their label)."""
        return ct.ContainerTarget(self.run_id, self.cfg.http_timeout_s, self.cfg.start_timeout_s)

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

    def add(self, row: schema.Row) -> schema.Row:
        """The cell's record over the session's environment, kept for the CSV written at the end."""
        full = row.over(self.env)
        schema.to_frame([full])  # fail fast on a value the CSV cannot hold, not at session end
        self.rows.append(full)
        return full

    def close(self, tracker: plan.Tracker | None, now_s: float) -> None:
        """Remove leftover containers; write the rows (runs/<run_id>.csv and latest.csv, once: pytest-
        benchmark's own CSV drops extra_info), the raw samples, the local diff and the timing."""
        if docker.available() is None:
            removed = self.container_target().cleanup()
            if removed:
                self.progress(f"removed {removed} leftover bench container(s)")
        if not self.rows:
            self.progress("no benchmark rows measured; results/latest.csv left unchanged")
            return
        runs = self.cfg.results_dir / "runs" / f"{self.run_id}.csv"
        schema.serialise(self.rows, runs)
        schema.serialise(self.rows, self.cfg.results_dir / "latest.csv")
        self.progress(f"wrote {len(self.rows)} rows -> {runs} and {self.cfg.results_dir / 'latest.csv'}")
        diff = env.save_diff(runs)
        if diff is not None:
            self.progress(f"the tree had local changes: kept them beside the run -> {diff}")
        if self.samples:
            raw = samples.write(samples.path_for(runs), self.samples)
            self.progress(f"wrote {len(self.samples)} raw samples -> {raw}")
        if tracker is not None:
            self._write_timing(tracker, runs, now_s)

    def _write_timing(self, tracker: plan.Tracker, runs: Path, now_s: float) -> None:
        doc = tracker.timing_doc(self.run_id, now_s)
        path = plan.timing_path(runs)
        path.write_text(json.dumps(doc, indent=1) + "\n")
        self.progress(
            f"took {plan.duration(doc['wall_s'])}, estimated {plan.duration(tracker.plan.total_s)} -> {path}"
        )
