"""The benchmark cells. Run: ``pytest bench --benchmark-only`` (see docs/bench.md for settings)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from bench import accuracy, cost, schema, soak, stats, winner
from bench.conftest import Session
from bench.images import fixed_images
from bench.targets import aws as aws_target
from bench.targets import container as ct
from bench.targets import inprocess as ip


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}"


def _reference_logits(s: Session, a: ip.Artefact, images: list[bytes]) -> np.ndarray:
    """In-process answers on the fixed set (cached per artefact): what every container must reproduce."""
    key = (a.model, a.name)
    if key not in s.reference:
        adapter, _ = ip.load(a, 1)
        s.reference[key] = ip.predict_logits(
            adapter, ip.preprocess_bytes(images, ip.input_size(a.path.parent))
        )
    return s.reference[key]


# ------------------------------------------------------------------------------------ in-process
def test_inprocess(benchmark: Any, bench_session: Session, inprocess_cell: tuple[ip.Artefact, int]) -> None:
    s, (a, threads) = bench_session, inprocess_cell
    images = fixed_images(s.cfg.agree_n)
    fresh = ip.fresh_load_ms(a, threads)
    adapter, _ = ip.load(a, threads)
    batch = ip.preprocess_bytes(images, ip.input_size(a.path.parent))
    for i in range(s.cfg.warmup):
        adapter.predict(batch[i % len(batch)][np.newaxis])
    infer: list[float] = []
    total: list[float] = []
    state = {"i": 0}
    size = ip.input_size(a.path.parent)

    def one() -> None:
        i = state["i"] = state["i"] + 1
        t0 = time.perf_counter()
        x = ip.preprocess_bytes([images[i % len(images)]], size)
        t1 = time.perf_counter()
        adapter.predict(x)
        t2 = time.perf_counter()
        infer.append((t2 - t1) * 1000)
        total.append((t2 - t0) * 1000)

    benchmark.pedantic(one, rounds=s.cfg.warm_m, iterations=1, warmup_rounds=0)
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
        warm_n=len(total),
        warm_client_p50_ms=stats.percentile(total, 50),
        warm_client_p90_ms=stats.percentile(total, 90),
        warm_client_p99_ms=stats.percentile(total, 99),
        warm_client_mean_ms=float(np.mean(total)),
        warm_handler_p50_ms=stats.percentile(total, 50),
        warm_handler_p90_ms=stats.percentile(total, 90),
        warm_handler_p99_ms=stats.percentile(total, 99),
        warm_handler_mean_ms=float(np.mean(total)),
        warm_inference_p50_ms=stats.percentile(infer, 50),
        errors=0,
        **acc,
    )
    benchmark.extra_info.update({k: v for k, v in row.items() if k.startswith(("warm_", "inproc_"))})
    s.progress(
        f"  inprocess {a.runtime}/{a.model}/{a.variant} t={threads}: load {fresh['load_ms']:.0f} ms, "
        f"predict p50 {_fmt(row['warm_inference_p50_ms'])} ms"
    )
    assert not accuracy.stale(row["note"]), row["note"]


# ------------------------------------------------------------------------------------- container
def _measure_container(benchmark: Any, s: Session, cell: tuple[str, str, str, str, int]) -> dict[str, Any]:
    tag, kind, model, variant, mem = cell
    cfg = s.cfg
    cpus, capped = cfg.cpus_for(mem)
    images = fixed_images(cfg.agree_n)
    cold_event = ct.event_for(images[0])
    if tag not in s.sizes:
        s.progress(f"  {tag}: measuring image size (docker save | gzip, cached per image id)")
        s.sizes[tag] = ct.image_sizes(tag)
    sz = s.sizes[tag]
    artefact_name = sz.env.get("MODEL_PATH", "").rstrip("/").rsplit("/", 1)[-1]
    art = ip.find_artefact(model, artefact_name)

    samples: list[ct.ColdSample] = []
    rejected: list[str] = []
    kept: ct.Container | None = None
    try:
        for i in range(cfg.cold_n):
            last = i == cfg.cold_n - 1
            sample, why, c = ct.cold_start(
                tag, mem, cpus, s.run_id, cold_event, cfg.start_timeout_s, cfg.http_timeout_s, keep=last
            )
            if sample is None:
                rejected.append(str(why))
                continue
            samples.append(sample)
            if c is not None:
                kept = c
            s.progress(
                f"  {tag} @{mem}MB cold {i + 1}/{cfg.cold_n}: total {sample.total_ms:.0f} ms "
                f"(start {sample.start_ms:.0f}, init {sample.init_ms:.0f}, "
                f"first inference {sample.first_inference_ms:.0f})"
            )
        if kept is None:  # the last one was rejected: still need a warm container
            kept = ct.Container(tag, mem, cpus, s.run_id, cfg.http_timeout_s)
            kept.start()
            kept.wait_ready(cfg.start_timeout_s)
        c = kept
        # warm-up, then M measured invocations through pytest-benchmark
        events = [ct.event_for(b) for b in images]
        first_meta: dict[str, Any] = {}
        for i in range(cfg.warmup + 1):
            ans = c.invoke(events[i % len(events)])
            if not ans.ok:
                raise ct.ContainerError(f"warm-up failed: {ans.error_type} {str(ans.body)[:300]}\n{c.logs()}")
            first_meta = ans.meta
        client: list[float] = []
        handler: list[float] = []
        infer: list[float] = []
        errors = {"n": 0}
        state = {"i": 0}

        def one() -> None:
            i = state["i"] = state["i"] + 1
            ans = c.invoke(events[i % len(events)])
            if not ans.ok or ans.meta.get("cold") is not False:
                errors["n"] += 1
                return
            client.append(ans.client_ms)
            handler.append(ct.handler_ms(ans.meta))
            infer.append(float(ans.meta.get("inference_ms", 0.0)))

        benchmark.pedantic(one, rounds=cfg.warm_m, iterations=1, warmup_rounds=0)
        # container vs in-process answers on the fixed set
        agree_pct = dlogit = None
        if art is not None:
            ref = _reference_logits(s, art, images)
            got = []
            for e in events:
                ans = c.invoke(e)
                if ans.predictions is None:
                    errors["n"] += 1
                    got.append(np.full(ref.shape[1], np.nan, np.float32))
                else:
                    got.append(np.asarray(list(ans.predictions.values()), np.float32))
            arr = np.stack(got)
            agree_pct = float(np.mean(np.argmax(arr, 1) == np.argmax(ref, 1)) * 100)
            dlogit = float(np.nanmax(np.abs(arr - ref)))
        peak, rss = c.peak_memory_bytes(), c.rss_bytes()
    finally:
        if kept is not None:
            kept.remove()

    totals = [x.total_ms for x in samples]
    inits = [x.init_ms for x in samples]
    lo, hi = stats.median_ci(totals)
    ilo, ihi = stats.median_ci(inits)
    init_billed = stats.median([x.first_request_ms - x.handler_ms for x in samples])
    cold_dur = stats.median([x.handler_ms for x in samples])
    costs = {}
    for arch in cost.ARCHITECTURES:
        costs[f"cost_per_1m_{arch}_usd"] = (
            cost.cost_per_1m(mem, handler, cfg.cold_fraction, init_billed or 0.0, cold_dur, arch)
            if handler
            else None
        )
    acc, note = accuracy.lookup(
        s.acc, model, first_meta.get("runtime", ""), first_meta.get("library"), variant,
        first_meta.get("model_sha256"),
    )
    notes = [
        n
        for n in (
            note,
            f"cpus capped at {cpus:g} (host has {cfg.host_cpus})" if capped else None,
            f"rejected {len(rejected)} warm sample(s): {rejected[0]}" if rejected else None,
            None if art else f"no local artefact {artefact_name} for agreement",
        )
        if n
    ]
    return dict(
        target="container",
        status="ok",
        note="; ".join(notes) or None,
        image=tag,
        image_kind=kind,
        image_id=sz.image_id,
        model=model,
        variant=variant,
        artefact=artefact_name,
        runtime=first_meta.get("runtime"),
        library=first_meta.get("library"),
        runtime_version=first_meta.get("runtime_version"),
        model_sha256=first_meta.get("model_sha256"),
        memory_mb=mem,
        cpus=cpus,
        cpus_capped=capped,
        threads=first_meta.get("threads"),
        image_uncompressed_bytes=sz.uncompressed,
        image_compressed_bytes=sz.compressed,
        image_base_bytes=sz.base,
        image_runtime_layer_bytes=sz.runtime_layer,
        image_model_bytes=sz.model,
        image_handler_bytes=sz.handler,
        cold_n=len(samples),
        cold_rejected_n=len(rejected),
        cold_total_median_ms=stats.median(totals),
        cold_total_ci_low_ms=lo,
        cold_total_ci_high_ms=hi,
        cold_total_min_ms=min(totals, default=None),
        cold_total_max_ms=max(totals, default=None),
        cold_container_start_median_ms=stats.median([x.start_ms for x in samples]),
        cold_first_request_median_ms=stats.median([x.first_request_ms for x in samples]),
        cold_init_median_ms=stats.median(inits),
        cold_init_ci_low_ms=ilo,
        cold_init_ci_high_ms=ihi,
        cold_first_inference_median_ms=stats.median([x.first_inference_ms for x in samples]),
        cold_total_samples_ms=";".join(f"{t:.1f}" for t in totals),
        warm_n=len(client),
        warm_client_p50_ms=stats.percentile(client, 50),
        warm_client_p90_ms=stats.percentile(client, 90),
        warm_client_p99_ms=stats.percentile(client, 99),
        warm_client_mean_ms=float(np.mean(client)) if client else None,
        warm_handler_p50_ms=stats.percentile(handler, 50),
        warm_handler_p90_ms=stats.percentile(handler, 90),
        warm_handler_p99_ms=stats.percentile(handler, 99),
        warm_handler_mean_ms=float(np.mean(handler)) if handler else None,
        warm_inference_p50_ms=stats.percentile(infer, 50),
        warm_billed_mean_ms=float(np.mean([cost.billed_ms(h) for h in handler])) if handler else None,
        peak_memory_bytes=peak,
        rss_bytes=rss,
        container_agreement_pct=agree_pct,
        container_max_abs_dlogit=dlogit,
        agreement_n=len(images) if art else None,
        init_billed_ms=init_billed,
        errors=errors["n"],
        **costs,
        **acc,
    )


def test_container(
    benchmark: Any, bench_session: Session, container_cell: tuple[str, str, str, str, int]
) -> None:
    s = bench_session
    tag, _, _, _, mem = container_cell
    s.progress(f"cell {tag} @ {mem} MB")
    try:
        row = s.add(**_measure_container(benchmark, s, container_cell))
    except Exception as e:
        s.add(
            target="container",
            status="failed",
            note=f"{type(e).__name__}: {str(e)[:300]}",
            image=tag,
            image_kind=container_cell[1],
            model=container_cell[2],
            variant=container_cell[3],
            memory_mb=mem,
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
        f"  -> cold median {_fmt(row['cold_total_median_ms'])} ms, warm p50/p99 "
        f"{_fmt(row['warm_client_p50_ms'])}/{_fmt(row['warm_client_p99_ms'])} ms, threads {row['threads']}, "
        f"peak {(row['peak_memory_bytes'] or 0) / 2**20:.0f} MiB, "
        f"agreement {_fmt(row['container_agreement_pct'])}%,"
        f" ${row['cost_per_1m_x86_64_usd'] or float('nan'):.2f}/1M"
    )
    assert not accuracy.stale(row["note"]), row["note"]
    assert row["cold_n"] > 0, f"every cold sample was rejected: {row['note']}"
    assert row["errors"] == 0, f"{row['errors']} failed warm/agreement invocations"
    expected_threads = max(1, int(np.ceil(row["cpus"])))
    assert row["threads"] == expected_threads, (
        f"handler used {row['threads']} threads with --cpus {row['cpus']} (expected {expected_threads})"
    )


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
    rows = [r for r in s.rows if r["target"] == "container" and r.get("status") == "ok"]
    if not rows:
        return None
    w = winner.pick(schema.to_frame(rows), s.cfg.p99_budget_ms)
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
    with ct.Container(tag, mem, cpus, s.run_id, s.cfg.http_timeout_s) as c:
        c.start()
        c.wait_ready(s.cfg.start_timeout_s)
        res = benchmark.pedantic(
            soak.run, args=(c, images, s.cfg.soak_n), kwargs={"progress": s.progress}, rounds=1, iterations=1
        )
    parsed = ct.parse_tag(tag) or ("", "", "")
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
    )
    benchmark.extra_info.update(res.row())
    s.progress(
        f"  soak: {res.unexpected_errors} unexpected errors, {res.typed_errors_ok}/{res.bad_n} typed, "
        f"rss growth {_fmt(res.mem_growth_pct)}%, peak growth {_fmt(res.peak_growth_pct)}%, "
        f"{res.wall_s:.0f} s"
    )
    assert not problems, "; ".join(problems)
