"""The benchmark cells. Run: ``pytest bench --benchmark-only`` (see docs/bench.md for settings)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.decide import winner
from bench.measure import accuracy, env, samples, schema, soak
from bench.measure import records as measure
from bench.measure.images import fixed_images
from bench.measure.session import Session
from bench.measure.targets import aws as aws_target
from bench.measure.targets import container as ct
from bench.measure.targets import inprocess as ip
from core import catalogue
from infra import docker
from runtimes.base import threads_for


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}"


# ------------------------------------------------------------------------------------ in-process
def _pedantic(benchmark: Any) -> measure.Runner:
    return lambda fn, rounds: benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)


def test_inprocess(benchmark: Any, bench_session: Session, inprocess_cell: tuple[ip.Artefact, int]) -> None:
    s, (a, threads) = bench_session, inprocess_cell
    load_before = env.load_average()
    images = fixed_images(s.cfg.agree_n)
    fresh = ip.fresh_load_ms(a, threads)
    adapter, _ = ip.load(a, threads)
    warm = measure.measure_inprocess(
        adapter, images, ip.input_size(a.path.parent), s.cfg.warmup, s.cfg.warm_m, _pedantic(benchmark)
    )
    acc, note = accuracy.lookup(
        s.acc, a.model, a.runtime, getattr(adapter, "library", None), a.variant, a.sha256
    )
    row = s.add(
        target="inprocess",
        status="ok",
        note=note,
        model=a.model,
        variant=a.variant,
        artefact=a.name,
        runtime=a.runtime,
        library=fresh["library"],
        runtime_version=fresh["version"],
        model_sha256=a.sha256,
        threads=threads,
        inproc_load_ms=fresh["load_ms"],
        inproc_reload_ms=fresh["reload_ms"],
        **warm.columns(),
        errors=0,
        **acc,
        load_avg_before=load_before,
        load_avg_after=env.load_average(),
    )
    benchmark.extra_info.update({k: v for k, v in row.items() if k.startswith(("warm_", "inproc_"))})
    s.progress(
        f"  inprocess {a.runtime}/{a.model}/{a.variant} t={threads}: load {fresh['load_ms']:.0f} ms, "
        f"predict p50 {_fmt(row['warm_inference_p50_ms'])} ms"
    )
    assert not accuracy.stale(row["note"]), row["note"]
    assert row["warm_n"] == s.cfg.warm_m, f"{row['warm_n']} of {s.cfg.warm_m} predictions were timed"
    assert row["inproc_load_ms"] > 0 and row["inproc_reload_ms"] > 0, "model load was not timed"
    assert row["library"] and row["runtime_version"], "the fresh process did not say what served"
    assert 0 < row["warm_inference_p50_ms"] <= row["warm_client_p50_ms"], (
        f"predict p50 {row['warm_inference_p50_ms']} ms vs preprocess+predict p50 {row['warm_client_p50_ms']}"
    )


# ------------------------------------------------------------------------------------- container
CellArgs = tuple[str, str, str, str, int, int | None, int]  # tag, kind, model, variant, mem, threads, repeat


def _cell(s: Session, args: CellArgs) -> measure.Cell:
    tag, kind, model, variant, mem, threads, _ = args
    cpus, _ = s.cfg.cpus_for(mem)
    return measure.Cell(
        tag, kind, model, variant, mem, cpus, s.run_id, s.cfg.http_timeout_s, s.cfg.start_timeout_s, threads
    )


def _notes(s: Session, cell: measure.Cell, acc_note: str | None, cold: measure.Cold, hot: measure.Cold,
           artefact: str, found: bool) -> str | None:  # fmt: skip
    capped = s.cfg.cpus_for(cell.memory_mb)[1]
    notes = (
        acc_note,
        f"cpus capped at {cell.cpus:g} (host has {s.cfg.host_cpus})" if capped else None,
        f"rejected {len(cold.rejected)} cold sample(s): {cold.rejected[0]}" if cold.rejected else None,
        f"cold-cache columns empty: {hot.skipped}" if hot.skipped else None,
        f"rejected {len(hot.rejected)} cold-cache sample(s): {hot.rejected[0]}" if hot.rejected else None,
        f"threads forced by BENCH_THREADS (MODEL_THREADS={cell.threads})" if cell.threads else None,
        None if found else f"no local artefact {artefact} for agreement",
    )
    return "; ".join(n for n in notes if n) or None


def _measure_container(benchmark: Any, s: Session, args: CellArgs) -> dict[str, Any]:
    cell, cfg, repeat = _cell(s, args), s.cfg, args[6]
    load_before = env.load_average()
    images = fixed_images(cfg.agree_n)
    events = [ct.event_for(b) for b in images]
    if cell.tag not in s.sizes:
        s.progress(f"  {cell.tag}: measuring image size (docker save | gzip, cached per image id)")
        s.sizes[cell.tag] = docker.image_sizes(cell.tag)
    sz = s.sizes[cell.tag]
    artefact_name = sz.env.get("MODEL_PATH", "").rstrip("/").rsplit("/", 1)[-1]
    art = ip.find_artefact(cell.model, artefact_name)
    hot = measure.measure_cold_cache(cell, events[0], cfg.cold_cache_n, s.progress)
    cold, c = measure.measure_cold(cell, events[0], cfg.cold_n, s.progress)
    with c:
        warm = measure.measure_warm(c, events, cfg.warmup, cfg.warm_m, _pedantic(benchmark))
        ref = s.reference_logits(art, images) if art is not None else None
        agree = measure.agreement(c, events, ref)
        peak, rss = c.peak_memory_bytes(), c.rss_bytes()
    meta = warm.first_meta
    sha = meta.get("model_sha256")
    runtime, library = meta.get("runtime", ""), meta.get("library")
    acc, note = accuracy.lookup(s.acc, cell.model, runtime, library, cell.variant, sha)
    if not cell.threads:  # threads experiments never feed the winner's samples (one cell = one key)
        s.samples += samples.rows_for_cell(
            s.run_id, repeat, cell.tag, cell.memory_mb, warm.sample_pairs(), cold.sample_tuples()
        )
    return dict(
        target="container",
        status="ok",
        note=_notes(s, cell, note, cold, hot, artefact_name, art is not None),
        image=cell.tag,
        image_kind=cell.kind,
        model=cell.model,
        variant=cell.variant,
        artefact=artefact_name,
        runtime=meta.get("runtime"),
        library=meta.get("library"),
        runtime_version=meta.get("runtime_version"),
        model_sha256=meta.get("model_sha256"),
        memory_mb=cell.memory_mb,
        cpus=cell.cpus,
        cpus_capped=cfg.cpus_for(cell.memory_mb)[1],
        threads=meta.get("threads"),
        threads_forced=bool(cell.threads),
        repeat=repeat,
        **measure.size_columns(sz),
        **s.versions(cell.tag),
        **cold.columns(),
        **hot.cache_columns(),
        **warm.columns(),
        peak_memory_bytes=peak,
        rss_bytes=rss,
        **agree.columns(),
        errors=warm.errors + agree.errors,
        **measure.costs(cell.memory_mb, warm, cold, cfg.cold_fraction),
        **acc,
        load_avg_before=load_before,
        load_avg_after=env.load_average(),
    )


def _check_container(s: Session, row: dict[str, Any], forced: int | None) -> None:
    assert not accuracy.stale(row["note"]), row["note"]
    assert row["cold_n"] > 0, f"every cold sample was rejected: {row['note']}"
    assert row["errors"] == 0, f"{row['errors']} failed warm/agreement invocations"
    assert row["warm_report_n"] == row["warm_n"], (
        f"{row['warm_report_n']} REPORT lines for {row['warm_n']} good warm invocations: billed duration "
        "would fall back to the handler's stages"
    )
    assert row["warm_report_duration_p50_ms"] >= row["warm_handler_p50_ms"], (
        "the emulator's whole-invocation Duration is shorter than the handler's timed stages"
    )
    if s.cfg.cold_cache_n and row["cold_cache_n"] is not None:  # None: not root, the note says so
        assert row["cold_cache_n"] > 0, f"every cold-cache sample was rejected: {row['note']}"
    expected = forced or threads_for(s.cfg.host_cpus, row["cpus"], int(row["memory_mb"]))
    assert row["threads"] == expected, (
        f"handler used {row['threads']} threads at {row['memory_mb']} MB, --cpus {row['cpus']} "
        f"(expected {expected}{' forced' if forced else ' by runtimes.base.threads_for'})"
    )


def test_container(benchmark: Any, bench_session: Session, container_cell: CellArgs) -> None:
    s = bench_session
    tag, kind, model, variant, mem, threads, repeat = container_cell
    s.progress(f"cell {tag} @ {mem} MB" + (f", threads {threads}" if threads else "") + f", repeat {repeat}")
    try:
        row = s.add(**_measure_container(benchmark, s, container_cell))
    except Exception as e:
        s.add(
            target="container",
            status="failed",
            note=f"{type(e).__name__}: {str(e)[:300]}",
            image=tag,
            image_kind=kind,
            model=model,
            variant=variant,
            memory_mb=mem,
            threads_forced=bool(threads),
            repeat=repeat,
        )
        raise
    benchmark.extra_info.update(
        {
            k: v
            for k, v in row.items()
            if k.startswith(("cold_", "warm_", "cost_", "peak_")) and not k.endswith("samples_ms")
        }
    )
    s.progress(
        f"  -> cold median {_fmt(row['cold_total_median_ms'])} ms (cold cache "
        f"{_fmt(row['cold_cache_total_median_ms'])}), warm p50/p99 "
        f"{_fmt(row['warm_client_p50_ms'])}/{_fmt(row['warm_client_p99_ms'])} ms, REPORT p50 "
        f"{_fmt(row['warm_report_duration_p50_ms'])} ms, threads {row['threads']}, "
        f"peak {(row['peak_memory_bytes'] or 0) / 2**20:.0f} MiB, "
        f"agreement {_fmt(row['container_agreement_pct'])}%,"
        f" ${row['cost_per_1m_x86_64_usd'] or float('nan'):.2f}/1M"
    )
    _check_container(s, row, threads)


# ------------------------------------------------------------------------------------------- aws
def test_aws(benchmark: Any, bench_session: Session, aws_skip_reason: str | None) -> None:
    if aws_skip_reason:
        pytest.skip(aws_skip_reason)
    s = bench_session
    images = sorted({r["image"] for r in s.rows if r["target"] == "container" and r.get("image")})
    if not images:
        pytest.skip("no local images were benchmarked, nothing to push")
    rows = benchmark.pedantic(
        aws_target.run_cells,
        args=(images, s.cfg.memory_mb, s.cfg.cold_n, s.cfg.warm_m),
        rounds=1,
        iterations=1,
    )
    for r in rows:
        s.add(**r)


# ------------------------------------------------------------------------------------------ soak
def _soak_target(s: Session) -> tuple[str, int, str] | None:
    """(image, memory, why) : the in-session winner, else the TFLite float32 image, else any real image."""
    rows = [
        r
        for r in s.rows
        if r["target"] == "container" and r.get("status") == "ok" and not r.get("threads_forced")
    ]
    if not rows:
        return None
    w = winner.pick(schema.to_frame(rows), s.cfg.p99_budget_ms, min_top1=s.cfg.min_top1_pct)
    if w is not None:
        return str(w["image"]), int(w["memory_mb"]), "winner of this run"
    pref = sorted(
        rows,
        key=lambda r: (
            r["image_kind"] != "tflite",
            r["variant"] != "float32",
            r["image_kind"] == "null",
            abs(r["memory_mb"] - 1769),
        ),
    )
    return (
        str(pref[0]["image"]),
        int(pref[0]["memory_mb"]),
        "no winner (accuracy gate data missing?): fallback",
    )


def test_soak(benchmark: Any, bench_session: Session) -> None:
    s = bench_session
    if not s.cfg.soak:
        pytest.skip("BENCH_SOAK=0")
    target = _soak_target(s)
    if target is None:
        pytest.skip("no container cell succeeded in this run: nothing to soak")
    tag, mem, why = target
    cpus, _ = s.cfg.cpus_for(mem)
    s.progress(f"soak {tag} @ {mem} MB ({why}): {s.cfg.soak_n} invocations, every 10th bad")
    images = fixed_images(s.cfg.agree_n)
    load_before = env.load_average()
    with ct.emulator(tag, mem, cpus, s.run_id, s.cfg.http_timeout_s) as c:
        c.start()
        c.wait_ready(s.cfg.start_timeout_s)
        res = benchmark.pedantic(
            soak.run, args=(c, images, s.cfg.soak_n), kwargs={"progress": s.progress}, rounds=1, iterations=1
        )
    parsed = catalogue.parse_tag(tag) or ("", "", "")
    problems = res.problems()
    s.add(
        target="soak",
        status="ok" if not problems else "failed",
        note="; ".join(problems) or why,
        image=tag,
        image_kind=parsed[0],
        model=parsed[1],
        variant=parsed[2],
        memory_mb=mem,
        cpus=cpus,
        errors=res.unexpected_errors,
        **res.row(),
        **s.versions(tag),
        load_avg_before=load_before,
        load_avg_after=env.load_average(),
    )
    benchmark.extra_info.update(res.row())
    s.progress(
        f"  soak: {res.unexpected_errors} unexpected errors, {res.typed_errors_ok}/{res.bad_n} typed, "
        f"rss growth {_fmt(res.mem_growth_pct)}%, peak growth {_fmt(res.peak_growth_pct)}%, "
        f"{res.wall_s:.0f} s"
    )
    assert not problems, "; ".join(problems)
