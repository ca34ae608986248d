//! `config`: the recipe format's defaults, and a recipe (a detector's or a classifier's)
//! checked without training.

use anyhow::Result;
use clap::Args;
use host_train::recipe;
use std::path::PathBuf;

/// `config`'s options.
#[derive(Args)]
#[command(group = clap::ArgGroup::new("what").required(true))]
pub struct ConfigArgs {
    /// Print the default recipe: every key of every table with what it does and its
    /// range, as TOML that reads back as the defaults.
    #[arg(long, group = "what")]
    print: bool,
    /// Read and check this recipe (keys, ranges, data source specs) without training.
    #[arg(long, group = "what", value_name = "RECIPE")]
    check: Option<PathBuf>,
}

/// `facecam-train config`.
pub fn config(a: ConfigArgs) -> Result<()> {
    if let Some(path) = &a.check {
        let r = match recipe::load(path) {
            Ok(r) => r,
            // A classifier's recipe (recipes/facemask.toml) has tables of its own.
            Err(e) => return check_classifier(path).map_err(|_| e),
        };
        let t = &r.train;
        println!(
            "{}: a valid recipe: {} epochs{}, {} training source(s), {} validation source(s){}",
            path.display(),
            t.epochs,
            match t.phases.len() {
                0 => String::new(),
                n => format!(" in {n} phases"),
            },
            r.data.sources.len(),
            r.data.val.len(),
            t.init.as_ref().map_or(String::new(), |i| format!(", starting from {}", i.display()))
        );
    }
    if a.print {
        print!("{}", recipe::print::defaults());
    }
    Ok(())
}

/// `--check` of a file that is no detector recipe: valid as a classifier's? (`Err`: no,
/// and the caller reports the detector recipe's error.)
fn check_classifier(path: &std::path::Path) -> Result<()> {
    let c = host_train::classify::ClassifyConfig::load(path)?;
    println!(
        "{}: a valid classifier recipe (facecam-train classify --config): {} epochs, {} class display name(s)",
        path.display(),
        c.epochs,
        c.class_names.len()
    );
    Ok(())
}
