"""``python -m bench.measure.fullsplit``: the images the verdict is about, under the Lambda emulator,
answering the
whole test split, compared with the Keras reference -> results/fullsplit.csv.

Why: the benchmark's container agreement (BENCH_AGREE_N images) shows container == in-process on the same
artefact, and models/eval.py shows each artefact == the Keras model in process; neither shows that the
image a user would deploy answers like the Keras model over the whole split. Here the winner, its tie set
and the cheapest cell of every other image kind (results/winner.json + results/latest.csv) are each
started once under their emulator, sent every test-split image as an ``image_b64`` direct invoke, and
compared with the reference (the SavedModel of build/models/<model>/ in process, computed once per model
and cached in build/fullsplit/): top-1 agreement, max |d logit|, max |d probability| and the container's
own test top-1. The gate is models/eval.py's gate for the variant (``GATES``), so a container passes on the
terms its artefact passed in process; the sha256 is the one every answer reports (``meta.model_sha256``).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.measure import schema, settings
from bench.measure.cells import Cell
from bench.measure.settings import Settings
from bench.measure.targets import container
from bench.report.tables import md_table
from core import paths
from core.card import read_card
from core.contracts import Winner
from core.fileio import atomic_path, digest
from core.manifest import MANIFEST, Manifest
from core.paths import ROOT
from models import dataset
from models import eval as ev

CACHE_DIR = ROOT / "build" / "fullsplit"
COLUMNS = (
    "image",
    "role",
    "model",
    "variant",
    "memory_mb",
    "n",
    "errors",
    "top1_agreement_pct",
    "max_abs_dlogit",
    "max_abs_dprob",
    "top1_accuracy_pct",
    "ref_top1_accuracy_pct",
    "accuracy_drop_pts",
    "gate",
    "gate_passed",
    "model_sha256",
    "bench_model_sha256",
    "reference_sha256",
    "wall_s",
    "run_id",
    "timestamp",
    "note",
)
Log = Callable[[str], None]


@dataclass(frozen=True)
class Candidate:
    """One image to check, at the memory size of the benchmark cell it stands for, and why it is checked."""

    cell: Cell
    role: str  # winner | tie | best <image kind> | asked
    bench_model_sha256: str = ""

    @property
    def image(self) -> str:
        return self.cell.tag

    @property
    def memory_mb(self) -> int:
        return self.cell.memory_mb


@dataclass
class Reference:
    """The Keras reference's answers on the test split, in dataset.split("test") order."""

    model: str
    classes: list[str]
    paths: list[Path]
    y: np.ndarray
    logits: np.ndarray
    probs: bool
    sha256: str  # the SavedModel's digest (manifest.json)


def _cell(r: schema.Row) -> Cell:
    """The cell a record measured, whatever its repeat and thread setting: what a candidate stands for."""
    return dataclasses.replace(r.cell, repeat=0, threads=None)


def candidates(winner: dict[str, Any] | None, rows: Sequence[schema.Row]) -> list[Candidate]:
    """The winner and its tie set (winner.json), then for every other image kind of the winner's model the
    cheapest container cell of latest.csv that answered without errors."""
    c = [
        r for r in rows
        if r.target == "container" and r.status == "ok" and r.image_kind != "null"
        and r.cost.cost_per_1m_x86_64_usd is not None and not r.errors
    ]  # fmt: skip
    sha = {_cell(r): str(r.model_sha256 or "") for r in c}
    cells: list[Candidate] = []
    if winner:
        tied = winner.get("tie_set") or [{"image": winner["image"], "memory_mb": winner["memory_mb"]}]
        for t in tied:
            role = "winner" if t["image"] == winner["image"] else "tie"
            cell = Cell.of_tag(t["image"], int(t["memory_mb"]))
            cells.append(Candidate(cell, role, sha.get(cell, "")))
        c = [r for r in c if r.model == winner["model"]]
    seen = {x.cell.kind for x in cells}
    for r in sorted(c, key=lambda r: (r.cost.cost_per_1m_x86_64_usd or 0.0, str(r.image))):
        if r.image_kind not in seen:
            seen.add(str(r.image_kind))
            cells.append(Candidate(_cell(r), f"best {r.image_kind}", sha[_cell(r)]))
    unique: dict[str, Candidate] = {}
    for x in cells:  # one run per image (a tie set may hold one image at two memory sizes): first role
        unique.setdefault(x.image, x)
    return list(unique.values())


