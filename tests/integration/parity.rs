//! The exported ONNX file computes what the trained tch network computes: in tract (the
//! device's runtime) and in onnxruntime (the reference peer), after `onnx.checker`.
//! Also: the card round-trips through the file, and cardless or broken cards are refused.

use edge::detector::{read_card, Detector};
use edge::model::{ModelCard, Provenance, CARD_KEY};
use facecam_tests::{max_abs_diff, python_peer, read_f32, run, scratch, torch_rng, write_f32};
use host_train::export::{build_model, export_onnx};
use host_train::net::{Arch, Block, Net, NetSpec};
use std::process::Command;
use tch::{nn, Device, Kind, Tensor};

/// A network with non-trivial BatchNorm statistics and affine parameters, so folding
/// is really exercised (and, in the RFB block, a merge scale other than 1).
fn trained_looking_net(arch: Arch, width: f64) -> (nn::VarStore, Net) {
    let card = ModelCard::new(320, 240, Provenance::default());
    trained_looking(NetSpec::new(arch, width, &card.priors.anchors_per_cell(), 2))
}

/// The five-level card (a stride-4 level first) and the slim network with the stride-8
/// features upsampled into that level's head.
fn stride4_with_context() -> (ModelCard, NetSpec) {
    let cfg = host_train::config::TrainConfig {
        prior_sizes: Some(vec![
            vec![4.0],
            vec![6.0, 11.0, 18.0],
            vec![32.0, 48.0],
            vec![64.0, 96.0],
            vec![128.0, 256.0],
        ]),
        stride4_context: true,
        ..Default::default()
    };
    cfg.validate().unwrap();
    let card = ModelCard { priors: cfg.priors(), ..ModelCard::new(320, 240, Provenance::default()) };
    let spec = NetSpec::slim(1.0, &card.priors.anchors_per_cell(), 2).with_stride4_context().unwrap();
    (card, spec)
}

fn trained_looking(mut spec: NetSpec) -> (nn::VarStore, Net) {
    tch::manual_seed(7);
    for block in &mut spec.backbone {
        if let Block::Rfb(r) = block {
            r.scale = 0.7;
        }
    }
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Net::new(&vs.root(), spec);
    tch::no_grad(|| {
        for (name, mut t) in vs.variables() {
            if name.ends_with("bn.weight") {
                let _ = t.uniform_(0.5, 1.5);
            } else if name.ends_with("bn.bias") {
                let _ = t.uniform_(-0.2, 0.2);
            } else if name.contains("lateral") {
                // Laterals start at zero; a trained one is not.
                let _ = t.uniform_(-0.1, 0.1);
            }
        }
        // Training-mode passes move the running mean and variance off their defaults.
        for _ in 0..3 {
            let x = Tensor::randn([2, 3, 96, 128], (Kind::Float, Device::Cpu)) * 1.5 + 0.3;
            let _ = net.forward_t(&x, true);
        }
    });
    (vs, net)
}

fn tch_outputs(net: &Net, x: &Tensor) -> (Vec<f32>, Vec<f32>) {
    let (conf, loc) = tch::no_grad(|| net.forward_t(x, false));
    let scores = conf.softmax(2, Kind::Float);
    (Vec::<f32>::try_from(scores.flatten(0, -1)).unwrap(), Vec::<f32>::try_from(loc.flatten(0, -1)).unwrap())
}

#[test]
fn tch_tract_and_onnxruntime_agree() {
    let _rng = torch_rng();
    let card = ModelCard::new(320, 240, Provenance { data: "parity".into(), ..Default::default() });
    for arch in [Arch::Slim, Arch::Rfb] {
        agree(&format!("{arch:?}"), trained_looking_net(arch, 1.0), &card, &[(320, 240), (160, 128)]);
    }
}

/// The upsampled lateral as exported (a depthwise ConvTranspose of ones, then Slice) is
/// PyTorch's nearest upsampling, also where the stride-4 map is not twice the stride-8 one
/// (100x70: 25x18 from 13x9), and with a second lateral into the stride-8 head (13x9 from
/// 7x5).
#[test]
fn a_stride4_head_with_upsampled_context_exports_what_tch_computes() {
    let _rng = torch_rng();
    let (card, spec) = stride4_with_context();
    assert_eq!(spec.name, "slim-1.00+s4+up");
    agree("s4up", trained_looking(spec.clone()), &card, &[(320, 240), (100, 70)]);
    let both = spec.with_stride8_context().unwrap();
    assert_eq!(both.name, "slim-1.00+s4+up+up8");
    assert_eq!(both.heads[1].lateral.map(|l| l.from), Some(both.heads[2].tap));
    assert!(both.clone().with_stride8_context().is_none(), "one lateral per head");
    agree("s4up8", trained_looking(both), &card, &[(320, 240), (100, 70)]);
}

