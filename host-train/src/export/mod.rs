//! Export a trained network to ONNX: BatchNorm folded into the convolutions, the
//! model card in `metadata_props`, opset 13, dynamic batch and input size.

pub(crate) mod graph;

use crate::net::{
    backbone_path, head_path, lateral_path, rfb_branch_path, rfb_merge_path, rfb_shortcut_path, Block, ConvSpec,
    NetSpec,
};
use anyhow::{Context, Result};
use edge::model::{ModelCard, CARD_KEY};
use graph::{tensor_info, GraphBuilder};
use std::collections::HashMap;
use std::path::Path;
use tch::{Kind, Tensor};
use tract_onnx::pb::{ModelProto, OperatorSetIdProto, StringStringEntryProto};

/// The ONNX operator set the exporter writes.
pub const OPSET: i64 = 13;
/// BatchNorm epsilon used by tch's `batch_norm2d` default config.
const BN_EPS: f64 = 1e-5;

fn var<'a>(vars: &'a HashMap<String, Tensor>, name: &str) -> Result<&'a Tensor> {
    vars.get(name).with_context(|| format!("checkpoint has no variable `{name}`"))
}

pub(crate) fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    Ok(Vec::<f32>::try_from(t.to_kind(Kind::Float).flatten(0, -1))?)
}

/// A convolution's weight and bias with its BatchNorm (if any) folded in:
/// `w' = w * g / sqrt(v + eps)`, `b' = beta - m * g / sqrt(v + eps)`.
pub fn folded_conv(vars: &HashMap<String, Tensor>, path: &str, spec: &ConvSpec) -> Result<(Tensor, Tensor)> {
    let w = var(vars, &format!("{path}.conv.weight"))?.to_kind(Kind::Double);
    if !spec.bn {
        let b = var(vars, &format!("{path}.conv.bias"))?.to_kind(Kind::Double);
        return Ok((w, b));
    }
    let bn = |n: &str| var(vars, &format!("{path}.bn.{n}")).map(|t| t.to_kind(Kind::Double));
    let scale = bn("weight")? / (bn("running_var")? + BN_EPS).sqrt();
    let bias = bn("bias")? - bn("running_mean")? * &scale;
    Ok((w * scale.view([-1, 1, 1, 1]), bias))
}

/// A conv (BatchNorm folded, output multiplied by `scale`) and its ReLU.
fn add_conv_scaled(
    g: &mut GraphBuilder,
    vars: &HashMap<String, Tensor>,
    x: &str,
    path: &str,
    s: &ConvSpec,
    scale: f64,
) -> Result<String> {
    let (w, b) = folded_conv(vars, path, s)?;
    let (w, b) = (w * scale, b * scale);
    let wn = g.float_const(&format!("{path}.weight"), &w.size(), &to_vec(&w)?);
    let bn = g.float_const(&format!("{path}.bias"), &b.size(), &to_vec(&b)?);
    let y = g.conv(x, wn, bn, s);
    Ok(if s.relu { g.relu(&y) } else { y })
}

pub(crate) fn add_conv(
    g: &mut GraphBuilder,
    vars: &HashMap<String, Tensor>,
    x: &str,
    path: &str,
    s: &ConvSpec,
) -> Result<String> {
    add_conv_scaled(g, vars, x, path, s, 1.0)
}

/// Backbone block `i`; a receptive-field block's scale is folded into its merge conv.
fn add_block(g: &mut GraphBuilder, vars: &HashMap<String, Tensor>, x: &str, i: usize, block: &Block) -> Result<String> {
    let r = match block {
        Block::Conv(s) => return add_conv(g, vars, x, &backbone_path(i), s),
        Block::Rfb(r) => r,
    };
    let mut outs = Vec::new();
    for (b, convs) in r.branches.iter().enumerate() {
        let mut y = x.to_string();
        for (j, s) in convs.iter().enumerate() {
            y = add_conv(g, vars, &y, &rfb_branch_path(i, b, j), s)?;
        }
        outs.push(y);
    }
    let cat = g.concat(outs, 1, None);
    let merged = add_conv_scaled(g, vars, &cat, &rfb_merge_path(i), &r.merge, r.scale)?;
    let short = add_conv(g, vars, x, &rfb_shortcut_path(i), &r.shortcut)?;
    let sum = g.add(&merged, &short);
    Ok(g.relu(&sum))
}

