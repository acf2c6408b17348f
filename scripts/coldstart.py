"""The cold-start study's command line: build its images, measure them, probe inside them.

``python scripts/coldstart.py build`` makes the images, ``python scripts/coldstart.py run`` measures them
into results/coldstart.csv, and ``python -m bench.report.coldstart`` turns that CSV into docs/coldstart.md's
tables and results/plots/coldstart.png. The study itself is bench/measure/coldstart/ (a scenario of cold
starts on the benchmark's container target); this file only parses arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure.coldstart import probes, study  # noqa: E402
from bench.measure.coldstart import records as rec  # noqa: E402
from bench.measure.targets import container as ct  # noqa: E402


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--before", default="main")
    b.add_argument("--after", default="HEAD")
    b.add_argument("--floors-only", action="store_true")
    r = sub.add_parser("run")
    r.add_argument("--rounds", type=int, default=5)
    r.add_argument("--seed", type=int, default=19)
    r.add_argument("--out", type=Path, default=rec.SAMPLES_CSV)
    r.add_argument("--memory", default=",".join(str(m) for _, m in study.CONFIGS), help="of 1024,1769")
    r.add_argument("--no-warmup", action="store_true", help="leave out the after+warmup cells")
    r.add_argument("--images", default="", help="project image tags to measure instead of the study's cells")
    sub.add_parser("coldpath")
    ow = sub.add_parser("ortwarm")
    ow.add_argument("--trials", type=int, default=3)
    ow.add_argument("--models", default=",".join(study.MODELS))
    im = sub.add_parser("imports")
    im.add_argument("--trials", type=int, default=10)
    im.add_argument("--cpus", type=float, default=0.58)
    im.add_argument("--memory", type=int, default=1024)
    ml = sub.add_parser("modelload")
    ml.add_argument("--trials", type=int, default=5)
    ml.add_argument("--cpus", type=float, default=1.0)
    ml.add_argument("--memory", type=int, default=1769)
    ml.add_argument("--seed", type=int, default=19)
    sub.add_parser("clean")
    for p in (b, r, ml):
        p.add_argument("--models", default=",".join(study.MODELS))
    return ap


def coldpath() -> None:
    """The null image's cold-path modules, before vs after, against tests/support/coldpath_allowlist.py."""
    from tests.support import coldpath_allowlist as allow

    tags = [study.tag("null", study.MODELS[0], "none", lab) for lab in ("before", "after")]
    res = probes.coldpath(tags)
    before, after = set(res[tags[0]]), set(res[tags[1]])
    diff = {"removed": sorted(before - after), "added": sorted(after - before)}
    unexplained = sorted(m for m in after if allow.reason(m) is None)
    print(
        json.dumps(
            {"before_n": len(before), "after_n": len(after), **diff, "after_unexplained": unexplained},
            indent=1,
        )
    )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    models = tuple(getattr(args, "models", ",".join(study.MODELS)).split(","))
    if args.cmd == "build":
        if args.floors_only:
            study.build_floors(models)
        else:
            study.build({"before": args.before, "after": args.after}, models)
    elif args.cmd == "run":
        mems = {int(m) for m in args.memory.split(",")}
        if unknown := mems - {
            m for _, m in study.CONFIGS
        }:  # an empty run would overwrite the CSV with nothing
            raise SystemExit(f"--memory {sorted(unknown)}: not among {[m for _, m in study.CONFIGS]}")
        configs = tuple(c for c in study.CONFIGS if c[1] in mems)
        cells = study.image_cells(args.images.split(",")) if args.images else None
        study.run(models, args.rounds, args.seed, args.out, configs, not args.no_warmup, cells)
    elif args.cmd == "modelload":
        probes.modelload(models, args.trials, args.cpus, args.memory, args.seed)
    elif args.cmd == "ortwarm":
        probes.ortwarm(models, args.trials, 1.0, 1769)
    elif args.cmd == "imports":
        probes.imports(args.trials, args.cpus, args.memory)
    elif args.cmd == "coldpath":
        coldpath()
    elif args.cmd == "clean":
        print("removed", ct.cleanup(study.SESSION), "containers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
