"""Where a benchmark cell runs: ``inprocess`` (adapters directly), ``container`` (docker + RIE), ``aws``."""
