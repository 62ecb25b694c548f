"""Benchmark: wall time and peak RSS of synthesizing the CDKTF app (both stacks).

Most of the time is the import of the prebuilt AWS provider (jsii loads its assembly into
node). Run: ``make bench-infra`` or ``python -m benchmarks.infra [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def _synth_once(outdir: str) -> tuple[float, float]:
    """One synth in a fresh process: (seconds, peak RSS MiB of python + node children)."""
    env = {
        **os.environ,
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20,22",
    }
    code = (
        "import resource, sys\n"
        "from sensorlake.infra.main import main\n"
        "main(['--outdir', sys.argv[1]])\n"
        "kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(me + kids)\n"
    )
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, outdir], env=env, capture_output=True, text=True, check=True
    )
    elapsed = time.perf_counter() - start
    kib = int(proc.stdout.strip().splitlines()[-1])
    return elapsed, kib / 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.infra")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            results.append(_synth_once(os.path.join(tmp, f"run{i}")))
    for i, (secs, mib) in enumerate(results):
        print(f"infra synth run {i + 1}: wall {secs:.1f} s, peak RSS {mib:.0f} MiB (python + node)")
    best = min(r[0] for r in results)
    peak = max(r[1] for r in results)
    print(f"infra synth: best wall {best:.1f} s, peak RSS {peak:.0f} MiB over {args.runs} run(s)")


if __name__ == "__main__":
    main()