def _cache_key(d: Path, sm_sha: str, samples: list[dataset.Sample]) -> str:
    """What the reference's answers depend on: the SavedModel, the card, the preprocessing code and the
    test files (relative path and size)."""
    h = hashlib.sha256(sm_sha.encode())
    for f in (d / "card.json", ROOT / "runtimes" / "preprocess.py"):
        h.update(digest(f).encode())
    root = dataset.root()
    for s in samples:
        h.update(f"{s.path.relative_to(root).as_posix()}\0{s.path.stat().st_size}\n".encode())
    return h.hexdigest()[:16]


def reference(model: str, cache_dir: Path = CACHE_DIR, log: Log = print) -> Reference:
    """The SavedModel's logits on the whole test split, computed once per _cache_key and kept in
    build/fullsplit/ (372 images: 5 s with TensorFlow's import)."""
    d = paths.model_dir(model)
    manifest = Manifest.load(d)
    card = read_card(d / "card.json")
    samples = dataset.split("test")
    savedmodel = manifest.entry("savedmodel")
    if savedmodel is None:
        raise FileNotFoundError(f"{d / MANIFEST}: no savedmodel artefact, the reference cannot run")
    sm_sha = savedmodel.sha256
    cache = cache_dir / f"{model}-{_cache_key(d, sm_sha, samples)}.npz"
    y = np.array([s.label for s in samples], np.int64)
    if cache.is_file():
        logits = np.load(cache)["logits"]
        log(f"{model}: Keras reference from {cache}")
    else:
        ref = ev.reference(d, manifest.raw, card, None, 1, log)
        if not np.array_equal(ref.y, y):
            raise RuntimeError("models.eval's test split differs from dataset.split('test')")
        logits = ref.logits
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, logits=logits, y=y)
    probs = card.output == "probabilities"
    return Reference(model, list(card.classes), [s.path for s in samples], y, logits, probs, sm_sha)


def subset(n_total: int, limit: int | None) -> np.ndarray:
    """Indices of ``limit`` images spread evenly over the split (every class), or all of them."""
    if not limit or limit >= n_total:
        return np.arange(n_total)
    return np.unique(np.linspace(0, n_total - 1, limit).round().astype(int))


def answers(em: Any, paths: list[Path], classes: list[str]) -> tuple[np.ndarray, set[str], list[str]]:
    """Every image as one direct invoke: (logits in card order, NaN where it failed; served sha256s;
    errors)."""
    out = np.full((len(paths), len(classes)), np.nan, np.float32)
    shas: set[str] = set()
    errors: list[str] = []
    for i, p in enumerate(paths):
        ans = em.invoke(container.event_for(p.read_bytes()))
        pred = ans.predictions
        if not ans.ok or pred is None or list(pred) != classes:
            errors.append(f"{p.name}: {ans.error_type or 'classes differ from the card'}")
            continue
        out[i] = [pred[c] for c in classes]
        shas.add(str(ans.meta.get("model_sha256")))
    return out, shas, errors


def judge(logits: np.ndarray, y: np.ndarray, ref: np.ndarray, variant: str, probs: bool) -> dict[str, Any]:
    """models/eval.py's metrics and gate for ``variant`` on the answered rows; unanswered rows fail it."""
    ok = np.isfinite(logits).all(axis=1)
    gate_text, gate = ev.GATES.get(variant, ("no gate defined", lambda m: False))
    row: dict[str, Any] = {"n": int(ok.sum()), "errors": int((~ok).sum()), "gate": gate_text}
    if not ok.any():
        return row | {"gate_passed": False}
    ref_acc = 100.0 * float(np.mean(ref[ok].argmax(1) == y[ok]))
    m = ev.metrics(logits[ok], y[ok], ref[ok], ref_acc, probs)
    row |= {k: v for k, v in m.items() if k != "agreement_pct"}
    row["top1_agreement_pct"] = m["agreement_pct"]
    row["max_abs_dlogit"] = float(f"{float(np.max(np.abs(logits[ok] - ref[ok]))):.3g}")
    row["gate_passed"] = bool(row["errors"] == 0 and gate(m))
    return row


