"""Independent reference for the WIDER FACE protocol, to check the Rust evaluator.

Writes a seeded random fixture (ground truth with easy/medium/hard subsets, and noisy
predictions) and the AP this numpy implementation computes for it, as JSON:

    python wider_eval_reference.py OUT.json [SEED]

The protocol follows the official WIDER FACE evaluation (Yang et al. 2016) as its
published code defines it: min-max score normalisation over the set, predictions in
descending score order, IoU >= 0.5 with the "+1 pixel" box convention against all
faces, hits on faces outside the setting ignored, 1000 thresholds, VOC all-point AP.
Written for this project from that description; it shares no code with the Rust side.
"""
import json
import sys

import numpy as np

THRESHOLDS = 1000


def overlaps(pred, gt):
    """IoU matrix [len(pred), len(gt)] of x, y, w, h boxes, +1 pixel convention."""
    p = pred[:, None, :4]
    g = gt[None, :, :4]
    px2, py2 = p[..., 0] + p[..., 2], p[..., 1] + p[..., 3]
    gx2, gy2 = g[..., 0] + g[..., 2], g[..., 1] + g[..., 3]
    iw = np.minimum(px2, gx2) - np.maximum(p[..., 0], g[..., 0]) + 1
    ih = np.minimum(py2, gy2) - np.maximum(p[..., 1], g[..., 1]) + 1
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    pa = (p[..., 2] + 1) * (p[..., 3] + 1)
    ga = (g[..., 2] + 1) * (g[..., 3] + 1)
    return inter / (pa + ga - inter)


def image_curve(pred, gt, counts):
    """Per threshold: (proposals, recalled) for one image; pred sorted by score."""
    iou = overlaps(pred, gt)
    best = iou.argmax(axis=1)
    best_iou = iou[np.arange(len(pred)), best]
    status = np.zeros(len(gt))
    proposal = np.ones(len(pred), dtype=bool)
    recalled = np.zeros(len(pred))
    for h in range(len(pred)):
        if best_iou[h] >= 0.5:
            if not counts[best[h]]:
                status[best[h]] = -1
                proposal[h] = False
            elif status[best[h]] == 0:
                status[best[h]] = 1
        recalled[h] = np.sum(status == 1)
    out = np.zeros((THRESHOLDS, 2))
    thresholds = 1 - np.arange(1, THRESHOLDS + 1) / THRESHOLDS
    for t, th in enumerate(thresholds):
        idx = np.nonzero(pred[:, 4] >= th)[0]
        if len(idx):
            last = idx[-1]
            out[t] = (proposal[: last + 1].sum(), recalled[last])
    return out


def average_precision(recall, precision):
    r = np.concatenate(([0.0], recall, [1.0]))
    p = np.concatenate(([0.0], precision, [0.0]))
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def evaluate(events):
    scores = np.concatenate([np.array(i["preds"])[:, 4] for e in events for i in e["images"] if i["preds"]])
    lo, hi = scores.min(), scores.max()
    aps = []
    for s in range(3):
        total = np.zeros((THRESHOLDS, 2))
        faces = 0
        for e in events:
            for img in e["images"]:
                faces += len(img["keep"][s])
                if not img["boxes"] or not img["preds"]:
                    continue
                pred = np.array(img["preds"], dtype=float)
                pred[:, 4] = (pred[:, 4] - lo) / (hi - lo)
                pred = pred[np.argsort(-pred[:, 4], kind="stable")]
                counts = np.zeros(len(img["boxes"]), dtype=bool)
                counts[img["keep"][s]] = True
                total += image_curve(pred, np.array(img["boxes"], dtype=float), counts)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(total[:, 0] > 0, total[:, 1] / total[:, 0], 0.0)
        aps.append(average_precision(total[:, 1] / faces, precision))
    return aps


def fixture(seed):
    rng = np.random.default_rng(seed)
    events = []
    for e in range(3):
        images = []
        for i in range(5):
            n = int(rng.integers(0, 9))
            xy = rng.uniform(0, 900, size=(n, 2)).round()
            wh = rng.uniform(4, 120, size=(n, 2)).round()
            boxes = np.hstack([xy, wh])
            # Nested settings: hard holds every face, medium most, easy the larger ones.
            hard = list(range(n))
            medium = [j for j in hard if wh[j].min() >= 10]
            easy = [j for j in medium if wh[j].min() >= 40]
            preds = []
            for j in range(n):
                if rng.random() < 0.75:
                    jitter = rng.normal(0, 0.12, size=4) * np.array([wh[j][0], wh[j][1], wh[j][0], wh[j][1]])
                    preds.append(list((boxes[j] + jitter).round(1)) + [float(rng.uniform(0.3, 1.0))])
            for _ in range(int(rng.integers(0, 4))):
                fp = list(np.concatenate([rng.uniform(0, 900, 2), rng.uniform(8, 100, 2)]).round(1))
                preds.append(fp + [float(rng.uniform(0.0, 0.8))])
            images.append(
                {
                    "name": f"img_{e}_{i}",
                    "boxes": boxes.tolist(),
                    "keep": [easy, medium, hard],
                    "preds": [[float(v) for v in p] for p in preds],
                }
            )
        events.append({"name": f"{e}--Event", "images": images})
    return events


if __name__ == "__main__":
    out = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 2026
    events = fixture(seed)
    ap = evaluate(events)
    with open(out, "w") as f:
        json.dump({"seed": seed, "ap": ap, "events": events}, f)
    print("ap easy/medium/hard:", ap)
