"""The speed race: facecam's detector (tract, fp32 and int8) against published face
detectors in onnxruntime, in one go, on the same machine, frame and thread count.

Contenders (each skipped with a note when its path is missing):
  facecam fp32 / int8   `facecam race` (tract, 1 thread): preprocess + network + decode + NMS;
                        the int8 file twice, `--int8 qdq` (as written) and `--int8 weights`
  ULFGFD RFB-320, slim-320   Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB models/onnx/
  YuNet-n                    ShiqiYu/libfacedetection.train onnx/
The published ONNX files are not part of this repository: fetch them yourself and pass
their paths. Every contender gets the same 320x240 RGB frame (samples/astronaut.png
stretched by facecam's own resampler, written by `facecam race --dump-frame`), its own
preprocessing, and its own decode + NMS (numpy), so every number is "frame in, faces out".

Rounds interleave the contenders (order rotated each round) so background load hits all
of them alike; ratios are taken within a round, then their median over rounds is
reported. Each run is a fresh child process: load time and peak RSS (from wait4's
rusage of that child) are per process. onnxruntime runs with intra/inter-op threads 1
and sequential execution.

    ~/.cache/facecam/venv/bin/python bench/race.py --facecam target/board/facecam \\
        --model models/facecam.onnx --int8 models/facecam-int8.onnx \\
        --rfb RFB.onnx --slim SLIM.onnx --yunet YUNET.onnx --rounds 5 --iterations 100

Prints a Markdown table and writes JSON (default out/race.json).
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()


# --------------------------------------------------------------------------------------
# Shared helpers (parent and child)
# --------------------------------------------------------------------------------------


def read_ppm(path):
    """A binary PPM (P6, maxval 255) as an HxWx3 uint8 array."""
    import numpy as np

    data = Path(path).read_bytes()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P6" or fields[3] != b"255":
        raise SystemExit(f"{path}: not a binary 8-bit PPM")
    w, h = int(fields[1]), int(fields[2])
    pos += 1  # the single whitespace after maxval
    return np.frombuffer(data, dtype=np.uint8, count=w * h * 3, offset=pos).reshape(h, w, 3)


def iou(a, b):
    """IoU of two [x0, y0, x1, y1] boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


# --------------------------------------------------------------------------------------
# Child: one onnxruntime model, loaded and timed in its own process
# --------------------------------------------------------------------------------------


def greedy_nms(boxes, scores, iou_threshold, top_k, candidates=1000):
    """Greedy hard NMS: keep the best box, drop those overlapping it by more than
    `iou_threshold`, repeat. Returns kept indices, best first (at most `top_k`)."""
    import numpy as np

    order = np.argsort(-scores, kind="stable")[:candidates]
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    keep = []
    while order.size and len(keep) < top_k:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        w = np.clip(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0, None)
        h = np.clip(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0, None)
        inter = w * h
        overlap = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = rest[overlap <= iou_threshold]
    return keep


def graph_has_op(path, op_type):
    """Whether an ONNX file has a node of `op_type`: NodeProto.op_type is field 4, a
    length-delimited string, so it is stored as the bytes 0x22, len, name."""
    name = op_type.encode()
    return bytes([0x22, len(name)]) + name in Path(path).read_bytes()