fn agree(what: &str, (vs, net): (nn::VarStore, Net), card: &ModelCard, sizes: &[(u32, u32)]) {
    let dir = scratch(&format!("parity-{what}"));
    let model = dir.join("model.onnx");
    export_onnx(net.spec(), &vs.variables(), card, &model).unwrap();
    let peer = python_peer();

    // The card's size and another one: the graph has no baked-in priors.
    for &(w, h) in sizes {
        let w_h = format!("{} {w}x{h}", net.spec().name);
        let x = Tensor::randn([1, 3, h as i64, w as i64], (Kind::Float, Device::Cpu));
        let (scores, boxes) = tch_outputs(&net, &x);
        let input = Vec::<f32>::try_from(x.flatten(0, -1)).unwrap();

        let mut det = Detector::load_sized(&model, Some((w, h))).unwrap();
        let raw = det.forward_tensor(&input).unwrap();
        let (ds, db) = (max_abs_diff(&raw.scores, &scores), max_abs_diff(&raw.boxes, &boxes));
        eprintln!("{w_h}: tract vs tch max |diff| scores {ds:.2e} boxes {db:.2e}");
        assert!(ds <= 1e-4 && db <= 1e-4, "tract differs from tch at {w_h}: {ds} / {db}");

        if let Some(py) = &peer {
            let input_path = dir.join(format!("input-{w}x{h}.f32"));
            write_f32(&input_path, &input);
            let prefix = dir.join(format!("ort-{w}x{h}"));
            let script = facecam_tests::repo_root().join("tests/peer/onnx_peer.py");
            let out = run(Command::new(py)
                .arg(&script)
                .arg(&model)
                .arg(&input_path)
                .args(["1", "3"])
                .arg(h.to_string())
                .arg(w.to_string())
                .arg(&prefix));
            assert!(out.starts_with("ok scores,boxes"), "{out}");
            let os = read_f32(&prefix.with_extension("scores.f32"));
            let ob = read_f32(&prefix.with_extension("boxes.f32"));
            let (ds, db) = (max_abs_diff(&os, &scores), max_abs_diff(&ob, &boxes));
            eprintln!("{w_h}: onnxruntime vs tch max |diff| scores {ds:.2e} boxes {db:.2e}");
            assert!(ds <= 1e-4 && db <= 1e-4, "onnxruntime differs from tch at {w_h}: {ds} / {db}");
        }
    }
}

#[test]
fn card_round_trips_and_bad_cards_are_refused() {
    let _rng = torch_rng();
    let dir = scratch("card");
    let (vs, net) = trained_looking_net(Arch::Slim, 0.25);
    let card = ModelCard::new(320, 240, Provenance { data: "x".into(), epochs: 4, ..Default::default() });
    let mut proto = build_model(net.spec(), &vs.variables(), &card).unwrap();
    assert_eq!(read_card(&proto).unwrap(), card);

    let good = dir.join("good.onnx");
    std::fs::write(&good, prost::Message::encode_to_vec(&proto)).unwrap();
    assert_eq!(Detector::load(&good).unwrap().card(), &card);

    proto.metadata_props.retain(|e| e.key != CARD_KEY);
    let cardless = dir.join("cardless.onnx");
    std::fs::write(&cardless, prost::Message::encode_to_vec(&proto)).unwrap();
    let err = format!("{:#}", Detector::load(&cardless).err().unwrap());
    assert!(err.contains("cardless.onnx") && err.contains("no `facecam.card`"), "{err}");

    proto
        .metadata_props
        .push(tract_onnx::pb::StringStringEntryProto { key: CARD_KEY.into(), value: "{\"format\":1".into() });
    let broken = dir.join("broken.onnx");
    std::fs::write(&broken, prost::Message::encode_to_vec(&proto)).unwrap();
    let err = format!("{:#}", Detector::load(&broken).err().unwrap());
    assert!(err.contains("broken.onnx") && err.contains("unreadable"), "{err}");

    let junk = dir.join("junk.onnx");
    std::fs::write(&junk, b"this is not protobuf at all").unwrap();
    let err = format!("{:#}", Detector::load(&junk).err().unwrap());
    assert!(err.contains("junk.onnx"), "{err}");
}
