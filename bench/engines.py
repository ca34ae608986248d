"""Every face detector's network in both engines: tract (its own ops, and with facecam's
kernels swapped in) and onnxruntime, network only, one thread, interleaved rounds.

For each network (facecam's file and the published ones) three child processes time the
same input size:
  tract             `facecam race --network-only --kernels tract`  (tract 0.23.9 as it is)
  tract + facecam   `facecam race --network-only --kernels facecam` (our depthwise and softmax)
  onnxruntime       session.run alone (intra/inter-op threads 1, sequential)
and more rows time facecam as the camera runs it, frame in -> faces out (`facecam
race`: preprocess + network + decode + NMS) with facecam's kernels, with tract's own ops,
and (`--baseline BIN`) with another build: the floor of issue 27 is the first against
tract's own time for the same network, same round. A regression of either kind (the
allocator or a kernel) shows as that ratio rising.

Rounds rotate the order so background load hits every contender alike; each ratio is
taken within a round (against RFB-320 in onnxruntime, and for the floor against plain
tract on facecam's file), then the median over rounds is reported.

    ~/.cache/facecam/venv/bin/python bench/engines.py --facecam target/board/facecam \\
        --rfb RFB.onnx --slim SLIM.onnx --yunet yunet_n_320_320.onnx --rounds 5 --iterations 100

Prints Markdown tables (timings, then tract's per-operator profile of facecam's file with
either kernel set) and writes JSON (default out/engines.json).
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def ort_child(a):
    """Time onnxruntime's session.run alone on one model; print one JSON line."""
    import numpy as np
    import onnxruntime as ort

    w, h = map(int, a.size.split("x"))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    sess = ort.InferenceSession(a.child_ort, so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
    feed = {sess.get_inputs()[0].name: x}
    for _ in range(a.warmup):
        sess.run(None, feed)
    samples = []
    for _ in range(a.iterations):
        t = time.perf_counter()
        sess.run(None, feed)
        samples.append((time.perf_counter() - t) * 1e3)
    print(json.dumps({"engine": f"onnxruntime {ort.__version__}", "samples_ms": samples}))


def run_json(cmd):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--facecam", default="target/board/facecam")
    ap.add_argument("--model", default="models/facecam.onnx", help="facecam's file")
    ap.add_argument("--rfb", help="ULFGFD version-RFB-320 ONNX (the reference; required)")
    ap.add_argument("--slim", help="ULFGFD version-slim-320 ONNX")
    ap.add_argument("--yunet", help="YuNet-n, the fixed 320x320 file (yunet_n_320_320.onnx)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--baseline", help="another facecam binary (e.g. an older build) whose frame -> faces is raced too")
    ap.add_argument("--profile", type=int, default=50, help="runs for tract's per-operator profiles (0: none)")
    ap.add_argument("--out", default="out/engines.json")
    ap.add_argument("--child-ort", help=argparse.SUPPRESS)
    ap.add_argument("--size", default="320x240", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_ort:
        return ort_child(a)
    if a.rounds < 1 or a.iterations < 1:
        raise SystemExit("--rounds and --iterations must be at least 1")
    if not a.rfb:
        raise SystemExit("--rfb is required: every ratio is against RFB-320 in onnxruntime")
    for p in (a.facecam, a.model, a.rfb, a.slim, a.yunet):
        if p and not Path(p).is_file():
            raise SystemExit(f"{p}: not found")

    nets = [("facecam", a.model, "320x240"), ("ULFGFD RFB-320", a.rfb, "320x240")]
    if a.slim:
        nets.append(("ULFGFD slim-320", a.slim, "320x240"))
    if a.yunet:
        nets.append(("YuNet-n (320x320 file)", a.yunet, "320x320"))
    n_i = ["--iterations", a.iterations, "--warmup", a.warmup, "--json", "--threads", "1"]
    runs = []  # (key, command)
    for name, path, size in nets:
        for kernels in ("tract", "facecam"):
            runs.append(((name, f"tract/{kernels}"),
                         [a.facecam, "race", "--network-only", "--kernels", kernels, "--model", path, "--input-size", size, *n_i]))
        runs.append(((name, "onnxruntime"),
                     [sys.executable, HERE, "--child-ort", path, "--size", size,
                      "--iterations", a.iterations, "--warmup", a.warmup]))
    runs.append((("facecam", "frame->faces"), [a.facecam, "race", "--model", a.model, *n_i]))
    # The same, with tract's own ops (what the allocator settings alone give).
    runs.append((("facecam", "frame->faces, tract ops"), [a.facecam, "race", "--kernels", "tract", "--model", a.model, *n_i]))
    if a.baseline:
        runs.append((("facecam", "frame->faces, baseline"), [a.baseline, "race", "--model", a.model, *n_i]))

    medians = {key: [] for key, _ in runs}
    for r in range(a.rounds):
        k = (r * 3) % len(runs)
        for key, cmd in runs[k:] + runs[:k]:
            rep = run_json(cmd)
            medians[key].append(statistics.median(rep["samples_ms"]))
            print(f"round {r + 1}/{a.rounds} {key[0]:<24} {key[1]:<14} {medians[key][-1]:7.3f} ms",
                  file=sys.stderr, flush=True)

    def ratio(key, ref):
        return statistics.median(x / y for x, y in zip(medians[key], medians[ref]))

    ref = ("ULFGFD RFB-320", "onnxruntime")
    rows = []
    for name, path, size in nets:
        row = {"network": name, "file": path, "size": size}
        for engine in ("tract/tract", "tract/facecam", "onnxruntime"):
            row[engine] = {"median_ms": statistics.median(medians[(name, engine)]),
                           "x_rfb320_ort": ratio((name, engine), ref)}
        row["facecam_kernels_x_tract"] = ratio((name, "tract/facecam"), (name, "tract/tract"))
        rows.append(row)
    floor = {}
    for key in [k for k, _ in runs if k[1].startswith("frame->faces")]:
        floor[key[1]] = {"median_ms": statistics.median(medians[key]),
                         "x_plain_tract_network": ratio(key, ("facecam", "tract/tract")),
                         "x_rfb320_ort": ratio(key, ref)}

    profiles = {}
    if a.profile > 0:
        for kernels in ("tract", "facecam"):
            rep = run_json([a.facecam, "race", "--network-only", "--kernels", kernels, "--model", a.model,
                            "--iterations", 1, "--warmup", 0, "--profile", a.profile, "--json", "--threads", "1"])
            profiles[kernels] = rep["profile"]

    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"rounds": a.rounds, "iterations": a.iterations, "rows": rows, "frame_to_faces": floor,
              "profiles": profiles, "per_round_medians_ms": {f"{k[0]} | {k[1]}": v for k, v in medians.items()}}
    out.write_text(json.dumps(result, indent=1))
    print(table(rows, floor, profiles))
    print(f"\nJSON: {out}")


def table(rows, floor, profiles):
    s = ["| network | tract ms | tract + facecam kernels ms | onnxruntime ms | tract x RFB-320 ort "
         "| tract + kernels x RFB-320 ort | onnxruntime x RFB-320 ort | kernels x tract |",
         "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t, f, o = r["tract/tract"], r["tract/facecam"], r["onnxruntime"]
        s.append(f"| {r['network']} | {t['median_ms']:.2f} | {f['median_ms']:.2f} | {o['median_ms']:.2f} "
                 f"| {t['x_rfb320_ort']:.2f} | {f['x_rfb320_ort']:.2f} | {o['x_rfb320_ort']:.2f} "
                 f"| **{r['facecam_kernels_x_tract']:.2f}** |")
    s.append("")
    s += ["| facecam, frame in -> faces out (`facecam race`) | median ms | x plain tract's network, same file "
          "| x RFB-320 in onnxruntime |", "|---|---|---|---|"]
    for name, f in floor.items():
        s.append(f"| {name} | {f['median_ms']:.2f} | **{f['x_plain_tract_network']:.2f}** | {f['x_rfb320_ort']:.2f} |")
    for kernels, ops in profiles.items():
        total = sum(o["ms"] for o in ops)
        s += ["", f"tract's profile of facecam's file, {kernels} kernels ({total:.2f} ms profiled):", "",
              "| operator | nodes | ms/run | share |", "|---|---|---|---|"]
        s += [f"| {o['op']} | {o['nodes']} | {o['ms']:.3f} | {o['share'] * 100:.1f}% |" for o in ops]
    return "\n".join(s)


if __name__ == "__main__":
    main()