def facecam_card(path):
    """The prior layout of a facecam model card (`facecam.card` in the ONNX metadata), or
    None for a file without one."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == "facecam.card":
            return json.loads(prop.value)["priors"]
    return None


class Ulfgfd:
    """Ultra-Light-Fast-Generic-Face-Detector (version-RFB-320 / version-slim-320).

    Written from the repository's published definitions (Linzaer/Ultra-Light-Fast-
    Generic-Face-Detector-1MB): preprocessing from detect_imgs_onnx.py (RGB, 320x240,
    (pixel - 127) / 128, NCHW); priors from vision/ssd/config/fd_config.py +
    vision/utils/box_utils.py generate_priors (strides 8/16/32/64 as feature maps
    ceil(size / stride), min boxes [[10,16,24],[32,48],[64,96],[128,192,256]], centres
    (i + 0.5) / (size / shrinkage), clamped to [0, 1]); SSD decode with centre variance
    0.1 and size variance 0.2 (convert_locations_to_boxes); hard NMS at IoU 0.3.
    Files `*_without_postprocessing.onnx` output softmax scores and raw offsets, decoded
    here; the other files decode in the graph (an Exp node), leaving only NMS to numpy.
    """

    STRIDES = (8, 16, 32, 64)
    MIN_BOXES = ((10, 16, 24), (32, 48), (64, 96), (128, 192, 256))

    def __init__(self, sess, model_path, width, height, score, nms_iou):
        import numpy as np

        self.sess, self.w, self.h, self.score, self.nms_iou = sess, width, height, score, nms_iou
        self.input = sess.get_inputs()[0].name
        self.in_graph_decode = graph_has_op(model_path, "Exp")
        # facecam's own file (raced here as a ULFGFD-style network) brings its prior layout
        # in its card; the published files use ULFGFD's.
        card = facecam_card(model_path)
        strides, min_boxes = (card["steps"], card["min_sizes"]) if card else (self.STRIDES, self.MIN_BOXES)
        priors = []
        for stride, sizes in zip(strides, min_boxes):
            fw, fh = math.ceil(width / stride), math.ceil(height / stride)
            # fd_config: shrinkage = size / feature map size; centre = (i + 0.5) / (size / shrinkage).
            # facecam's card puts centres a stride apart in input pixels instead (the two
            # differ only where the size is not a multiple of the stride).
            sx, sy = (stride / width, stride / height) if card else (1 / fw, 1 / fh)
            for j in range(fh):
                for i in range(fw):
                    for m in sizes:
                        priors.append(((i + 0.5) * sx, (j + 0.5) * sy, m / width, m / height))
        self.priors = np.clip(np.array(priors, dtype=np.float32), 0.0, 1.0)
        self.mean = np.float32(127.0)
        self.inv_std = np.float32(1.0 / 128.0)

    def preprocess(self, frame):
        import numpy as np

        x = (frame.astype(np.float32) - self.mean) * self.inv_std
        return np.ascontiguousarray(x.transpose(2, 0, 1))[None]

    def network(self, x):
        return self.sess.run(None, {self.input: x})

    def postprocess(self, outs, frame_w, frame_h):
        import numpy as np

        scores, boxes = outs[0][0], outs[1][0]
        face = scores[:, 1]
        mask = face > self.score
        face, boxes = face[mask], boxes[mask]
        if not self.in_graph_decode:
            p = self.priors[mask]
            centre = boxes[:, :2] * 0.1 * p[:, 2:] + p[:, :2]
            size = np.exp(boxes[:, 2:] * 0.2) * p[:, 2:]
            boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        boxes = boxes * np.array([frame_w, frame_h, frame_w, frame_h], dtype=np.float32)
        keep = greedy_nms(boxes, face, self.nms_iou, top_k=200)
        return [(*map(float, boxes[k]), float(face[k])) for k in keep]


class YuNet:
    """YuNet (libfacedetection.train onnx/yunet_n_*.onnx), written from that repository's
    definitions: preprocessing from configs/yunet_n.py (BGR, no mean, std 1, i.e. raw
    0..255 pixels, to_rgb=False) and tools/detect_image.py (pad the image to a multiple
    of 32 with zeros, at the bottom/right); decode from mmdet/models/dense_heads/
    yunet_head.py (MlvlPointGenerator strides 8/16/32 with offset 0: a cell's point is
    (col * stride, row * stride); centre = point + pred[:2] * stride, size =
    exp(pred[2:]) * stride; score = cls * obj, both sigmoids already applied in the
    exported graph). NMS is greedy at IoU 0.3 here (the repository's test config uses
    0.45; OpenCV's FaceDetectorYN, which scores sqrt(cls * obj), defaults to 0.3) with
    the same score threshold as the other contenders. Landmarks are not decoded.

    A fixed-size graph (yunet_n_320_320.onnx) gets the frame padded to its size; a
    dynamic one (yunet_n_dynamic.onnx) gets it padded to a multiple of 32 (320x240 ->
    320x256: the network cannot run 240 rows, its FPN adds a 2x-upsampled stride-32 map
    of 7 rows to a stride-16 map of 15).
    """

    STRIDES = (8, 16, 32)

    def __init__(self, sess, model_path, width, height, score, nms_iou):
        import numpy as np

        self.sess, self.w, self.h, self.score, self.nms_iou = sess, width, height, score, nms_iou
        inp = sess.get_inputs()[0]
        self.input = inp.name
        shape = inp.shape
        if isinstance(shape[2], int) and isinstance(shape[3], int):
            self.pad_h, self.pad_w = shape[2], shape[3]
            if self.pad_h < height or self.pad_w < width:
                raise SystemExit(f"{model_path}: fixed input {self.pad_w}x{self.pad_h} is smaller than the frame")
        else:
            self.pad_h, self.pad_w = -(-height // 32) * 32, -(-width // 32) * 32
        self.in_graph_decode = False
        self.names = [o.name for o in sess.get_outputs()]
        pts, strides = [], []
        for s in self.STRIDES:
            rows, cols = self.pad_h // s, self.pad_w // s
            r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
            pts.append(np.stack([c.ravel() * s, r.ravel() * s], axis=1))
            strides.append(np.full((rows * cols, 1), s))
        self.points = np.concatenate(pts).astype(np.float32)
        self.strides = np.concatenate(strides).astype(np.float32)
        self.buf = np.zeros((1, 3, self.pad_h, self.pad_w), dtype=np.float32)

    def preprocess(self, frame):
        h, w = frame.shape[:2]
        # RGB frame -> BGR planes, raw 0..255 values, zero padding bottom/right.
        self.buf[0, :, :h, :w] = frame[:, :, ::-1].transpose(2, 0, 1)
        return self.buf

    def network(self, x):
        return dict(zip(self.names, self.sess.run(None, {self.input: x})))

    def postprocess(self, outs, frame_w, frame_h):
        import numpy as np

        cat = lambda kind: np.concatenate([outs[f"{kind}_{s}"][0] for s in self.STRIDES])  # noqa: E731
        score = (cat("cls") * cat("obj"))[:, 0]
        mask = score > self.score
        score, pred = score[mask], cat("bbox")[mask]
        pts, s = self.points[mask], self.strides[mask]
        centre = pts + pred[:, :2] * s
        size = np.exp(pred[:, 2:]) * s
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        boxes = np.clip(boxes, 0, [frame_w, frame_h, frame_w, frame_h])
        keep = greedy_nms(boxes, score, self.nms_iou, top_k=200)
        return [(*map(float, boxes[k]), float(score[k])) for k in keep]


def child_main(a):
    """Load one onnxruntime model, time frame -> faces, print one JSON line."""
    import numpy as np
    import onnxruntime as ort

    frame = read_ppm(a.frame)
    fh, fw = frame.shape[:2]
    t0 = time.perf_counter()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # ULFGFD's files keep initializers as graph inputs: silence that warning
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    det = {"ulfgfd": Ulfgfd, "yunet": YuNet}[a.kind](sess, a.model, fw, fh, a.score, a.nms_iou)

    def detect():
        return det.postprocess(det.network(det.preprocess(frame)), fw, fh)

    faces = detect()  # one dry run, as facecam's load does
    load_s = time.perf_counter() - t0
    for _ in range(a.warmup):
        detect()
    samples = []
    for _ in range(a.iterations):
        t = time.perf_counter()
        faces = detect()
        samples.append((time.perf_counter() - t) * 1e3)
    stages = None
    if a.stages:
        pre, net, post = [], [], []
        for _ in range(a.iterations):
            t = time.perf_counter()
            x = det.preprocess(frame)
            t1 = time.perf_counter()
            outs = det.network(x)
            t2 = time.perf_counter()
            det.postprocess(outs, fw, fh)
            t3 = time.perf_counter()
            pre.append(t1 - t)
            net.append(t2 - t1)
            post.append(t3 - t2)
        stages = {k: statistics.median(v) * 1e3 for k, v in
                  (("preprocess_ms", pre), ("network_ms", net), ("decode_nms_ms", post))}
    import resource

    print(json.dumps({
        "engine": f"onnxruntime {ort.__version__}",
        "model": a.model,
        "model_bytes": os.path.getsize(a.model),
        "input": [int(det.preprocess(frame).shape[3]), int(det.preprocess(frame).shape[2])],
        "in_graph_decode": det.in_graph_decode,
        "model_load_s": load_s,
        "samples_ms": samples,
        "stages": stages,
        "faces": [dict(zip(("x0", "y0", "x1", "y1", "score"), f)) for f in faces],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "ort_threads": {"intra_op": 1, "inter_op": 1, "execution_mode": "sequential"},
    }))


# --------------------------------------------------------------------------------------
# Parent: rounds of interleaved child processes
# --------------------------------------------------------------------------------------


def run_child(cmd):
    """Run a command, return (stdout JSON, peak RSS MiB of that child from wait4)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.stdout.read(), p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{err.decode(errors='replace')[-2000:]}")
    lines = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"{' '.join(map(str, cmd))} printed no JSON:\n{out.decode()[-2000:]}")
    return json.loads(lines[-1]), usage.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--facecam", default="target/board/facecam", help="the facecam binary")
    ap.add_argument("--model", default="models/facecam.onnx", help="facecam fp32 model")
    ap.add_argument("--int8", default="models/facecam-int8.onnx", help="facecam int8 (QDQ) model")
    ap.add_argument("--rfb", help="ULFGFD version-RFB-320 ONNX (the latency reference)")
    ap.add_argument("--slim", help="ULFGFD version-slim-320 ONNX")
    ap.add_argument("--yunet", help="YuNet-n ONNX (yunet_n_dynamic.onnx or yunet_n_320_320.onnx)")
    ap.add_argument("--extra", action="append", default=[], metavar="KIND:PATH",
                    help="more files to race in onnxruntime, KIND ulfgfd or yunet (e.g. ULFGFD's in-graph-decode "
                    "files, yunet_n_320_320.onnx, or facecam's own ONNX as ulfgfd); repeatable")
    ap.add_argument("--image", default="samples/astronaut.png")
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--score", type=float, default=0.5, help="score threshold for the onnxruntime contenders "
                    "(facecam uses its card's, 0.5 for the shipped models)")
    ap.add_argument("--nms-iou", type=float, default=0.3)
    ap.add_argument("--profile", type=int, default=50, help="runs for facecam's per-operator profile (0: none)")
    ap.add_argument("--out", default="out/race.json")
    ap.add_argument("--child", choices=["ulfgfd", "yunet"], help=argparse.SUPPRESS)
    ap.add_argument("--kind", help=argparse.SUPPRESS)
    ap.add_argument("--frame", help=argparse.SUPPRESS)
    ap.add_argument("--stages", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        a.kind = a.child
        return child_main(a)
    if a.rounds < 1 or a.iterations < 1:
        raise SystemExit("--rounds and --iterations must be at least 1")

    notes = []
    facecam = Path(a.facecam)
    if not facecam.is_file():
        raise SystemExit(f"{facecam}: no facecam binary; build it with `cargo build --profile board -p facecam-edge`")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame = out.with_name("race-frame.ppm")

    # name, kind, path
    wanted = [
        ("facecam fp32", "facecam", a.model),
        ("facecam int8 (QDQ)", "facecam", a.int8),
        ("facecam int8 (weights)", "facecam", a.int8),
        ("ULFGFD RFB-320", "ulfgfd", a.rfb),
        ("ULFGFD slim-320", "ulfgfd", a.slim),
        ("YuNet-n", "yunet", a.yunet),
    ]
    for spec in a.extra:
        kind, _, path = spec.partition(":")
        if kind not in ("ulfgfd", "yunet") or not path:
            raise SystemExit(f"--extra {spec}: expected ulfgfd:PATH or yunet:PATH")
        wanted.append((f"{Path(path).stem} (ort, {kind} decode)", kind, path))
    contenders = []
    for name, kind, path in wanted:
        if not path:
            notes.append(f"{name}: skipped (no path given)")
        elif not Path(path).is_file():
            notes.append(f"{name}: skipped ({path} not found)")
        else:
            # facecam's own flags: one thread, and for the int8 file the path it runs by.
            flags = ["--threads", "1"] if kind == "facecam" else []
            if name == "facecam int8 (QDQ)":
                flags += ["--int8", "qdq"]
            elif name == "facecam int8 (weights)":
                flags += ["--int8", "weights"]
            contenders.append({"name": name, "kind": kind, "path": str(path), "flags": flags, "runs": []})
    if not any(c["kind"] == "facecam" for c in contenders):
        raise SystemExit("no facecam model to race")

    # The shared frame, and facecam's face box for the sanity check.
    first = next(c for c in contenders if c["kind"] == "facecam")
    ref, _ = run_child([facecam, "race", "--model", first["path"], "--image", a.image, "--input-size", a.size,
                        "--iterations", "1", "--warmup", "0", "--dump-frame", frame, "--json"])
    if not ref["faces"]:
        raise SystemExit(f"{first['path']} finds no face in {a.image}: nothing to check the others against")
    face_box = max(ref["faces"], key=lambda f: f["score"])

    def command(c, stages):
        if c["kind"] == "facecam":
            cmd = [facecam, "race", "--model", c["path"], "--image", a.image, "--input-size", a.size,
                   "--iterations", str(a.iterations), "--warmup", str(a.warmup), "--json", *c["flags"]]
            return cmd + (["--stages"] if stages else [])
        cmd = [sys.executable, HERE, "--child", c["kind"], "--model", c["path"], "--frame", frame,
               "--iterations", str(a.iterations), "--warmup", str(a.warmup),
               "--score", str(a.score), "--nms-iou", str(a.nms_iou)]
        return cmd + (["--stages"] if stages else [])

    # What importing numpy + onnxruntime alone costs a Python process.
    _, py_base_rss = run_child([sys.executable, "-c", "import json, numpy, onnxruntime; print(json.dumps({}))"])

    started = time.time()
    for r in range(a.rounds):
        k = r % len(contenders)
        for c in contenders[k:] + contenders[:k]:
            rep, rss = run_child(command(c, stages=(r == 0)))
            c["runs"].append({"round": r, "median_ms": statistics.median(rep["samples_ms"]), "rss_mib": rss,
                              "load_s": rep["model_load_s"], "report": rep})
            print(f"round {r + 1}/{a.rounds} {c['name']:<22} median {c['runs'][-1]['median_ms']:7.3f} ms",
                  file=sys.stderr, flush=True)
    wall = time.time() - started

    profile = {}
    if a.profile > 0:
        for c in contenders:
            if c["kind"] == "facecam":
                rep, _ = run_child([facecam, "race", "--model", c["path"], "--image", a.image, "--input-size", a.size,
                                    "--iterations", "1", "--warmup", "0", "--profile", str(a.profile), "--json",
                                    *c["flags"]])
                profile[c["name"]] = rep["profile"]

    def by_name(name):
        return next((c for c in contenders if c["name"] == name), None)

    rfb, yunet, facecam_fp32 = by_name("ULFGFD RFB-320"), by_name("YuNet-n"), by_name("facecam fp32")
    rows = []
    for c in contenders:
        samples = [s for run in c["runs"] for s in run["report"]["samples_ms"]]
        first_run = c["runs"][0]["report"]
        faces = first_run["faces"]
        best = max((iou([f["x0"], f["y0"], f["x1"], f["y1"]], [face_box[k] for k in ("x0", "y0", "x1", "y1")])
                    for f in faces if f["score"] > 0.5), default=0.0)

        def ratio(refc):
            if refc is None:
                return None
            return statistics.median(run["median_ms"] / refc["runs"][i]["median_ms"] for i, run in enumerate(c["runs"]))

        sorted_s = sorted(samples)
        rows.append({
            "name": c["name"],
            "model": c["path"],
            "model_bytes": os.path.getsize(c["path"]),
            "engine": first_run["engine"],
            "input": first_run["input"],
            "in_graph_decode": first_run.get("in_graph_decode"),
            "median_ms": statistics.median(samples),
            "p90_ms": sorted_s[min(len(sorted_s) - 1, int(round(0.9 * (len(sorted_s) - 1))))],
            "round_medians_ms": [run["median_ms"] for run in c["runs"]],
            "ratio_to_rfb320": ratio(rfb),
            "ratio_to_yunet_n": ratio(yunet),
            "ratio_to_facecam_fp32": ratio(facecam_fp32),
            "model_load_s": statistics.median(run["load_s"] for run in c["runs"]),
            "peak_rss_mib": statistics.median(run["rss_mib"] for run in c["runs"]),
            "stages": first_run["stages"],
            "faces": faces,
            "face_check": {"best_iou_with_facecam_face": best, "ok": best >= 0.3},
        })

    goals = {}
    fp32 = next((r for r in rows if r["name"] == "facecam fp32"), None)
    if fp32 and fp32["ratio_to_rfb320"] is not None:
        goals["facecam fp32 <= 0.5x RFB-320"] = fp32["ratio_to_rfb320"] <= 0.5
    if fp32 and fp32["ratio_to_yunet_n"] is not None:
        goals["facecam fp32 <= 1.0x YuNet-n"] = fp32["ratio_to_yunet_n"] <= 1.0

    result = {
        "frame": {"image": a.image, "size": a.size, "ppm": str(frame)},
        "threads": 1,
        "rounds": a.rounds,
        "iterations": a.iterations,
        "warmup": a.warmup,
        "score_threshold_ort": a.score,
        "nms_iou_ort": a.nms_iou,
        "wall_s": wall,
        "cpu": cpu_name(),
        "python_ort_baseline_rss_mib": py_base_rss,
        "facecam_face_box": face_box,
        "contenders": rows,
        "goals": goals,
        "facecam_profile": profile,
        "notes": notes,
    }
    out.write_text(json.dumps(result, indent=1))
    print(table(result))
    print(f"\nJSON: {out}")


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def table(res):
    fmt = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
    lines = [
        f"{res['frame']['image']} at {res['frame']['size']}, 1 thread, {res['rounds']} interleaved rounds x "
        f"{res['iterations']} runs; latency = frame in, faces out (preprocess + network + decode + NMS)",
        "",
        "| contender | engine | input | median ms | p90 ms | x facecam fp32 | x RFB-320 | x YuNet-n | load s "
        "| peak RSS MiB | file KiB | face found |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["contenders"]:
        lines.append(
            f"| {r['name']} | {r['engine']} | {r['input'][0]}x{r['input'][1]} | {r['median_ms']:.2f} | "
            f"{r['p90_ms']:.2f} | {fmt(r['ratio_to_facecam_fp32'], '.2f')} | {fmt(r['ratio_to_rfb320'], '.2f')} | "
            f"{fmt(r['ratio_to_yunet_n'], '.2f')} | "
            f"{r['model_load_s']:.3f} | {r['peak_rss_mib']:.1f} | {r['model_bytes'] / 1024:.0f} | "
            f"{'yes' if r['face_check']['ok'] else 'NO'} (IoU {r['face_check']['best_iou_with_facecam_face']:.2f}) |"
        )
    lines.append("")
    lines.append(f"Python + numpy + onnxruntime imported, no model: {res['python_ort_baseline_rss_mib']:.1f} MiB peak RSS.")
    lines.append("")
    lines.append("| contender | preprocess ms | network ms | decode+NMS ms |")
    lines.append("|---|---|---|---|")
    for r in res["contenders"]:
        st = r["stages"] or {}
        lines.append(f"| {r['name']} | {fmt(st.get('preprocess_ms'), '.3f')} | {fmt(st.get('network_ms'), '.3f')} | "
                     f"{fmt(st.get('decode_nms_ms'), '.3f')} |")
    for name, ops in res["facecam_profile"].items():
        lines += ["", f"{name}, tract operators (optimised graph):", "", "| op | nodes | ms/run | share |",
                  "|---|---|---|---|"]
        lines += [f"| {o['op']} | {o['nodes']} | {o['ms']:.3f} | {o['share'] * 100:.1f}% |" for o in ops if o["share"] >= 0.005]
    if res["goals"]:
        lines.append("")
        lines += [f"- {g}: {'PASS' if ok else 'FAIL'}" for g, ok in res["goals"].items()]
    lines += [f"- note: {n}" for n in res["notes"]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
