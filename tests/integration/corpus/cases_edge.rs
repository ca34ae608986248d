//! The corpus's cases for `facecam`: paths, files, numbers and outputs, every subcommand.

use super::{Bin::Facecam, Case};

const fn c(category: &'static str, args: &'static str, exit: i32, says: &'static str) -> Case {
    Case::new(Facecam, category, args, exit, says)
}

pub const CASES: &[Case] = &[
    // Paths: missing, a FIFO, a folder, where a file is expected.
    c("path: missing", "detect {d}/nope.png --model {r}/models/facecam.onnx --out {d}/o1", 1, "nope.png").leaving(&["o1"]),
    c("path: FIFO", "detect {d}/fifo.png --model {r}/models/facecam.onnx --out {d}/o2", 1, "fifo.png").leaving(&["o2"]),
    c("path: folder of no pictures", "detect {d}/dir.png --model {r}/models/facecam.onnx --out {d}/o3", 1, "dir.png"),
    c("path: FIFO", "detect {d}/in/photo.png --model {d}/fifo.onnx --out {d}/o4", 1, "fifo.onnx"),
    c("path: folder", "detect {d}/in/photo.png --model {d}/cwd --out {d}/o5", 1, "cwd"),
    c("path: FIFO", "detect {d}/in/photo.png --model {r}/models/facecam.onnx --classifier {d}/fifo.onnx --out {d}/o6", 1, "fifo.onnx"),
    c("path: FIFO", "card {d}/fifo.onnx", 1, "fifo.onnx"),
    c("path: missing", "card {d}/nope.onnx", 1, "nope.onnx"),
    c("path: FIFO", "run --source mjpeg:{d}/fifo.mjpeg --sink none --frames 1 --model {r}/models/facecam.onnx", 1, "fifo.mjpeg"),
    c("path: FIFO", "run --source pattern --sink none --frames 1 --model {r}/models/facecam.onnx --board {d}/fifo.toml", 1, "fifo.toml"),
    c("path: unknown board", "run --source pattern --sink none --frames 1 --model {r}/models/facecam.onnx --board nosuch", 2, "nosuch"),
    c("path: FIFO", "run --source pattern --sink none --frames 1 --model {r}/models/facecam.onnx --sticker {d}/fifo.png", 2, "fifo.png"),
    c("path: FIFO", "race --model {r}/models/facecam.onnx --image {d}/fifo.png --iterations 1 --warmup 0", 1, "fifo.png"),
    c("path: FIFO", "soak --model {d}/fifo.onnx --frames 100", 1, "fifo.onnx"),
    c("path: FIFO", "bench --model {d}/fifo.onnx --frames 10", 1, "fifo.onnx"),
    c("path: device", "detect /dev/zero --model {r}/models/facecam.onnx --out {d}/o13", 1, "/dev/zero"),
    c("path: device", "card /dev/zero", 1, "/dev/zero"),
    c("path: symlink loop", "detect {d}/loop --model {r}/models/facecam.onnx --out {d}/o15", 0, "1 image(s)"),
    c("path: FIFO", "run --config {d}/fifo.toml --source pattern --sink none --frames 1", 2, "fifo.toml"),
    c("path: missing", "config --check {d}/nope.toml", 2, "nope.toml"),
    c("file: TOML nested 100,000 deep", "config --check {d}/deep.toml", 2, "deep.toml:1:1: TOML nested deeper"),
    c("path: a class that is a path", "capture --source pattern --crops --class ../evil --count 1", 2, "../evil"),
    // The environment: odd values where a user's shell or service file sets them.
    c("environment: bad log filter", "card {r}/models/facecam.onnx", 0, "").with_env(&[("FACECAM_LOG", "=,=:::nonsense")]),
    c("environment: missing folder", "run --source pattern --sink none --frames 1 --board rpi4", 0, "frames shown").with_env(&[("FACECAM_BOARDS", "{d}/nope")]),
    c("environment: relative data dirs", "paths", 0, "").with_env(&[("XDG_DATA_DIRS", "rel:ative::")]),
    c("environment: FIFO in a model folder", "card", 0, "").with_env(&[("FACECAM_MODELS", "{d}/fifomodels")]),
    c("environment: no HOME", "detect {d}/in/photo.png --out {d}/o14", 0, "1 image(s)").with_env(&[("HOME", "")]),
    // Files: empty, garbage, truncated, a header promising a huge picture.
    c("file: empty", "detect {d}/empty.png --model {r}/models/facecam.onnx --out {d}/o7", 1, "empty.png").leaving(&["o7"]),
    c("file: garbage", "detect {d}/garbage.png --model {r}/models/facecam.onnx --out {d}/o8", 1, "garbage.png").leaving(&["o8"]),
    c("file: truncated", "detect {d}/trunc.png --model {r}/models/facecam.onnx --out {d}/o9", 1, "trunc.png"),
    c("file: 100000x100000 header", "detect {d}/huge.png --model {r}/models/facecam.onnx --out {d}/o10", 1, "huge.png"),
    c("file: not a picture", "detect {d}/notes.txt --model {r}/models/facecam.onnx --out {d}/o11", 1, "notes.txt"),
    c("file: truncated model", "card {d}/trunc.onnx", 1, "trunc.onnx"),
    c("file: garbage model", "detect {d}/in/photo.png --model {d}/garbage.onnx --out {d}/o12", 1, "garbage.onnx"),
    c("file: garbage stream", "run --source mjpeg:{d}/garbage.mjpeg --sink none --frames 1 --model {r}/models/facecam.onnx", 1, "garbage.mjpeg"),
    c("file: sticker numbers overflow", "run --source pattern --sink none --frames 1 --model {r}/models/facecam.onnx --sticker {d}/sticker/huge.png", 2, "huge.toml"),
    c("file: garbage picture", "race --model {r}/models/facecam.onnx --image {d}/garbage.png --iterations 1 --warmup 0", 1, "garbage.png"),
    // Numbers: NaN, infinite, zero, negative, out of range.
    c("number: NaN", "detect {d}/in/photo.png --threshold NaN", 2, "--threshold"),
    c("number: infinite", "detect {d}/in/photo.png --threshold 1e309", 2, "--threshold"),
    c("number: zero size", "detect {d}/in/photo.png --input-size 0x0", 2, "--input-size"),
    c("number: overflowing size", "detect {d}/in/photo.png --input-size 99999999999x1", 2, "--input-size"),
    c("number: zero", "detect {d}/in/photo.png --threads 0", 2, "--threads"),
    c("number: zero", "run --source pattern --sink none --frames 0", 2, "--frames"),
    c("number: infinite", "run --source pattern --sink none --smoothing inf", 2, "--smoothing"),
    c("number: NaN", "run --source pattern --sink none --min-face-seconds NaN", 2, "--min-face-seconds"),
    c("number: negative", "run --source pattern --sink none --count-every -1", 2, "-1"),
    c("number: zero", "run --source pattern --sink none --classify-every 0", 2, "--classify-every"),
    c("number: zero size", "run --source pattern:0x0 --sink none --frames 1", 2, "pattern:0x0"),
    c("number: NaN", "capture --source pattern --every NaN --count 1", 2, "--every"),
    c("number: NaN", "capture --source pattern --crops --class a --margin NaN", 2, "--margin"),
    c("number: zero", "capture --source pattern --count 0", 2, "--count"),
    c("number: zero", "race --iterations 0", 2, "--iterations"),
    c("number: too many", "race --warmup 100001", 2, "--warmup"),
    c("number: too few", "soak --frames 99", 2, "--frames"),
    c("number: too few", "soak --every 9", 2, "--every"),
    c("number: too few", "bench --frames 9", 2, "--frames"),
    // Outputs: over the input, a file where a folder goes, a place that cannot be written.
    c("output: the input", "detect {d}/in/photo.png --model {r}/models/facecam.onnx --out {d}/in", 2, "would replace"),
    c("output: a file", "detect {d}/in/photo.png --model {r}/models/facecam.onnx --out {d}/notes.txt", 1, "notes.txt"),
    c("output: unwritable", "detect {d}/in/photo.png --model {r}/models/facecam.onnx --out /proc/facecam-corpus", 1, "/proc/facecam-corpus"),
    c("output: the input", "race --model {r}/models/facecam.onnx --image {d}/in/race.png --dump-frame {d}/in/race.png --iterations 1 --warmup 0", 2, "would replace"),
    c("output: a FIFO folder", "run --source pattern --sink png:{d}/fifo.png --frames 1 --model {r}/models/facecam.onnx", 1, "fifo.png"),
];
