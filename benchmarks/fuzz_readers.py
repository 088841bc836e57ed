"""The fuzz pass, longer: many random inputs for every reader of ``folder:`` and for the privacy scan.

The same inputs and checks as ``tests/test_fuzz_readers.py`` (mutations of small
valid PNG/JPEG/TIFF/BMP, DICOM, NIfTI files and zip/gzip/tar/bz2 archives, and
random bytes), but at random, many more of them, and every failure counted
instead of stopping at the first. Prints one row per reader: examples, outcomes
(loaded or skipped; for the scan: found, clean, not searched), failures (a
crash, a missing skip reason, a path in a reason, a time or memory bound
exceeded), the slowest example and the largest peak memory growth. Each failing
input is kept under ``<artifacts>/benchmarks/fuzz_failures/`` to reproduce it.

    python benchmarks/fuzz_readers.py                  # 300 examples per reader (~2 min on 2 CPU cores)
    python benchmarks/fuzz_readers.py --examples 2000 --seed 7
    python benchmarks/fuzz_readers.py --only PNG "DICOM .dcm"

Exits with status 1 if any example failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import test_fuzz_readers as fuzz  # noqa: E402  (the tests' inputs and checks)

from medgan_helpers import config  # noqa: E402


@dataclass
class Row:
    """What one reader did with its examples."""

    name: str
    outcomes: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    max_seconds: float = 0.0
    max_peak: int = 0

    @property
    def examples(self) -> int:
        return sum(self.outcomes.values()) + len(self.failures)


def run_case(case: fuzz.Case, check, examples: int, parent: Path, keep: Path, rng_seed: int) -> Row:
    """``examples`` random inputs for ``case``, each checked by ``check``; failures are counted."""
    row = Row(case.name)

    # generate only: no shrinking and no replay, every failure is counted and kept as it came
    @seed(rng_seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(blob=case.strategy())
    def one(blob: bytes) -> None:
        try:
            outcome = check(parent, case, blob)
        except Exception as exc:  # a crash or a failed property: count it, keep the input
            keep.mkdir(parents=True, exist_ok=True)
            path = keep / f"{case.filename.replace('.', '_')}-{len(row.failures):03d}.bin"
            path.write_bytes(blob)
            where = traceback.extract_tb(exc.__traceback__)[-1]
            row.failures.append(f"{type(exc).__name__}: {str(exc)[:160]} "
                                f"[{Path(where.filename).name}:{where.lineno}] -> {path.name}")
            return
        row.outcomes[outcome.result] += 1
        row.reasons.update(r.split(" (")[0] for r in outcome.reasons)
        row.max_seconds = max(row.max_seconds, outcome.seconds)
        row.max_peak = max(row.max_peak, outcome.peak_bytes)

    one()
    return row


def table(rows: list[Row]) -> str:
    head = f"{'input':36s} {'examples':>8s}  {'outcomes':34s} {'failures':>8s} {'max s':>6s} {'max MB':>7s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        outcomes = ", ".join(f"{k} {n}" for k, n in sorted(r.outcomes.items()))
        lines.append(f"{r.name:36s} {r.examples:8d}  {outcomes:34s} {len(r.failures):8d} "
                     f"{r.max_seconds:6.2f} {r.max_peak / 1e6:7.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=300, help="random inputs per reader (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    parser.add_argument("--only", nargs="*", default=None, help="only these inputs (names as in the table)")
    args = parser.parse_args(argv)
    cases = [(c, fuzz.load_fuzzed) for c in fuzz.READER_CASES] + [(c, fuzz.scan_fuzzed) for c in fuzz.SCAN_CASES]
    if args.only:
        cases = [(c, f) for c, f in cases if c.name in args.only]
    keep = config.artifacts_dir() / "benchmarks" / "fuzz_failures"
    rows = []
    with tempfile.TemporaryDirectory(prefix="fuzz-readers-") as work:
        os.environ.setdefault("MEDGAN_CACHE_DIR", str(Path(work) / "cache"))  # the privacy key of this run
        for index, (case, check) in enumerate(cases):
            rows.append(run_case(case, check, args.examples, Path(work), keep, args.seed + index))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(table(rows))
    print(f"\ntime bound {fuzz.TIME_BOUND_S:g} s, memory bound {fuzz.MEMORY_BOUND / 1e6:.0f} MB per file; "
          f"seed {args.seed}")
    for r in rows:
        if r.reasons:
            print(f"{r.name}: " + "; ".join(f"{n} × {k}" for k, n in r.reasons.most_common(4)))
    failures = [f"{r.name}: {f}" for r in rows for f in r.failures]
    for line in failures[:40]:
        print("FAILED", line)
    print(f"{len(failures)} failures in {sum(r.examples for r in rows)} examples")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
