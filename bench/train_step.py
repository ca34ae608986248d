"""The PyTorch-Python baseline for `facecam-train bench`.

Builds the same network from the spec JSON that facecam-train writes (same layers,
same order), loads the same batch (images, prior labels, regression targets), and times
full training steps: forward, multibox loss with 3:1 hard-negative mining, backward,
Adam. Prints one JSON line with images per second.

    python bench/train_step.py SPEC.json BATCH_DIR STEPS THREADS
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class ConvLayer(nn.Module):
    def __init__(self, s):
        super().__init__()
        d = s.get("dilation", 1)
        self.conv = nn.Conv2d(
            s["cin"], s["cout"], s["k"], s["stride"], d * (s["k"] // 2), dilation=d, groups=s["groups"], bias=not s["bn"]
        )
        self.bn = nn.BatchNorm2d(s["cout"]) if s["bn"] else None
        self.relu = s["relu"]

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class Rfb(nn.Module):
    """relu(scale * merge(cat(branches(x))) + shortcut(x)), as facecam's RfbSpec says."""

    def __init__(self, s):
        super().__init__()
        self.branches = nn.ModuleList(nn.Sequential(*(ConvLayer(c) for c in b)) for b in s["branches"])
        self.merge, self.shortcut, self.scale = ConvLayer(s["merge"]), ConvLayer(s["shortcut"]), s["scale"]

    def forward(self, x):
        merged = self.merge(torch.cat([b(x) for b in self.branches], 1)) * self.scale
        return F.relu(merged + self.shortcut(x))


def block(s):
    return Rfb(s) if "branches" in s else ConvLayer(s)


class Net(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.classes = spec["classes"]
        self.backbone = nn.ModuleList(block(s) for s in spec["backbone"])
        self.taps = [h["tap"] for h in spec["heads"]]
        self.cls = nn.ModuleList(nn.Sequential(*(ConvLayer(s) for s in h["cls"])) for h in spec["heads"])
        self.reg = nn.ModuleList(nn.Sequential(*(ConvLayer(s) for s in h["reg"])) for h in spec["heads"])

    def forward(self, x):
        feats = []
        for layer in self.backbone:
            x = layer(x)
            feats.append(x)
        n = x.shape[0]
        conf = [c(feats[t]).permute(0, 2, 3, 1).reshape(n, -1, self.classes) for t, c in zip(self.taps, self.cls)]
        loc = [r(feats[t]).permute(0, 2, 3, 1).reshape(n, -1, 4) for t, r in zip(self.taps, self.reg)]
        return torch.cat(conf, 1), torch.cat(loc, 1)


def multibox_loss(conf, loc, labels, loc_t, ratio=3):
    pos = labels > 0
    num_pos = pos.sum(1, keepdim=True)
    with torch.no_grad():
        bg = -F.log_softmax(conf, 2)[..., 0]
        candidates = labels == 0
        bg = bg.masked_fill(~candidates, float("-inf"))
        rank = bg.sort(1, descending=True)[1].sort(1)[1]
        neg = (rank < (num_pos * ratio).clamp(min=ratio)) & candidates
    chosen = pos | neg
    n = num_pos.sum().clamp(min=1).float()
    cls = F.cross_entropy(conf[chosen], labels[chosen], reduction="sum") / n
    box = F.smooth_l1_loss(loc[pos], loc_t[pos], reduction="sum") / n
    return cls + box


def main():
    spec = json.load(open(sys.argv[1]))
    batch_dir, steps, threads = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    shape = json.load(open(f"{batch_dir}/shape.json"))
    b, h, w, p = shape["batch"], shape["height"], shape["width"], shape["priors"]
    images = torch.from_numpy(np.fromfile(f"{batch_dir}/images.f32", dtype="<f4").reshape(b, 3, h, w))
    labels = torch.from_numpy(np.fromfile(f"{batch_dir}/labels.i64", dtype="<i8").reshape(b, p))
    loc_t = torch.from_numpy(np.fromfile(f"{batch_dir}/loc_t.f32", dtype="<f4").reshape(b, p, 4))
    torch.manual_seed(1)
    net = Net(spec)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=5e-4)

    def step():
        conf, loc = net(images)
        loss = multibox_loss(conf, loc, labels, loc_t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(2):  # warm-up
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - start
    print(json.dumps({"images_per_second": b * steps / seconds, "seconds": seconds, "steps": steps}))


if __name__ == "__main__":
    main()
