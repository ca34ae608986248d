"""tract on 1 thread vs more: `facecam race` (frame in, faces out: preprocess + network +
decode + NMS) at each `--threads` count, in interleaved rounds (order rotated each round)
so background load hits every count alike. Each round's median latency is divided by
the same round's 1-thread median; the table reports the median of those ratios.

    cargo build --profile board -p facecam-edge
    python3 bench/threads.py --facecam target/board/facecam --threads 1,2 --rounds 7 --iterations 100

Prints a Markdown table and writes JSON (default out/threads.json).
"""
import argparse
import json
import os
import statistics
import subprocess
from pathlib import Path


def race(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--facecam", default="target/board/facecam")
    ap.add_argument("--model", default="models/facecam.onnx")
    ap.add_argument("--int8", default="weights", help="how an int8 model runs: qdq or weights")
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts; 1 must be one of them")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--out", default="out/threads.json")
    a = ap.parse_args()
    counts = [int(t) for t in a.threads.split(",")]
    if 1 not in counts or a.rounds < 1:
        raise SystemExit("--threads must include 1 (the baseline) and --rounds must be at least 1")
    medians = {t: [] for t in counts}
    for r in range(a.rounds):
        k = r % len(counts)
        for t in counts[k:] + counts[:k]:
            rep = race([a.facecam, "race", "--model", a.model, "--input-size", a.size, "--int8", a.int8,
                        "--threads", str(t), "--iterations", str(a.iterations), "--warmup", str(a.warmup), "--json"])
            if rep["threads"] != t:
                raise SystemExit(f"asked for {t} threads, facecam reports {rep['threads']}")
            medians[t].append(statistics.median(rep["samples_ms"]))
            print(f"round {r + 1}/{a.rounds} threads {t}: median {medians[t][-1]:.3f} ms", flush=True)
    rows = []
    for t in counts:
        ratios = [m / b for m, b in zip(medians[t], medians[1])]
        rows.append({"threads": t, "median_ms": statistics.median(medians[t]), "round_medians_ms": medians[t],
                     "ratio_to_1_thread": statistics.median(ratios), "round_ratios": ratios})
    load = os.getloadavg()
    result = {"model": a.model, "int8": a.int8, "size": a.size, "rounds": a.rounds, "iterations": a.iterations,
              "cpus": os.cpu_count(), "loadavg_after": load, "rows": rows}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{a.model} at {a.size}, {a.rounds} interleaved rounds x {a.iterations} runs, "
          f"{os.cpu_count()} CPUs, load average after {load[0]:.1f}\n")
    print("| threads | median ms | x 1 thread (median of round ratios) | round ratios |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['threads']} | {r['median_ms']:.2f} | {r['ratio_to_1_thread']:.2f} | "
              f"{', '.join(f'{x:.2f}' for x in r['round_ratios'])} |")


if __name__ == "__main__":
    main()
