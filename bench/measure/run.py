"""What each benchmark test measures, as functions of the session and its cell: the pytest files
(bench/test_bench.py, bench/test_zip.py) only parametrise, call these and assert on the row.

Each function returns a bench/measure/schema.py ``Row`` built from the measurements' sub-records (the
session adds it over its environment; it becomes CSV when the session ends) or the list of problems a test
asserts is empty; timing goes through a :data:`records.Runner` (pytest-benchmark's pedantic in the tests).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bench.decide import winner
from bench.measure import accuracy, env, records, samples, schema, soak
from bench.measure.cells import Cell
from bench.measure.images import fixed_images
from bench.measure.session import Session
from bench.measure.targets import aws as aws_target
from bench.measure.targets import container as ct
from bench.measure.targets import inprocess as ip
from core import catalogue
from core.contracts import PackageSummary
from images import package as pkg
from infra import docker
from runtimes.base import threads_for

#: The zip cell's note: what its row is and is not (bench/test_zip.py's docstring says why).
ZIP_NOTE = (
    "zip + layer run as Lambda lays them out (function /var/task, layer /opt) under the same emulator: "
    "locally the same mechanism as an image; on AWS zip and image cold starts differ for reasons not "
    "reproduced here; sizes are the archives' (zipped uploads / unzipped); no cost columns: not a winner "
    "candidate"
)


def fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}"


# ------------------------------------------------------------------------------------ in-process
def inprocess(s: Session, a: ip.Artefact, threads: int, runner: records.Runner) -> schema.Row:
    """One in-process cell: a fresh process's load and reload, then warm predictions in this process."""
    load_before = env.load_average()
    images = fixed_images(s.cfg.agree_n)
    fresh = ip.fresh_load_ms(a, threads)
    adapter, _ = ip.load(a, threads)
    warm = records.measure_inprocess(
        adapter, images, ip.input_size(a.path.parent), s.cfg.warmup, s.cfg.warm_m, runner
    )
    acc, note = accuracy.lookup(
        s.acc, a.model, a.runtime, getattr(adapter, "library", None), a.variant, a.sha256
    )
    row = s.add(schema.Row(
        target="inprocess", status="ok", note=note, model=a.model, variant=a.variant, artefact=a.name,
        runtime=a.runtime, library=fresh["library"], runtime_version=fresh["version"], model_sha256=a.sha256,
        threads=threads, inproc=schema.InProcessLoad(load_ms=fresh["load_ms"], reload_ms=fresh["reload_ms"]),
        warm=warm.record(), errors=0, accuracy=schema.Accuracy(**acc),
        provenance=schema.Provenance(load_avg_before=load_before, load_avg_after=env.load_average()),
    ))  # fmt: skip
    s.progress(
        f"  inprocess {a.runtime}/{a.model}/{a.variant} t={threads}: load {fresh['load_ms']:.0f} ms, "
        f"predict p50 {fmt(row.warm.inference_p50_ms)} ms"
    )
    return row


def inprocess_problems(s: Session, row: schema.Row) -> list[str]:
    """What an in-process row must show: a fresh accuracy row, every prediction timed, the load timed."""
    w, load = row.warm, row.inproc
    checks = [
        (not accuracy.stale(row.note), str(row.note)),
        (w.n == s.cfg.warm_m, f"{w.n} of {s.cfg.warm_m} predictions were timed"),
        ((load.load_ms or 0) > 0 and (load.reload_ms or 0) > 0, "model load was not timed"),
        (bool(row.library and row.runtime_version), "the fresh process did not say what served"),
        (
            0 < (w.inference_p50_ms or 0) <= (w.client_p50_ms or 0),
            f"predict p50 {w.inference_p50_ms} ms vs preprocess+predict p50 {w.client_p50_ms}",
        ),
    ]
    return [why for ok, why in checks if not ok]


# ------------------------------------------------------------------------------------- container
def _notes(s: Session, cell: Cell, acc_note: str | None, cold: records.Cold, hot: records.Cold,
           artefact: str, found: bool) -> str | None:  # fmt: skip
    cpus, capped = s.cfg.cpus_for(cell.memory_mb)
    notes = (
        acc_note,
        f"cpus capped at {cpus:g} (host has {s.cfg.host_cpus})" if capped else None,
        f"rejected {len(cold.rejected)} cold sample(s): {cold.rejected[0]}" if cold.rejected else None,
        f"cold-cache columns empty: {hot.skipped}" if hot.skipped else None,
        f"rejected {len(hot.rejected)} cold-cache sample(s): {hot.rejected[0]}" if hot.rejected else None,
        f"threads forced by BENCH_THREADS (MODEL_THREADS={cell.threads})" if cell.threads else None,
        None if found else f"no local artefact {artefact} for agreement",
    )
    return "; ".join(n for n in notes if n) or None


