//! `facecam-train`: import, train, export and evaluate facecam's face detector.

use anyhow::{bail, Context, Result};
use clap::Parser;
use host_train::augment::AugmentConfig;
use host_train::config::TrainConfig;
use host_train::data::{self, Sample, Source, SynthOptions};
use host_train::eval::{run_wider, wider};
use host_train::plot::{self, Series};
use host_train::proxy::ProxyConfig;
use host_train::{bench, eval, export, loader, quantize, teach, train};
use rand::SeedableRng;
use std::path::PathBuf;

mod classify_cli;
mod cli;

use cli::{CalibrationKind, Cli, Command, KeepFp32};

/// Load the detector's data: photos with their faces (crop folders hold no background).
fn load_all(specs: &[String]) -> Result<Vec<Sample>> {
    let mut all = Vec::new();
    for spec in specs {
        let source = Source::parse(spec)?;
        if source.is_crops() {
            bail!("{spec}: face crops (one face per file, no background) cannot teach a detector; use photos");
        }
        let samples = source.load()?;
        if samples.is_empty() {
            bail!("{spec}: no images");
        }
        all.extend(samples);
    }
    Ok(all)
}

fn main() -> std::process::ExitCode {
    edge::exit::exit_code(run(Cli::parse()))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Synth { out, count, seed, size } => {
            let opts = SynthOptions { count, seed, width: size.0, height: size.1, ..Default::default() };
            let samples = data::generate_synthetic(&out, &opts)?;
            let faces: usize = samples.iter().map(|s| s.boxes.len()).sum();
            println!("wrote {} images with {faces} faces to {}", samples.len(), out.display());
        }
        Command::Import { data } => {
            for spec in &data {
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
        }
        Command::Augment { data, preview, count, input, config, checkpoint, no_augment, seed } => {
            let count = count as usize;
            let cfg = match &config {
                Some(path) => TrainConfig::from_toml_file(path)?,
                None => TrainConfig::default(),
            };
            let input = input.unwrap_or((cfg.width, cfg.height));
            let samples = load_all(&data)?;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            // Only the images that are shown need decoding.
            let picked: Vec<Sample> = (0..count.min(samples.len()).max(1))
                .map(|_| samples[rand::Rng::random_range(&mut rng, 0..samples.len())].clone())
                .collect();
            let (prepared, skipped) = loader::prepare(&picked, 4 * input.0.max(input.1));
            for (p, why) in &skipped {
                eprintln!("warning: skipping {}: {why}", p.display());
            }
            if prepared.is_empty() {
                bail!("none of the picked images could be read");
            }
            let card = edge::model::ModelCard {
                priors: cfg.priors(),
                ..edge::model::ModelCard::new(input.0, input.1, edge::model::Provenance::default())
            };
            let maker = loader::BatchMaker::new(card, cfg.match_rule());
            let net =
                checkpoint.as_deref().map(|dir| host_train::checkpoint::load(dir, tch::Device::Cpu)).transpose()?;
            let aug = (!no_augment).then_some(&cfg.augment);
            let t = teach::teach(&prepared, &maker, aug, net.as_ref().map(|n| &n.1), cfg.neg_ratio, count, &mut rng)?;
            if let Some(dir) = preview.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
            }
            edge::atomic::write_png(&preview, &t.grid)?;
            print!("{}", teach::table(&t));
            println!("wrote {count} samples to {}", preview.display());
        }
        Command::Train {
            data,
            val,
            out,
            config,
            epochs,
            batch_size,
            lr,
            optimizer,
            schedule,
            device,
            arch,
            input,
            width,
            no_augment,
            no_cache,
            resume,
            init,
            stop_after,
            limit,
            exclude,
            seed,
            export,
            proxy_images,
            proxy_gt,
            proxy_stride,
            proxy_every,
            quiet,
        } => {
            let mut samples = load_all(&data)?;
            if let Some(list) = &exclude {
                let n = data::exclude_listed(&mut samples, list)?;
                eprintln!("left out {n} images listed in {}", list.display());
            }
            if let Some(n) = limit {
                samples.truncate(n);
            }
            let mut cfg = match &config {
                Some(path) => TrainConfig::from_toml_file(path)?,
                None => TrainConfig::default(),
            };
            cfg.epochs = epochs.unwrap_or(cfg.epochs);
            cfg.batch_size = batch_size.unwrap_or(cfg.batch_size);
            cfg.lr = lr.unwrap_or(cfg.lr);
            cfg.optimizer = optimizer.unwrap_or(cfg.optimizer);
            cfg.schedule = schedule.unwrap_or(cfg.schedule);
            cfg.device = device.unwrap_or(cfg.device);
            cfg.arch = arch.unwrap_or(cfg.arch);
            (cfg.width, cfg.height) = input.unwrap_or((cfg.width, cfg.height));
            cfg.net_width = width.unwrap_or(cfg.net_width);
            cfg.seed = seed.unwrap_or(cfg.seed);
            cfg.progress = !quiet;
            cfg.stop_after = stop_after;
            cfg.init = init.or(cfg.init);
            if no_augment {
                cfg.augment = AugmentConfig::none();
            }
            if no_cache {
                cfg.cache_images = false;
            }
            if let Some(images) = proxy_images {
                cfg.proxy = Some(ProxyConfig { images, gt: proxy_gt, stride: proxy_stride, every: proxy_every });
            }
            cfg.validate().map_err(edge::exit::usage)?;
            let val_samples = if val.is_empty() { Vec::new() } else { load_all(&val)? };
            let report = train::train(&samples, &val_samples, &data.join(" "), &cfg, &out, resume)?;
            println!(
                "trained {} epochs at {:.1} images/s; final loss {:.4}; checkpoint in {}",
                report.epoch_loss.len(),
                report.images_per_second,
                report.epoch_loss.last().copied().unwrap_or(f64::NAN),
                report.checkpoint.display()
            );
            if let Some(path) = export {
                export::export_checkpoint(&out, &path, None)?;
                println!("exported {}", path.display());
            }
        }
        Command::Bench { arch, batch_size, input, steps, device, python, no_python, out } => {
            let python = (!no_python).then(|| {
                python
                    .or_else(|| std::env::var_os("FACECAM_PYTHON").map(PathBuf::from))
                    .unwrap_or_else(|| "python3".into())
            });
            let opts = bench::BenchOptions {
                arch,
                batch: batch_size,
                width: input.0,
                height: input.1,
                steps,
                device: device.resolve()?,
                python,
                dir: out.clone(),
            };
            let r = bench::run(&opts)?;
            edge::atomic::write(&out.join("train-step.json"), serde_json::to_string_pretty(&r)?.as_bytes())?;
            println!("training step, batch {} at {}, {} threads, {:?}:", r.batch, r.input, r.threads, opts.device);
            println!("  facecam-train (Rust, tch) {:8.1} images/s", r.facecam_step);
            if let Some(py) = r.python_step {
                println!(
                    "  PyTorch-Python loop       {:8.1} images/s  (facecam/python = {:.2}x)",
                    py,
                    r.facecam_step / py
                );
            }
            println!("  input pipeline alone      {:8.1} images/s (augment, resize, normalise, match)", r.loader);
            println!("  ... decoding each JPEG    {:8.1} images/s (--no-cache)", r.loader_from_disk);
            println!("  the step computed as (3 interleaved rounds, medians):");
            for (name, ips, ratio) in &r.compute {
                println!("    {name:<20} {ips:8.1} images/s  {ratio:.2}x fp32 NCHW");
            }
        }
        Command::Export { checkpoint, out, score_threshold } => {
            let card = export::export_checkpoint(&checkpoint, &out, score_threshold)?;
            println!(
                "exported {} ({}, {} epochs) to {}",
                card.provenance.architecture,
                card.provenance.data,
                card.provenance.epochs,
                out.display()
            );
        }
        Command::WiderEval {
            model,
            gt,
            images,
            size,
            int8,
            score_threshold,
            nms_iou,
            top_k,
            candidates,
            no_vote,
            out,
        } => {
            let vote = !no_vote;
            let post = edge::detector::DetectOptions { score_threshold, nms_iou, top_k, candidates, vote };
            let (result, preds) = run_wider::run(&model, &gt, &images, size, int8, post, true)?;
            std::fs::create_dir_all(&out).with_context(|| format!("{}: cannot create", out.display()))?;
            run_wider::write_submission(&preds, &out.join("predictions"))?;
            let series: Vec<Series> = (0..3)
                .map(|s| Series {
                    label: format!("{} AP {:.3}", wider::SETTINGS[s], result.ap[s]),
                    points: &result.curves[s],
                })
                .collect();
            let title = format!("WIDER FACE val: {}", model.display());
            plot::unit_chart(&out.join("pr-curve.png"), &title, "recall", "precision", &series)?;
            let summary = serde_json::json!({
                "model": model.display().to_string(), "size": format!("{size:?}").to_lowercase(),
                "images": preds.len(), "score_threshold": score_threshold, "nms_iou": nms_iou, "top_k": top_k, "candidates": candidates, "vote": vote,
                "easy": result.ap[0], "medium": result.ap[1], "hard": result.ap[2],
            });
            edge::atomic::write(&out.join("ap.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
            println!(
                "WIDER val ({} images, {size:?} size): AP easy {:.4}  medium {:.4}  hard {:.4}; curves in {}",
                preds.len(),
                result.ap[0],
                result.ap[1],
                result.ap[2],
                out.join("pr-curve.png").display()
            );
        }
        Command::Quantize { model, data, count, calibration, percentile, keep_fp32, no_equalize, input, out } => {
            let proto = quantize::read_proto(&model)?;
            let classifier = matches!(
                quantize::Card::read(&proto).with_context(|| format!("{}: refused", model.display()))?,
                quantize::Card::Classifier(_)
            );
            // A classifier calibrates on faces, which crop folders hold too.
            let samples = if classifier { classify_cli::load(&data)? } else { load_all(&data)? };
            let opts = quantize::QuantizeOptions {
                method: match calibration {
                    CalibrationKind::Minmax => quantize::Method::MinMax,
                    CalibrationKind::Percentile => quantize::Method::Percentile(percentile),
                },
                keep_first: keep_fp32.contains(&KeepFp32::First),
                keep_last: keep_fp32.contains(&KeepFp32::Last),
                equalize: !no_equalize,
                size: input,
                data: data.join(" "),
                progress: true,
            };
            let r = if classifier {
                eprintln!("calibrating the classifier {} on {count} face crops ({})", model.display(), opts.method);
                quantize::faces::quantize_classifier(&model, &proto, &samples, count, &opts, &out)?
            } else {
                let images: Vec<PathBuf> =
                    quantize::pick_evenly(samples.len(), count).into_iter().map(|i| samples[i].image.clone()).collect();
                eprintln!("calibrating {} on {} images ({})", model.display(), images.len(), opts.method);
                quantize::quantize_detector(&model, &proto, &images, &opts, &out)?
            };
            println!(
                "wrote {}: {} convs int8, {} fp32, {} activations quantized, {} conv pairs equalized; {} -> {} bytes ({:.3}x)",
                out.display(),
                r.quantized_convs,
                r.fp32_layers.len(),
                r.activations,
                r.equalized_pairs,
                r.fp32_bytes,
                r.int8_bytes,
                r.int8_bytes as f64 / r.fp32_bytes as f64
            );
        }
        Command::Classifier(command) => classify_cli::run(command)?,
        Command::Eval { model, data, threshold, only } => {
            if !(threshold > 0.0 && threshold < 1.0) {
                bail!("--threshold {threshold}: must lie strictly between 0 and 1");
            }
            let mut samples = load_all(&data)?;
            if let Some(list) = &only {
                data::keep_listed(&mut samples, list)?;
            }
            let mut detector = edge::detector::Detector::load(&model)?;
            detector.options.score_threshold = threshold;
            let s = eval::evaluate(&mut detector, &samples)?;
            println!(
                "{} images, {} faces: recall {:.3} at IoU 0.5, {} false positives ({:.3} per image)",
                s.images,
                s.faces,
                s.recall(),
                s.false_pos,
                s.fp_per_image()
            );
        }
    }
    Ok(())
}
