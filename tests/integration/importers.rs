//! The importers read what real tools write: the face-mask set's Pascal VOC files,
//! converted to COCO JSON and to YOLO txt by globox (a published converter, run here as
//! a peer), load as the same photos, boxes and class names in all three formats; and the
//! content-hash split gives each format the same parts.

use facecam_tests::{bin, python_peer, run, run_within, scratch, shared_data};
use host_train::data::{Sample, Source};
use std::path::{Path, PathBuf};
use std::process::Command;

/// globox from the Python peer's environment (`make setup` installs it there).
fn globox() -> Option<PathBuf> {
    let tool = python_peer()?.parent()?.join("globox");
    let ok = Command::new(&tool).arg("--help").output().is_ok_and(|o| o.status.success());
    let required = std::env::var("FACECAM_REQUIRE_PEER").is_ok_and(|v| v == "1");
    assert!(ok || !required, "{} does not run and FACECAM_REQUIRE_PEER=1 (make setup installs it)", tool.display());
    ok.then_some(tool)
}

fn load(spec: &str) -> Vec<Sample> {
    Source::parse(spec).and_then(|s| s.load()).unwrap_or_else(|e| panic!("{spec}: {e:#}"))
}

/// A box in half pixels with its class name.
type Face = ([i32; 4], String);