def _sizes(s: Session, tag: str) -> docker.ImageSizes:
    if tag not in s.sizes:
        s.progress(f"  {tag}: measuring image size (docker save | gzip, cached per image id)")
        s.sizes[tag] = docker.image_sizes(tag)
    return s.sizes[tag]


def _image_facts(s: Session, tag: str, load_before: float) -> dict[str, Any]:
    """The Row fields a cell's image and host give: the python, emulator and runtime client inside the
    image (read once per session), the host's load before and after the cell."""
    v = s.versions(tag)
    return {
        "env": schema.Environment(image_python=v["image_python"]),
        "provenance": schema.Provenance(
            load_avg_before=load_before,
            load_avg_after=env.load_average(),
            rie_version=v["rie_version"],
            awslambdaric_version=v["awslambdaric_version"],
        ),  # fmt: skip
    }


def _measure_container(s: Session, cell: Cell, runner: records.Runner) -> schema.Row:
    cfg, launch, target = s.cfg, cell.launch(s.cfg), s.container_target()
    load_before = env.load_average()
    images = fixed_images(cfg.agree_n)
    events = [ct.event_for(b) for b in images]
    sz = _sizes(s, cell.tag)
    artefact_name = sz.env.get("MODEL_PATH", "").rstrip("/").rsplit("/", 1)[-1]
    art = ip.find_artefact(cell.model, artefact_name)
    hot = records.measure_cold_cache(target, launch, events[0], cfg.cold_cache_n, s.progress)
    cold, c = records.measure_cold(target, launch, events[0], cfg.cold_n, s.progress)
    with c:
        warm = records.measure_warm(c, events, cfg.warmup, cfg.warm_m, runner)
        ref = s.reference_logits(art, images) if art is not None else None
        agree = records.agreement(c, events, ref)
        peak, rss = c.peak_memory_bytes(), c.rss_bytes()
    meta = warm.first_meta
    acc, note = accuracy.lookup(
        s.acc,
        cell.model,
        meta.get("runtime", ""),
        meta.get("library"),
        cell.variant,
        meta.get("model_sha256"),
    )
    if not cell.forced:  # threads experiments never feed the winner's samples (one cell = one key)
        s.samples += samples.rows_for_cell(
            s.run_id, cell.repeat, cell.tag, cell.memory_mb, warm.sample_pairs(), cold.sample_tuples()
        )
    notes = _notes(s, cell, note, cold, hot, artefact_name, art is not None)
    return schema.Row(
        target="container", status="ok", note=notes,
        image=cell.tag, image_kind=cell.kind, image_id=sz.image_id, model=cell.model, variant=cell.variant,
        artefact=artefact_name, runtime=meta.get("runtime"), library=meta.get("library"),
        runtime_version=meta.get("runtime_version"), model_sha256=meta.get("model_sha256"),
        memory_mb=cell.memory_mb, cpus=launch.cpus, cpus_capped=cfg.cpus_for(cell.memory_mb)[1],
        threads=meta.get("threads"), threads_forced=cell.forced, repeat=cell.repeat,
        size=records.size_record(sz), cold=cold.record(), cold_cache=hot.cache_record(), warm=warm.record(),
        memory=schema.Memory(peak_memory_bytes=peak, rss_bytes=rss), agreement=agree.record(),
        errors=warm.errors + agree.errors, cost=records.costs(cell.memory_mb, warm, cold, cfg.cold_fraction),
        accuracy=schema.Accuracy(**acc), **_image_facts(s, cell.tag, load_before),
    )  # fmt: skip


