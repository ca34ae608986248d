//! The corpus's cases for `facecam-train`: importers, recipes, checkpoints, models,
//! numbers and outputs, every subcommand.

use super::{Bin::Train, Case};

const fn c(category: &'static str, args: &'static str, exit: i32, says: &'static str) -> Case {
    Case::new(Train, category, args, exit, says)
}

pub const CASES: &[Case] = &[
    // Paths.
    c("path: missing", "import --data labelme:{d}/nope", 1, "nope"),
    c("path: FIFO", "import --data labelme:{d}/labfifo", 1, "a.json"),
    c("path: FIFO", "import --data coco:{d}/fifo.json", 1, "fifo.json"),
    c("path: FIFO", "train --data labelme:{d}/lab --config {d}/fifo.toml --epochs 1 --out {d}/t1", 2, "fifo.toml")
        .leaving(&["t1"]),
    c("path: FIFO", "quantize --model {d}/fifo.onnx --data labelme:{d}/lab --out {d}/q1.onnx", 1, "fifo.onnx"),
    c("path: FIFO", "eval --model {d}/fifo.onnx --data labelme:{d}/lab", 1, "fifo.onnx"),
    c("path: FIFO", "classify-eval --model {d}/fifo.onnx --data labelme:{d}/lab --out {d}/ce1", 1, "fifo.onnx"),
    c("path: missing", "export --checkpoint {d}/nope --out {d}/x1.onnx", 1, "nope").leaving(&["x1.onnx"]),
    c("path: missing", "train --data labelme:{d}/lab --init {d}/nope --epochs 1 --out {d}/t2", 1, "nope")
        .leaving(&["t2"]),
    c("path: a device for a folder", "import --data labelme:/dev/null", 1, "/dev/null"),
    c("path: symlink loop", "import --data labelme:{d}/loop", 1, "no labelme .json files"),
    c("path: a file for a folder", "import --data voc:{d}/notes.txt", 1, "notes.txt"),
    c("environment: no HOME", "import --data labelme:{d}/lab", 0, "").with_env(&[("HOME", "")]),
    // Files: nesting deep enough to overflow a recursive parser, boxes overflowing to infinity.
    c("file: JSON nested 100,000 deep", "import --data labelme:{d}/labdeep", 1, "a.json"),
    c("file: JSON nested 100,000 deep", "import --data coco:{d}/coco-deep.json", 1, "coco-deep.json"),
    c("file: XML nested 30,000 deep", "import --data voc:{d}/vocdeep", 1, "a.xml"),
    c(
        "file: TOML nested 100,000 deep",
        "train --data labelme:{d}/lab --config {d}/deep.toml --out {d}/t3",
        2,
        "deep.toml",
    )
    .leaving(&["t3"]),
    c("file: box corner at infinity", "import --data voc:{d}/vocbig", 1, "a.xml"),
    c("file: box corner at infinity", "import --data coco:{d}/in/coco-inf.json", 1, "coco-inf.json"),
    c("file: box at 1e300", "import --data yolo:{d}/yolobig", 1, "a.txt"),
    c("file: box corner at infinity", "augment --data voc:{d}/vocbig --preview {d}/prev.png", 1, "a.xml")
        .leaving(&["prev.png"]),
    c("file: meta.json epochs 2^32-1", "export --checkpoint {d}/ck --out {d}/x2.onnx", 1, "meta.json")
        .leaving(&["x2.onnx"]),
    c(
        "file: garbage model",
        "quantize --model {d}/garbage.onnx --data labelme:{d}/lab --out {d}/q2.onnx",
        1,
        "garbage.onnx",
    )
    .leaving(&["q2.onnx"]),
    c("file: truncated model", "eval --model {d}/trunc.onnx --data labelme:{d}/lab", 1, "trunc.onnx"),
    // Numbers.
    c("number: zero", "synth --out {d}/s1 --count 0", 2, "--count"),
    c("number: too many", "synth --out {d}/s2 --count 100001", 2, "--count"),
    c("number: zero size", "synth --out {d}/s3 --size 0x0", 2, "--size"),
    c("number: negative", "synth --out {d}/s4 --seed -1", 2, "-1"),
    c("number: 2^32", "train --data labelme:{d}/lab --epochs 4294967296 --out {d}/t4", 2, "--epochs").leaving(&["t4"]),
    c("number: NaN", "train --data labelme:{d}/lab --lr NaN --out {d}/t5", 2, "lr").leaving(&["t5"]),
    c("number: zero", "train --data labelme:{d}/lab --batch-size 0 --out {d}/t6", 2, "batch_size").leaving(&["t6"]),
    c("number: zero", "train --data labelme:{d}/lab --stop-after 0 --out {d}/t7", 2, "--stop-after").leaving(&["t7"]),
    c("number: zero", "augment --data labelme:{d}/lab --count 0", 2, "--count"),
    c("number: too many", "augment --data labelme:{d}/lab --count 257", 2, "--count"),
    c("number: out of range", "eval --data labelme:{d}/lab --threshold 1.5", 2, "--threshold"),
    c("number: NaN", "wider-eval --min-score NaN", 2, "--min-score"),
    c("number: out of range", "wider-eval --nms-iou 2", 2, "--nms-iou"),
    c(
        "number: out of range",
        "quantize --model {d}/in/model.onnx --data labelme:{d}/lab --percentile 101",
        2,
        "--percentile",
    ),
    c("number: zero", "quantize --model {d}/in/model.onnx --data labelme:{d}/lab --count 0", 2, "--count"),
    c("number: NaN", "classify --data labelme:{d}/lab --margin NaN", 2, "--margin"),
    c("number: zero", "bench --steps 0", 2, "--steps"),
    c("number: zero", "bench --batch-size 0", 2, "--batch-size"),
    c("number: zero (old name)", "export --score-threshold 0", 2, "--threshold"),
    c("number: zero", "export --threshold 0", 2, "--threshold"),
    c("number: malformed split", "import --data labelme:{d}/lab@=70/30/x", 2, "70/30/x"),
    // Outputs.
    c("output: the input", "export --checkpoint {d}/ck --out {d}/ck/weights.ot", 2, "would replace"),
    c(
        "output: the input",
        "quantize --model {d}/in/model.onnx --data labelme:{d}/lab --out {d}/in/../in/model.onnx",
        2,
        "would replace",
    ),
    c("output: a file", "synth --out {d}/notes.txt --count 1", 1, "notes.txt"),
    c("output: unwritable", "synth --out /proc/facecam-corpus --count 1", 1, "/proc/facecam-corpus"),
];
