"""``python -m bench.report``: results/latest.csv -> report.md, plots/*.png and winner.json in results/."""

from bench.report.document import main

if __name__ == "__main__":
    raise SystemExit(main())