def container(s: Session, cell: Cell, runner: records.Runner) -> schema.Row:
    """One container cell: cold-cache and cold starts, warm requests, agreement, cost; a failure is still a
    row (``status=failed``, the exception's text) before the exception goes on."""
    s.progress(
        f"cell {cell.tag} @ {cell.memory_mb} MB" + (f", threads {cell.threads}" if cell.threads else "")
        + f", repeat {cell.repeat}"
    )  # fmt: skip
    try:
        row = s.add(_measure_container(s, cell, runner))
    except Exception as e:
        s.add(schema.Row(
            target="container", status="failed", note=f"{type(e).__name__}: {str(e)[:300]}", image=cell.tag,
            image_kind=cell.kind, model=cell.model, variant=cell.variant, memory_mb=cell.memory_mb,
            threads_forced=cell.forced, repeat=cell.repeat,
        ))  # fmt: skip
        raise
    s.progress(
        f"  -> cold median {fmt(row.cold.total_median_ms)} ms (cold cache "
        f"{fmt(row.cold_cache.total_median_ms)}), warm p50/p99 "
        f"{fmt(row.warm.client_p50_ms)}/{fmt(row.warm.client_p99_ms)} ms, REPORT p50 "
        f"{fmt(row.warm.report_duration_p50_ms)} ms, threads {row.threads}, "
        f"peak {(row.memory.peak_memory_bytes or 0) / 2**20:.0f} MiB, "
        f"agreement {fmt(row.agreement.agreement_pct)}%,"
        f" ${row.cost.cost_per_1m_x86_64_usd or float('nan'):.2f}/1M"
    )
    return row


def container_problems(s: Session, row: schema.Row, cell: Cell) -> list[str]:
    """What a container row must show: fresh accuracy, cold samples kept, no failed invocation, a REPORT
    line per warm invocation, and the thread count the policy (or BENCH_THREADS) asked for."""
    expected = cell.threads or threads_for(s.cfg.host_cpus, float(row.cpus or 0), int(row.memory_mb or 0))
    w, hot = row.warm, row.cold_cache
    checks = [
        (not accuracy.stale(row.note), str(row.note)),
        ((row.cold.n or 0) > 0, f"every cold sample was rejected: {row.note}"),
        (row.errors == 0, f"{row.errors} failed warm/agreement invocations"),
        (
            w.report_n == w.n,
            f"{w.report_n} REPORT lines for {w.n} good warm invocations: billed duration "
            "would fall back to the handler's stages",
        ),
        (
            (w.report_duration_p50_ms or 0) >= (w.handler_p50_ms or 0),
            "the emulator's whole-invocation Duration is shorter than the handler's timed stages",
        ),
        (
            # None: not root, the note says so
            not (s.cfg.cold_cache_n and hot.n is not None) or (hot.n or 0) > 0,
            f"every cold-cache sample was rejected: {row.note}",
        ),
        (
            row.threads == expected,
            f"handler used {row.threads} threads at {row.memory_mb} MB, --cpus {row.cpus} "
            f"(expected {expected}{' forced' if cell.threads else ' by runtimes.base.threads_for'})",
        ),
    ]
    return [why for ok, why in checks if not ok]


# ------------------------------------------------------------------------------------------- zip
def zip_cell(s: Session, memory_mb: int) -> Cell:
    """The cell of `make package`'s zip + layer (kind ``zip``), run as its local image."""
    package = PackageSummary.load(pkg.OUT)
    tag = pkg.local_image(pkg.OUT, catalogue.DEFAULT_ARCH)
    return Cell(
        pkg.FORM.name, package.model, package.variant, memory_mb, arch=catalogue.DEFAULT_ARCH, image=tag
    )


def zip_package(s: Session, cell: Cell, runner: records.Runner) -> schema.Row:
    """One zip cell: cold starts, warm requests, agreement; sizes are the archives'; no cost columns."""
    summary = PackageSummary.load(pkg.OUT).raw
    layer = summary["layers"][cell.arch]
    cfg, launch, target = s.cfg, cell.launch(s.cfg), s.container_target()
    capped = cfg.cpus_for(cell.memory_mb)[1]
    images = fixed_images(cfg.agree_n)
    events = [ct.event_for(b) for b in images]
    load_before = env.load_average()
    artefact = pkg.FORM.variants[cell.variant]
    cold, c = records.measure_cold(target, launch, events[0], cfg.cold_n, s.progress)
    with c:
        warm = records.measure_warm(c, events, cfg.warmup, cfg.warm_m, runner)
        a = ip.find_artefact(cell.model, artefact)
        agree = records.agreement(c, events, None if a is None else s.reference_logits(a, images))
        peak, rss = c.peak_memory_bytes(), c.rss_bytes()
    meta = warm.first_meta
    zipped = int(summary["function"]["zipped_bytes"] + layer["zipped_bytes"])
    unzipped = int(summary["function"]["unzipped_bytes"] + layer["unzipped_bytes"])
    row = s.add(schema.Row(
        target="container", status="ok",
        note=ZIP_NOTE + (f"; cpus capped at {launch.cpus:g} (host has {cfg.host_cpus})" if capped else ""),
        image=cell.tag, image_kind=pkg.FORM.name, image_id=docker.image_id(cell.tag), model=cell.model,
        variant=cell.variant, artefact=artefact, runtime=meta.get("runtime"), library=meta.get("library"),
        runtime_version=meta.get("runtime_version"), model_sha256=meta.get("model_sha256"),
        memory_mb=cell.memory_mb, cpus=launch.cpus, cpus_capped=capped, threads=meta.get("threads"),
        size=schema.ImageSize(uncompressed_bytes=unzipped, compressed_bytes=zipped), cold=cold.record(),
        warm=warm.record(), memory=schema.Memory(peak_memory_bytes=peak, rss_bytes=rss),
        agreement=agree.record(), errors=warm.errors + agree.errors,
        cost=schema.Cost(init_billed_ms=cold.init_billed_ms), **_image_facts(s, cell.tag, load_before),
    ))  # fmt: skip
    s.progress(
        f"  -> zip cold median {row.cold.total_median_ms:.0f} ms (init {row.cold.init_median_ms:.0f}), "
        f"warm p50 {row.warm.client_p50_ms:.1f} ms, archives "
        f"{zipped / 2**20:.1f} MiB zipped / {unzipped / 2**20:.1f} MiB unzipped"
    )
    return row


