"""Proxy AP of the default detector's training against cumulative CPU hours, across stages.

Each stage's `metrics.csv` counts CPU seconds from its own start; the stages ran one after
another (each from the previous one's checkpoint), so the x axis adds them up. Full WIDER
val AP (hard, plain NMS) at each stage's end is drawn as a marker beside the proxy curve.

    python3 bench/curves.py --out docs/proxy-ap-vs-cpu-hours.png \
        stage1=docs/default-model-metrics.csv stage2=docs/finetune-metrics.csv ...

An argument `LABEL=CSV@HARD` also marks the stage's full-val hard AP. `--scratch
LABEL=CSV@HARD` (repeatable) adds a run from random weights, drawn dashed from zero
rather than chained after the stages; its HARD is drawn as measured (the caller says
with which post-processing in the plot's caption). Needs matplotlib.
"""

import argparse
import csv
import sys


def read(path):
    """(cpu_seconds, easy, medium, hard) for every row that has a proxy AP, and the run's
    CPU seconds at its last row (where the next stage starts)."""
    rows, span = [], 0.0
    try:
        with open(path, newline="") as f:
            for n, r in enumerate(csv.DictReader(f), start=2):
                try:
                    span = float(r["cpu_seconds"])
                except (KeyError, ValueError) as e:
                    sys.exit(f"{path}:{n}: bad cpu_seconds ({e})")
                if r.get("proxy_ap_hard"):
                    try:
                        rows.append((float(r["cpu_seconds"]), float(r["proxy_ap_easy"]),
                                     float(r["proxy_ap_medium"]), float(r["proxy_ap_hard"])))
                    except (KeyError, ValueError) as e:
                        sys.exit(f"{path}:{n}: bad row ({e})")
    except OSError as e:
        sys.exit(f"{path}: {e}")
    return rows, span


def run_spec(spec):
    """`LABEL=CSV[@HARD]` read: (label, rows, span, hard AP or None)."""
    label, _, rest = spec.partition("=")
    path, _, hard = rest.partition("@")
    if not path:
        sys.exit(f"{spec}: expected LABEL=CSV[@HARD]")
    rows, span = read(path)
    if not rows:
        sys.exit(f"{path}: no rows with a proxy AP")
    try:
        return label, rows, span, float(hard) if hard else None
    except ValueError:
        sys.exit(f"{spec}: HARD must be a number")


def draw_scratch(ax, spec, colours):
    """One run from random weights: its proxy curves dashed from x = 0, its full-val hard
    AP as a blue star at its end."""
    label, rows, span, hard = run_spec(spec)
    xs = [r[0] / 3600 for r in rows]
    for k, name in enumerate(["easy", "medium", "hard"]):
        ax.plot(xs, [r[k + 1] for r in rows], color=colours[name], linestyle="--", linewidth=1,
                label=f"{label}: proxy {name}")
    if hard is not None:
        ax.plot([span / 3600], [hard], "b*", markersize=10, label=f"{label}: full val hard")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--floor", type=float, default=0.33, help="the hard AP floor to draw")
    ap.add_argument("--scratch", action="append", default=[],
                    help="LABEL=CSV[@HARD]: a run from random weights, drawn from zero")
    ap.add_argument("stages", nargs="+", help="LABEL=CSV or LABEL=CSV@HARD, in training order")
    args = ap.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    offset, starred = 0.0, False
    colours = {"easy": "tab:green", "medium": "tab:orange", "hard": "tab:red"}
    for i, spec in enumerate(args.stages):
        label, rows, span, hard = run_spec(spec)
        xs = [(offset + r[0]) / 3600 for r in rows]
        for k, name in enumerate(["easy", "medium", "hard"]):
            ax.plot(xs, [r[k + 1] for r in rows], color=colours[name], marker=".",
                    label=f"proxy {name}" if i == 0 else None)
        if hard is not None:
            ax.plot([(offset + span) / 3600], [hard], "k*", markersize=9,
                    label=None if starred else "full val hard (stage end)")
            starred = True
        ax.axvline((offset + span) / 3600, color="0.85", linewidth=0.8)
        ax.text((offset + span / 2) / 3600, 0.73, label, ha="center", fontsize=8, color="0.3", rotation=90 if span < 2400 else 0, va="top")
        offset += span
    for spec in args.scratch:
        draw_scratch(ax, spec, colours)
    ax.axhline(args.floor, color="tab:red", linestyle="--", linewidth=0.8, label=f"hard floor {args.floor}")
    ax.set_xlabel("CPU hours (one core, cumulative)")
    ax.set_ylabel("AP")
    ax.set_ylim(0.0 if args.scratch else 0.15, 0.75)
    ax.set_title("facecam default detector: proxy AP (every 10th WIDER val image) vs CPU time")
    ax.grid(alpha=0.3)
    ax.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"{args.out}: {len(args.stages)} stages, {offset / 3600:.2f} CPU hours")


if __name__ == "__main__":
    main()