def measure(cand: Candidate, ref: Reference, idx: np.ndarray, cfg: Settings, session: str) -> dict[str, Any]:
    """Start the candidate's image once (its cell's memory and CPU share), send ``idx``'s images, judge
    them."""
    cell = cand.cell
    target = container.ContainerTarget(session, cfg.http_timeout_s, cfg.start_timeout_s)
    t0 = time.perf_counter()
    with target.start(cell.launch(cfg)) as em:
        logits, shas, errors = answers(em, [ref.paths[i] for i in idx], ref.classes)
    row = judge(logits, ref.y[idx], ref.logits[idx], cell.variant, ref.probs)
    notes = errors[:3] + (["answers reported several sha256s"] if len(shas) > 1 else [])
    return row | {
        "image": cell.tag,
        "role": cand.role,
        "model": cell.model,
        "variant": cell.variant,
        "memory_mb": cell.memory_mb,
        "model_sha256": ",".join(sorted(shas)),
        "bench_model_sha256": cand.bench_model_sha256,
        "reference_sha256": ref.sha256,
        "wall_s": round(time.perf_counter() - t0, 1),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "note": "; ".join(notes),
    }


def run(
    cells: list[Candidate],
    limit: int | None = None,
    run_id: str = "",
    cfg: Settings | None = None,
    log: Log = print,
) -> list[dict[str, Any]]:
    """Measure every candidate (one reference per model); one that cannot start is a failed row."""
    cfg = cfg or settings.current()
    session = f"fullsplit-{os.getpid()}"
    refs: dict[str, Reference] = {}
    rows: list[dict[str, Any]] = []
    try:
        rows = [_one(cell, refs, limit, cfg, session, log) | {"run_id": run_id} for cell in cells]
    finally:
        container.cleanup(session)
    return rows


def _one(
    cell: Candidate, refs: dict[str, Reference], limit: int | None, cfg: Settings, session: str, log: Log
) -> dict[str, Any]:
    model = cell.cell.model
    try:
        if model not in refs:
            refs[model] = reference(model, log=log)
        ref = refs[model]
        row = measure(cell, ref, subset(len(ref.y), limit), cfg, session)
    except Exception as e:  # noqa: BLE001 - an image that cannot run is a failed row, not a crash
        note = f"{type(e).__name__}: {str(e).strip()[:300]}"
        row = {"image": cell.image, "role": cell.role, "model": model, "memory_mb": cell.memory_mb}
        row |= {"n": 0, "gate_passed": False, "note": note}
    log(_line(row))
    return row


def _line(r: dict[str, Any]) -> str:
    if not r.get("n"):
        return f"  {r['image']} ({r['role']}): FAIL, nothing measured: {r.get('note')}"
    return (
        f"  {r['image']} @ {r['memory_mb']} MB ({r['role']}): {r['n']} images, agreement "
        f"{r['top1_agreement_pct']:.2f} %, max|dlogit| {r['max_abs_dlogit']:.3g}, "
        f"max|dp| {r['max_abs_dprob']:.3g}, "
        f"top-1 {r['top1_accuracy_pct']:.2f} %: {'PASS' if r['gate_passed'] else 'FAIL'} [{r['gate']}] "
        f"({r['wall_s']} s)"
    )


def write(rows: list[dict[str, Any]], path: Path) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore", restval="")
        w.writeheader()
        w.writerows(rows)
    return path


SECTION_COLUMNS = {
    "image": "image",
    "role": "role",
    "memory_mb": "MB",
    "n": "images",
    "top1_agreement_pct": "agreement %",
    "max_abs_dlogit": "max abs dlogit",
    "max_abs_dprob": "max abs dp",
    "top1_accuracy_pct": "test top-1 %",
    "gate_passed": "gate passed",
}