/// Each photo's file name with its boxes (rounded to 0.5 px) and labels, sorted.
fn by_name(samples: &[Sample]) -> Vec<(String, Vec<Face>)> {
    let mut out: Vec<_> = samples
        .iter()
        .map(|s| {
            let mut faces: Vec<_> = (s.boxes.iter().enumerate())
                .map(|(i, b)| ([b.x0, b.y0, b.x1, b.y1].map(|v| (v * 2.0).round() as i32), s.label(i).to_string()))
                .collect();
            faces.sort();
            (s.image.file_name().unwrap().to_string_lossy().into_owned(), faces)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn voc_coco_and_yolo_of_one_set_read_the_same() {
    let (Some(shared), Some(globox)) = (shared_data(), globox()) else {
        eprintln!("NOTE: no ../shared/data or no globox; the real-file importer check is not run");
        return;
    };
    let mask = shared.join("face-mask");
    let dir = scratch("importers");
    let link = |to: &Path, at: &Path| std::os::unix::fs::symlink(to, at).unwrap();
    // COCO beside an `images/` folder, as exporters lay it out.
    link(&mask.join("images"), &dir.join("images"));
    let coco = dir.join("mask.json");
    #[rustfmt::skip]
    run(Command::new(&globox).args(["-q", "convert", "-f", "pascalvoc", "-F", "coco", "--coco_auto_ids"])
        .arg(mask.join("annotations")).arg(&coco));
    // YOLO in the Ultralytics layout, class indices from a names file.
    let yolo = dir.join("yolo");
    std::fs::create_dir_all(&yolo).unwrap();
    link(&mask.join("images"), &yolo.join("images"));
    std::fs::write(yolo.join("classes.txt"), "con_mascarilla\nmascarilla_mal_puesta\nsin_mascarilla\n").unwrap();
    #[rustfmt::skip]
    run(Command::new(&globox).args(["-q", "convert", "-f", "pascalvoc", "-F", "yolov5", "-R"])
        .arg(yolo.join("classes.txt")).arg(mask.join("annotations")).arg(yolo.join("labels")));

    let voc = load(&format!("voc:{}@*", mask.display()));
    let faces: usize = voc.iter().map(|s| s.boxes.len()).sum();
    assert_eq!((voc.len(), faces), (853, 4072), "the set's README counts");
    let classes: std::collections::BTreeSet<_> = voc.iter().flat_map(|s| s.labels.iter().cloned()).collect();
    assert_eq!(classes.into_iter().collect::<Vec<_>>(), ["con_mascarilla", "mascarilla_mal_puesta", "sin_mascarilla"]);
    // The default class list takes every face of this set.
    let default: usize = load(&format!("voc:{}", mask.display())).iter().map(|s| s.boxes.len()).sum();
    assert_eq!(default, faces);
    let expected = by_name(&voc);
    assert_eq!(by_name(&load(&format!("coco:{}", coco.display()))), expected, "COCO");
    assert_eq!(by_name(&load(&format!("yolo:{}", yolo.display()))), expected, "YOLO");

    // The split: disjoint parts that cover the set, near 70/15/15, the same in every format.
    let mut parts = Vec::new();
    for part in ["train", "val", "test"] {
        let names: Vec<String> =
            by_name(&load(&format!("voc:{}@*@{part}", mask.display()))).into_iter().map(|(n, _)| n).collect();
        let coco_names: Vec<String> =
            by_name(&load(&format!("coco:{}@{part}", coco.display()))).into_iter().map(|(n, _)| n).collect();
        assert_eq!(coco_names, names, "{part}: COCO and VOC split alike");
        parts.push(names);
    }
    let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 853, "{sizes:?}");
    for (size, share) in sizes.iter().zip([0.70, 0.15, 0.15]) {
        assert!((*size as f64 / 853.0 - share).abs() < 0.05, "{sizes:?}");
    }
    let mut all: Vec<&String> = parts.iter().flatten().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 853, "no photo in two parts");
}

/// Each kind of file `facecam-train` reads, given as a FIFO (which blocked its open
/// forever), and a VOC file nested 30,000 elements deep (which overflowed the stack,
/// exit 134): each ends at once, exit 1, with one line naming the file.
#[test]
fn a_fifo_or_a_deep_file_is_refused_at_once() {
    let dir = scratch("train-fifo-inputs");
    let fifo = |rel: &str| {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        assert!(Command::new("mkfifo").arg(&path).status().unwrap().success());
        path.display().to_string()
    };
    let labelme = fifo("labelme/a.json");
    let coco = fifo("pipe.json");
    let voc = fifo("voc/annotations/a.xml");
    let meta = fifo("ckpt/meta.json");
    let recipe = fifo("recipe.toml");
    std::fs::create_dir_all(dir.join("deep/annotations")).unwrap();
    let deep = "<annotation>".to_string() + &"<a>".repeat(30_000) + &"</a>".repeat(30_000) + "</annotation>";
    std::fs::write(dir.join("deep/annotations/d.xml"), deep).unwrap();
    let at = |rel: &str| dir.join(rel).display().to_string();
    let data = |spec: String| vec!["import".to_string(), "--data".into(), spec];
    let cases: Vec<(Vec<String>, String)> = vec![
        (data(format!("labelme:{}", at("labelme"))), format!("{labelme}: is a FIFO, not a labelme file")),
        (data(format!("coco:{coco}")), format!("{coco}: is a FIFO, not a COCO file")),
        (data(format!("voc:{}", at("voc"))), format!("{voc}: is a FIFO, not a VOC file")),
        (data(format!("voc:{}", at("deep"))), "d.xml: malformed VOC file: XML nested deeper than 256 elements".into()),
        (
            ["export", "--checkpoint", &at("ckpt"), "--out", &at("m.onnx")].map(String::from).to_vec(),
            format!("{meta}: is a FIFO, not a checkpoint's metadata file"),
        ),
        (
            ["train", "--config", &recipe, "--data", &format!("labelme:{}", at("labelme")), "--out", &at("run")]
                .map(String::from)
                .to_vec(),
            format!("{recipe}: is a FIFO, not a training recipe"),
        ),
    ];
    for (args, says) in cases {
        // The recipe is the user's input, as the camera's config file is: exit 2.
        let want = if args.iter().any(|a| a == "--config") { 2 } else { 1 };
        let mut cmd = Command::new(bin("facecam-train"));
        cmd.args(&args);
        let (code, stderr) = run_within(&mut cmd, std::time::Duration::from_secs(20));
        assert_eq!(code, want, "{args:?}: {stderr}");
        assert!(stderr.contains(&says), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
