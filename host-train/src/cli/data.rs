//! `synth`, `import` and `augment`: making, checking and looking at training data.

use super::{load_photos, DataArgs};
use anyhow::{bail, Result};
use clap::Args;
use edge::preprocess::parse_size;
use host_train::config::TrainConfig;
use host_train::data::{self, Sample, Source, SynthOptions};
use host_train::{loader, teach};
use rand::SeedableRng;
use std::path::PathBuf;

/// `synth`'s options.
#[derive(Args)]
pub struct SynthArgs {
    /// The folder to write the images and their labelme JSON into.
    #[arg(long)]
    out: PathBuf,
    /// Images to generate, 1..=100000.
    #[arg(long, default_value_t = 200, value_parser = super::count(1, 100_000))]
    count: usize,
    /// Random seed: the same seed gives the same set.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Image size, WIDTHxHEIGHT.
    #[arg(long, default_value = "320x240", value_parser = parse_size)]
    size: (u32, u32),
}

/// `import`'s options.
#[derive(Args)]
pub struct ImportArgs {
    #[command(flatten)]
    data: DataArgs,
}

/// `augment`'s options.
#[derive(Args)]
pub struct AugmentArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Write the grid here.
    #[arg(long, default_value = "out/augment-preview.png")]
    preview: PathBuf,
    /// Samples to draw (1..=256).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    count: u16,
    /// Model input size, WIDTHxHEIGHT (default: the config's, or 320x240).
    #[arg(long, alias = "input", value_parser = parse_size)]
    input_size: Option<(u32, u32)>,
    /// Labelling and augmentation settings from a training config (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// A checkpoint whose network ranks the negatives, as mining does while it trains.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Show the images as they are, without augmentation.
    #[arg(long)]
    no_augment: bool,
    /// Random seed for which images are drawn and how they are augmented.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// `facecam-train synth`.
pub fn synth(a: SynthArgs) -> Result<()> {
    let opts = SynthOptions { count: a.count, seed: a.seed, width: a.size.0, height: a.size.1, ..Default::default() };
    let samples = data::generate_synthetic(&a.out, &opts)?;
    let faces: usize = samples.iter().map(|s| s.boxes.len()).sum();
    println!("wrote {} images with {faces} faces to {}", samples.len(), a.out.display());
    Ok(())
}

/// `facecam-train import`: each source's images, faces, ignore regions and classes.
pub fn import(a: ImportArgs) -> Result<()> {
    for spec in &a.data.data {
        let samples = Source::parse(spec)?.load()?;
        let faces: usize = samples.iter().map(|s| s.boxes.iter().filter(|b| !b.ignore).count()).sum();
        let ignored: usize = samples.iter().map(|s| s.boxes.iter().filter(|b| b.ignore).count()).sum();
        let missing = samples.iter().filter(|s| !s.image.exists()).count();
        println!(
            "{spec}: {} images, {faces} faces, {ignored} ignore regions, {missing} missing image files",
            samples.len()
        );
        let mut classes = std::collections::BTreeMap::<&str, usize>::new();
        for s in &samples {
            (0..s.boxes.len()).for_each(|i| *classes.entry(s.label(i)).or_default() += 1);
        }
        if classes.len() > 1 || classes.keys().any(|c| *c != "face") {
            let list: Vec<String> = classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
            println!("  classes: {}", list.join(", "));
        }
    }
    Ok(())
}

/// `facecam-train augment`: the grid of what is taught, and its table.
pub fn augment(a: AugmentArgs) -> Result<()> {
    let count = a.count as usize;
    let cfg = match &a.config {
        Some(path) => host_train::recipe::load(path)?.train,
        None => TrainConfig::default(),
    };
    let input = a.input_size.unwrap_or((cfg.width, cfg.height));
    let samples = load_photos(&a.data.data)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(a.seed);
    // Only the images that are shown need decoding.
    let picked: Vec<Sample> = (0..count.min(samples.len()).max(1))
        .map(|_| samples[rand::Rng::random_range(&mut rng, 0..samples.len())].clone())
        .collect();
    let (prepared, skipped) = loader::prepare(&picked, 4 * input.0.max(input.1));
    for (p, why) in &skipped {
        log::warn!("skipping {}: {why}", p.display());
    }
    if prepared.is_empty() {
        bail!("none of the picked images could be read");
    }
    let card = edge::model::ModelCard {
        priors: cfg.priors(),
        ..edge::model::ModelCard::new(input.0, input.1, edge::model::Provenance::default())
    };
    let maker = loader::BatchMaker::new(card, cfg.match_rule());
    let net = a.checkpoint.as_deref().map(|dir| host_train::checkpoint::load(dir, tch::Device::Cpu)).transpose()?;
    let aug = (!a.no_augment).then_some(&cfg.augment);
    let t = teach::teach(&prepared, &maker, aug, net.as_ref().map(|n| &n.1), cfg.neg_ratio, count, &mut rng)?;
    super::create_parent(&a.preview)?;
    edge::atomic::write_png(&a.preview, &t.grid)?;
    print!("{}", teach::table(&t));
    println!("wrote {count} samples to {}", a.preview.display());
    Ok(())
}