def section(path: Path, run_id: str | None = None) -> list[str]:
    """report.md's section for results/fullsplit.csv ([] when it does not exist)."""
    if not path.is_file():
        return []
    t = pd.read_csv(path, dtype={"model_sha256": str, "bench_model_sha256": str, "run_id": str})
    runs = sorted(set(t["run_id"].dropna().astype(str)))
    stale = ""
    if run_id and runs != [run_id]:
        stale = f" **Measured for run {', '.join(runs)}, not this report's run {run_id}.**"
    t["gate_passed"] = t["gate_passed"].astype(str).str.lower() == "true"
    shas = t["model_sha256"].fillna("").astype(str)
    moved = t[(t["bench_model_sha256"].fillna("") != "") & (shas != t["bench_model_sha256"].fillna(""))]
    for col in ("max_abs_dlogit", "max_abs_dprob"):  # 3e-06 beside 2.68: significant digits, not decimals
        t[col] = [f"{v:.3g}" if pd.notna(v) else None for v in pd.to_numeric(t[col], errors="coerce")]
    table = t[list(SECTION_COLUMNS)].rename(columns=SECTION_COLUMNS)
    lines = [
        "## Full-split agreement: containers vs the Keras reference\n",
        "The winner, its tie set and the cheapest cell of every other image kind, each started once "
        "under the Lambda emulator and sent every test-split image (`image_b64` direct invokes), compared "
        "with the Keras reference (the SavedModel in process) by `python -m bench.measure.fullsplit` -> "
        "results/fullsplit.csv. Gate: models/eval.py's gate for the variant." + stale + "\n",
        md_table(table, {"agreement %": 2, "test top-1 %": 2}),
    ]
    if not moved.empty:
        lines.append(
            "Served bytes differ from the benchmark row's (rebuilt since the run): "
            + ", ".join(moved["image"])
            + ".\n"
        )
    return lines


def _inputs(results: Path) -> tuple[dict[str, Any] | None, list[schema.Row]]:
    wpath, csv_path = results / "winner.json", results / "latest.csv"
    if not csv_path.is_file():
        raise FileNotFoundError(f"no {csv_path}: run `make bench-run` first")
    rows = schema.parse(csv_path)
    winner = Winner.load(wpath).raw if wpath.is_file() else None
    if winner and winner.get("run_id") not in {r.run_id for r in rows}:
        raise FileNotFoundError(
            f"{wpath} is from run {winner.get('run_id')}, not {csv_path}'s: run make report"
        )
    return winner, rows


def main(argv: list[str] | None = None) -> int:
    cfg = settings.current()
    ap = argparse.ArgumentParser(description="Winner + rivals under the emulator vs the Keras reference")
    ap.add_argument("--results", type=Path, default=cfg.results_dir, help="winner.json + latest.csv dir")
    ap.add_argument("--out", type=Path, default=None, help="default: <results>/fullsplit.csv")
    ap.add_argument("--limit", type=int, default=None, help="evenly spread subset of the test split")
    ap.add_argument(
        "--image",
        action="append",
        default=[],
        help="TAG[@MB] (default 1024 MB): check these images instead of the winner set",
    )
    args = ap.parse_args(argv)
    try:
        asked = [
            Candidate(Cell.of_tag(t.partition("@")[0], int(t.partition("@")[2] or 1024)), "asked")
            for t in args.image
        ]
    except ValueError as e:
        print(f"error: --image: {e}", file=sys.stderr)
        return 2
    try:
        winner, found = _inputs(args.results)
    except FileNotFoundError as e:
        if not asked:
            print(f"error: {e}", file=sys.stderr)
            return 2
        winner, found = None, []
    cells = asked or candidates(winner, found)
    run_id = str(found[0].run_id) if found else ""
    print(f"full-split agreement for {len(cells)} image(s): " + ", ".join(c.image for c in cells), flush=True)
    rows = run(cells, args.limit, run_id, cfg, log=lambda s: print(s, flush=True))
    out = write(rows, args.out or args.results / "fullsplit.csv")
    print(f"-> {out}")
    return 0 if rows and all(r["gate_passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