/// Build the ONNX model for `spec` with the weights in `vars` (a tch VarStore's
/// `variables()`), carrying `card`.
pub fn build_model(spec: &NetSpec, vars: &HashMap<String, Tensor>, card: &ModelCard) -> Result<ModelProto> {
    let mut g = GraphBuilder::default();
    let vars: HashMap<String, Tensor> = vars.iter().map(|(k, v)| (k.clone(), v.to_device(tch::Device::Cpu))).collect();
    let mut feats = Vec::new();
    let mut x = card.input.name.clone();
    for (i, block) in spec.backbone.iter().enumerate() {
        x = add_block(&mut g, &vars, &x, i, block)?;
        feats.push(x.clone());
    }
    let (mut cls, mut reg) = (Vec::new(), Vec::new());
    for (l, h) in spec.heads.iter().enumerate() {
        let mut input = feats[h.tap].clone();
        if let Some(lat) = &h.lateral {
            let y = add_conv(&mut g, &vars, &feats[lat.from], &lateral_path(l), &lat.conv)?;
            let up = g.upsample2_like(&y, lat.conv.cout, &input);
            input = g.add(&input, &up);
        }
        for (branch, layers, k, outs) in [("cls", &h.cls, spec.classes, &mut cls), ("reg", &h.reg, 4, &mut reg)] {
            let mut y = input.clone();
            for (j, s) in layers.iter().enumerate() {
                y = add_conv(&mut g, &vars, &y, &head_path(l, branch, j), s)?;
            }
            outs.push(g.head_to_priors(&y, k));
        }
    }
    let logits = g.concat(cls, 1, None);
    g.softmax(&logits, 2, Some(&card.outputs.scores));
    g.concat(reg, 1, Some(&card.outputs.boxes));
    let graph = g.finish(
        &spec.name,
        vec![tensor_info(&card.input.name, &[Err("N"), Ok(3), Err("H"), Err("W")])],
        vec![
            tensor_info(&card.outputs.scores, &[Err("N"), Err("P"), Ok(spec.classes)]),
            tensor_info(&card.outputs.boxes, &[Err("N"), Err("P"), Ok(4)]),
        ],
    );
    Ok(ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
        producer_name: "facecam-train".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("facecam face detector {}", spec.name),
        graph: Some(graph),
        metadata_props: vec![StringStringEntryProto { key: CARD_KEY.into(), value: card.to_json() }],
        ..Default::default()
    })
}

/// Build and write the model to `path` atomically.
pub fn export_onnx(spec: &NetSpec, vars: &HashMap<String, Tensor>, card: &ModelCard, path: &Path) -> Result<()> {
    write_model(path, &build_model(spec, vars, card)?)
}

/// Write an ONNX model to `path` atomically, creating its folder: every model file the
/// trainer writes (detector, classifier, int8) goes through here.
pub fn write_model(path: &Path, model: &ModelProto) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    edge::atomic::write(path, &prost::Message::encode_to_vec(model))
}

/// The git commit of the working directory, or `"unknown"`.
pub(crate) fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// A path as a card may show it: relative to the working directory when inside it, else
/// only its last component (never this machine's absolute layout).
pub(crate) fn portable(path: &Path) -> std::path::PathBuf {
    let here = std::env::current_dir().unwrap_or_default();
    match path.strip_prefix(&here) {
        Ok(inside) => inside.to_path_buf(),
        Err(_) if path.is_absolute() => path.file_name().map(Into::into).unwrap_or_default(),
        Err(_) => path.to_path_buf(),
    }
}

/// Export a checkpoint directory to an ONNX file carrying a card with its provenance.
pub fn export_checkpoint(checkpoint: &Path, out: &Path, score_threshold: Option<f32>) -> Result<ModelCard> {
    let (vs, net, meta) = crate::checkpoint::load(checkpoint, tch::Device::Cpu)?;
    // The proxy settings are measurement, not training, and hold this machine's paths;
    // a fine-tuning run's starting checkpoint is named relative to here (the repository).
    // The card's recipe is in the tables of a recipe file (`--config` reads it back),
    // headed by the name of the file the run was given, when it was given one.
    let recipe = (meta.config.as_ref())
        .map(|c| -> Result<String> {
            let cfg = crate::config::TrainConfig { proxy: None, init: c.init.as_deref().map(portable), ..c.clone() };
            let text = toml::to_string(&crate::recipe::to_tables(&cfg))?;
            Ok(match &c.recipe_file {
                Some(file) => format!("# recipe: {}\n{text}", portable(file).display()),
                None => text,
            })
        })
        .transpose()
        .context("the training config does not serialise")?
        .unwrap_or_default();
    // Epochs trained in all: a fine-tuning run's plus those of the checkpoints it started
    // from, followed back (at most 16 stages, so a loop of folders cannot hang).
    let mut init_epochs = 0;
    let mut from = meta.config.as_ref().and_then(|c| c.init.clone());
    for _ in 0..16 {
        let Some(stage) = from.and_then(|dir| crate::checkpoint::read_meta(&dir).ok()) else { break };
        init_epochs = stage.epochs.saturating_add(init_epochs);
        from = stage.config.and_then(|c| c.init);
    }
    let provenance = edge::model::Provenance {
        data: crate::data::describe_sources(&meta.data),
        architecture: net.spec().name.clone(),
        epochs: meta.epochs.saturating_add(init_epochs),
        date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        git_commit: git_commit(),
        recipe,
    };
    // The priors the run trained (its config's), not the card's default.
    let priors = meta.config.as_ref().map(crate::config::TrainConfig::priors).unwrap_or_default();
    let card = ModelCard { score_threshold, priors, ..ModelCard::new(meta.width, meta.height, provenance) };
    card.validate()?;
    export_onnx(net.spec(), &vs.variables(), &card, out)?;
    Ok(card)
}
