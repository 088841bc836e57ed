"""Does loss scaling keep every weight finite under MirroredStrategy + mixed_float16? N runs in a row.

The test ``tests/test_pix2pix.py::test_mirrored_strategy_with_mixed_precision_on_two_logical_cpus``
runs once; this runs the same script (one epoch of the tiny pix2pix, λ = 100, two
logical CPUs, each run in a fresh process) ``--runs`` times and counts the runs
that end with every weight finite, the translation finite and the step count
consistent with the loss-scale halvings.

Before ``step_parts.ReplicaSafeLossScaleOptimizer``, about 1 run in 3 failed: Keras'
``LossScaleOptimizer`` decided from the first replica's gradients alone, so a step
whose gradients overflowed only on the second replica was applied as an inf sum.

    python benchmarks/mirrored_mixed_precision.py            # 10 runs, ~30 s each on 2 CPU cores
    python benchmarks/mirrored_mixed_precision.py --runs 3

Exits with status 1 if any run fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_pix2pix import mirrored_problems, run_mirrored_script  # noqa: E402  (the test's own script)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="how many runs in a row (default 10)")
    args = parser.parse_args(argv)
    good = 0
    for run in range(1, args.runs + 1):
        start = time.time()
        with tempfile.TemporaryDirectory(prefix="mirrored-") as folder:
            result = run_mirrored_script(Path(folder))
        problems = mirrored_problems(result)
        good += not problems
        print(f"run {run:2d}: {time.time() - start:5.1f} s  steps applied {result['iterations']}  "
              f"loss scale {result['loss_scale']:g}  " + ("finite" if not problems else "; ".join(problems)),
              flush=True)
    print(f"{good}/{args.runs} finite")
    return 0 if good == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