# ------------------------------------------------------------------------------------------ soak
def soak_target(s: Session) -> tuple[Cell, str] | None:
    """(cell, why): the in-session winner, else the TFLite float32 image, else any real image."""
    rows = [r for r in s.rows if r.target == "container" and r.status == "ok" and not r.forced]
    if not rows:
        return None
    rule = winner.Rule(s.cfg.p99_budget_ms, s.cfg.min_top1_pct)
    w = winner.pick(rows, rule)
    if w is not None:
        return w.cell, "winner of this run"
    pref = sorted(
        rows,
        key=lambda r: (
            r.image_kind != "tflite",
            r.variant != "float32",
            r.image_kind == "null",
            abs(int(r.memory_mb or 0) - 1769),
        ),
    )
    return (
        dataclasses.replace(pref[0].cell, repeat=0, threads=None),
        "no winner (accuracy gate data missing?): fallback",
    )


def soak_run(s: Session, cell: Cell, why: str, runner: records.Runner) -> tuple[schema.Row, list[str]]:
    """``soak_n`` invocations on one container, every 10th bad (bench/measure/soak.py): (row, problems)."""
    image, memory_mb = cell.tag, cell.memory_mb
    cpus, _ = s.cfg.cpus_for(memory_mb)
    s.progress(f"soak {image} @ {memory_mb} MB ({why}): {s.cfg.soak_n} invocations, every 10th bad")
    images = fixed_images(s.cfg.agree_n)
    load_before = env.load_average()
    result: list[soak.SoakResult] = []
    with ct.emulator(image, memory_mb, cpus, s.run_id, s.cfg.http_timeout_s) as c:
        c.start()
        c.wait_ready(s.cfg.start_timeout_s)
        runner(lambda: result.append(soak.run(c, images, s.cfg.soak_n, progress=s.progress)), 1)
    res = result[0]
    problems = res.problems()
    named = cell.image is None  # a catalogue image: its kind, model and variant are the row's
    row = s.add(schema.Row(
        target="soak", status="ok" if not problems else "failed", note="; ".join(problems) or why,
        image=image, image_kind=cell.kind if named else "", model=cell.model if named else "",
        variant=cell.variant if named else "", memory_mb=memory_mb, cpus=cpus, errors=res.unexpected_errors,
        soak=res.record(), **_image_facts(s, image, load_before),
    ))  # fmt: skip
    s.progress(
        f"  soak: {res.unexpected_errors} unexpected errors, {res.typed_errors_ok}/{res.bad_n} typed, "
        f"rss growth {fmt(res.mem_growth_pct)}%, peak growth {fmt(res.peak_growth_pct)}%, {res.wall_s:.0f} s"
    )
    return row, problems


# ------------------------------------------------------------------------------------------- aws
def aws_images(s: Session) -> list[str]:
    """The images this session benchmarked locally: what the AWS target pushes and measures."""
    return sorted({r.image for r in s.rows if r.target == "container" and r.image})


def aws(s: Session, images: list[str], runner: records.Runner) -> list[schema.Row]:
    """Deploy and measure ``images`` at every memory size on AWS (bench/measure/targets/aws.py, whose rows
    are its columns)."""
    got: list[list[dict[str, Any]]] = []
    runner(lambda: got.append(aws_target.run_cells(images, s.cfg)), 1)
    return [s.add(schema.Row.from_columns(r)) for r in got[0]]
