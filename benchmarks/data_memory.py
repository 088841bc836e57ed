"""Data-layer benchmark: brain-mri build time, and peak memory of a TissueMNIST-sized set.

1. Builds ``brain-mri`` at 32, 64 and 128 px from scratch (a fresh temporary
   cache) and times each build; prints the images per split and class.
2. Writes a MedMNIST-like ``tissuemnist_224.npz`` with the real TissueMNIST shapes
   and dtype (165 466 / 23 640 / 47 280 uint8 images of 224×224, N×1 labels;
   11.9 GB of pixels) into a temporary cache where the loader expects it. The
   machine has no internet, so the images are synthetic blobs (compressible, fast to
   write); only inside this benchmark the MD5 table is patched for that one file.
3. In fresh child processes, measures peak memory of (a) the first load (MD5 check
   + streamed extraction + memory-mapped load), (b) a second load, and (c) iterating
   ``to_tf_dataset`` over the train split. The parent polls ``/proc/<pid>/status``
   every 20 ms: ``VmHWM`` (peak resident set, including file pages mapped in) and the
   peak of ``RssAnon`` (private memory the process itself allocated).

Prints a table and writes JSON to ``artifacts/benchmarks/data_memory.json``.

    .venv/bin/python benchmarks/data_memory.py            # full size (needs ~30 GB of disk)
    .venv/bin/python benchmarks/data_memory.py --scale 0.05 --batches 200   # a quick look
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from medgan_helpers import config  # noqa: E402

TISSUE_COUNTS = {"train": 165466, "val": 23640, "test": 47280}
SIZE = 224


def build_brain(sizes=(32, 64, 128)) -> list[dict]:
    """Build brain-mri from scratch at each size in a fresh cache; time it and count images."""
    from medgan_helpers import data
    from medgan_helpers.data import brain

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MEDGAN_CACHE_DIR"] = tmp
        try:
            for size in sizes:
                start = time.perf_counter()
                sets = {s: data.load_dataset("brain-mri", image_size=size, split=s) for s in data.SPLITS}
                seconds = time.perf_counter() - start
                rows.append(
                    {
                        "image_size": size,
                        "build_seconds": round(seconds, 2),
                        "counts": {s: sets[s].class_counts() for s in data.SPLITS},
                        "totals": {s: len(sets[s]) for s in data.SPLITS},
                        "cache_mb": round(brain.cache_path(Path(tmp), size, 0).stat().st_size / 1e6, 1),
                    }
                )
        finally:
            del os.environ["MEDGAN_CACHE_DIR"]
    return rows


def write_fake_tissuemnist(path: Path, scale: float, seed: int = 0) -> dict:
    """Stream a TissueMNIST-shaped npz (compressed like the real ones) without holding it in RAM."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE].astype(np.float32)
    bases = []
    for _ in range(64):  # 64 distinct cell-like blobs, varied by brightness per image
        cy, cx, ry, rx = rng.uniform(60, 164), rng.uniform(60, 164), rng.uniform(15, 50), rng.uniform(15, 50)
        bases.append((40 + 150 * np.exp(-(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2))).astype(np.uint8))
    bases = np.stack(bases)
    counts = {s: max(64, int(n * scale)) for s, n in TISSUE_COUNTS.items()}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as zf:
        for split, n in counts.items():
            with zf.open(f"{split}_images.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array_header_1_0(
                    fh, {"descr": "|u1", "fortran_order": False, "shape": (n, SIZE, SIZE)}
                )
                for start in range(0, n, 2048):
                    idx = np.arange(start, min(n, start + 2048))
                    chunk = bases[idx % 64] + (idx % 7).astype(np.uint8)[:, None, None]
                    fh.write(chunk.tobytes())
            labels = rng.integers(0, 8, (n, 1), dtype=np.uint8)
            with zf.open(f"{split}_labels.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, labels)
    return counts


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


CHILD = r"""
import json, sys, time
from medgan_helpers import data
from medgan_helpers.data import medmnist
medmnist.MD5["tissuemnist"][224] = sys.argv[1]   # the synthetic file, this process only
mode, batches = sys.argv[2], int(sys.argv[3])
t = time.perf_counter()
ds = data.load_dataset("tissuemnist", image_size=224, split="train", download=False)
out = {"load_seconds": time.perf_counter() - t, "n": len(ds), "memmap": type(ds.pixels).__name__,
       "classes": len(ds.class_names)}
if mode == "iterate":
    import tensorflow as tf
    t = time.perf_counter()
    seen = 0
    for images, labels in data.to_tf_dataset(ds, batch_size=64, seed=0).take(batches or -1):
        seen += int(images.shape[0])
    out.update(iterate_seconds=time.perf_counter() - t, images_seen=seen, batch_dtype=images.dtype.name,
               batch_min=float(tf.reduce_min(images)), batch_max=float(tf.reduce_max(images)))
status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
out["VmHWM_kb"] = int(status["VmHWM"].split()[0])
print("RESULT" + json.dumps(out))
"""


def run_child(md5: str, mode: str, batches: int, cache: Path) -> dict:
    """Run CHILD in a fresh interpreter, polling its memory every 20 ms."""
    env = dict(os.environ, MEDGAN_CACHE_DIR=str(cache), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, md5, mode, str(batches)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(REPO),
    )  # fmt: skip
    peak = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
    while proc.poll() is None:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                key = line.split(":")[0]
                if key in peak:
                    peak[key] = max(peak[key], int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(0.02)
    stdout, stderr = proc.communicate()
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"child {mode} failed:\n{stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT") :])
    result.update({f"peak_{k}_mb": round(v / 1024, 1) for k, v in peak.items()})
    result["VmHWM_mb"] = round(result.pop("VmHWM_kb") / 1024, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of TissueMNIST's size (1.0 = real)")
    parser.add_argument("--batches", type=int, default=1000, help="batches of 64 to iterate (0 = one full epoch)")
    parser.add_argument("--skip-brain", action="store_true", help="skip the brain-mri build timing")
    parser.add_argument("--skip-tissue", action="store_true", help="skip the TissueMNIST-224 memory test")
    args = parser.parse_args()

    out = config.artifacts_dir() / "benchmarks" / "data_memory.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    # sections not run now are kept from the previous run (each has its own timestamp)
    results: dict = json.loads(out.read_text()) if out.is_file() else {}
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_average_at_start": os.getloadavg()[0]}  # fmt: skip
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if not args.skip_brain:
        results["brain_mri"] = build_brain()
        results["brain_mri_measured_at"] = stamp
        print("\nbrain-mri build (fresh cache, 2400 train / 400 val / 600 test)")
        print(f"{'size':>6} {'seconds':>8} {'cache MB':>9}  per class (train/val/test)")
        for row in results["brain_mri"]:
            per = " | ".join(
                f"{name}: {row['counts']['train'][name]}/{row['counts']['val'][name]}/{row['counts']['test'][name]}"
                for name in row["counts"]["train"]
            )
            print(f"{row['image_size']:>6} {row['build_seconds']:>8.2f} {row['cache_mb']:>9}  {per}")

    if args.skip_tissue:
        out.write_text(json.dumps(results, indent=2))
        print(f"\nwrote {out}")
        return
    with tempfile.TemporaryDirectory(dir=config.cache_dir()) as tmp:
        cache = Path(tmp)
        npz = cache / "medmnist" / "tissuemnist_224.npz"
        npz.parent.mkdir(parents=True)
        start = time.perf_counter()
        counts = write_fake_tissuemnist(npz, args.scale)
        write_s = time.perf_counter() - start
        md5 = md5_of(npz)
        pixels_gb = sum(counts.values()) * SIZE * SIZE / 1e9
        print(f"\nsynthetic tissuemnist_224.npz: {counts} = {pixels_gb:.2f} GB of pixels, "
              f"{npz.stat().st_size / 1e9:.2f} GB compressed, written in {write_s:.0f} s")  # fmt: skip
        rows = {
            "first load (MD5 + extract + mmap)": run_child(md5, "load", 0, cache),
            "second load (cached arrays)": run_child(md5, "load", 0, cache),
            f"to_tf_dataset, {args.batches or 'all'} batches of 64": run_child(md5, "iterate", args.batches, cache),
        }
        shutil.rmtree(cache / "medmnist", ignore_errors=True)
    results["tissuemnist_224"] = {
        "counts": counts, "pixels_gb": round(pixels_gb, 2), "scale": args.scale, "runs": rows,
        "measured_at": stamp,
    }  # fmt: skip
    print(f"\n{'step':<42} {'seconds':>8} {'peak RSS MB':>12} {'peak anon MB':>13} {'peak file MB':>13}")
    for name, r in rows.items():
        seconds = r["load_seconds"] + r.get("iterate_seconds", 0.0)
        print(f"{name:<42} {seconds:>8.1f} {r['VmHWM_mb']:>12.0f} {r['peak_RssAnon_mb']:>13.0f} "
              f"{r['peak_RssFile_mb']:>13.0f}")  # fmt: skip
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
