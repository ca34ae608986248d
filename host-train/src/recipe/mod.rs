//! Recipe files: a training run's settings as TOML tables (`[data]`, `[net]`, `[target]`,
//! `[optim]`, `[run]`, `[augment]`, `[[phase]]`), read into a [`TrainConfig`] and the
//! data the run reads ([`DataRecipe`]).
//!
//! Paths in a recipe (`[data]`'s specs and files, `[net] init`) are relative to the
//! recipe file's folder unless absolute; a leading `~` is the home folder and `$VAR` or
//! `${VAR}` an environment variable (unset: an error). Every key is optional: absent keys
//! take the defaults (`facecam-train config --print`), or with `init`, the checkpoint's
//! network and target rule ([`inherit`]).

use crate::config::{Phase, TrainConfig};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

mod fill;
pub mod keys;
mod paths;
pub mod print;
pub mod tables;

pub use fill::{inherit, mismatch_fix, net_diff, to_tables};
use tables::RecipeFile;

/// A recipe read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    /// Its training settings.
    pub train: TrainConfig,
    /// Its `[data]`, paths resolved.
    pub data: DataRecipe,
    /// The `TrainConfig` fields of `[net]` and `[target]` it sets itself (the others, with
    /// `init`, come from the checkpoint).
    pub given: Vec<&'static str>,
}

/// A recipe's `[data]`, each source listed `weight` times, paths resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataRecipe {
    /// Training sources, `KIND:PATH[@OPTION]`.
    pub sources: Vec<String>,
    /// Validation sources.
    pub val: Vec<String>,
    /// Photo names to leave out.
    pub exclude: Option<PathBuf>,
    /// WIDER val images for the proxy AP.
    pub proxy_images: Option<PathBuf>,
    /// The proxy's ground-truth folder.
    pub proxy_gt: Option<PathBuf>,
    /// Every this many-th val image is in the proxy slice.
    pub proxy_stride: Option<usize>,
    /// Measure the proxy every this many epochs.
    pub proxy_every: Option<u32>,
}

/// Read the recipe at `path`; every error names the file (and line:column where the
/// key is in it) and is a usage error (exit 2), as the camera's config file's are.
pub fn load(path: &Path) -> Result<Recipe> {
    let text =
        edge::input::read_text(path, "a training recipe", edge::input::MAX_TEXT_BYTES).map_err(edge::exit::usage)?;
    let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut recipe = parse(&text, base).map_err(|e| edge::exit::usage(anyhow::anyhow!("{}:{e:#}", path.display())))?;
    recipe.train.recipe_file = Some(path.to_path_buf());
    Ok(recipe)
}

/// Parse a recipe's text, its relative paths taken from `base`. Errors start with
/// `LINE:COL: ` where the place is known, else with ` `.
pub fn parse(text: &str, base: &Path) -> Result<Recipe> {
    edge::input::nesting::check_toml(text).map_err(|e| anyhow::anyhow!(" {e}"))?;
    let file: RecipeFile = toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| keys::line_col(text, s.start)).map_or(" ".to_string(), |(l, c)| format!("{l}:{c}: "));
        let msg = e.message().trim().replace('\n', "; ");
        anyhow::anyhow!("{at}{msg}{}", keys::table_hint(&msg))
    })?;
    let recipe = convert(&file, base).map_err(|e| anyhow::anyhow!(" {e:#}"))?;
    recipe.train.validate().map_err(|e| keys::place(text, &format!("{e:#}")))?;
    Ok(recipe)
}

/// The settings and data of `file`, paths resolved against `base`.
fn convert(file: &RecipeFile, base: &Path) -> Result<Recipe> {
    let mut train = TrainConfig::default();
    let given = fill::apply(file, &mut train);
    if let Some(init) = &file.net.init {
        train.init = Some(paths::resolve(base, init, "net.init")?);
    }
    train.phases = phases(file, &train)?;
    if !train.phases.is_empty() {
        let sum = train.phases.iter().fold(0u32, |s, p| s.saturating_add(p.epochs));
        match file.optim.epochs {
            Some(e) if e != sum => {
                bail!("`optim.epochs` = {e}, but the phases add up to {sum}: drop `optim.epochs` or make them agree")
            }
            _ => train.epochs = sum,
        }
    }
    Ok(Recipe { train, data: data(file, base)?, given })
}

/// The `[[phase]]` tables, each `[augment]` with its overrides.
fn phases(file: &RecipeFile, train: &TrainConfig) -> Result<Vec<Phase>> {
    let mut out = Vec::new();
    for (i, p) in file.phase.iter().enumerate() {
        let name = p.name.clone().unwrap_or_else(|| format!("phase {}", i + 1));
        let Some(epochs) = p.epochs else { bail!("`phase` {} ({name}): needs `epochs`", i + 1) };
        let mut augment = train.augment.clone();
        fill::augment(&p.augment, &mut augment);
        out.push(Phase { name, epochs, augment });
    }
    Ok(out)
}

/// `[data]` with each source repeated `weight` times and every path resolved.
fn data(file: &RecipeFile, base: &Path) -> Result<DataRecipe> {
    let d = &file.data;
    let mut sources = Vec::new();
    for (i, s) in d.sources.iter().flatten().enumerate() {
        let weight = s.weight.unwrap_or(1);
        if !(1..=16).contains(&weight) {
            bail!("`data.sources[{i}].weight` = {weight}: must be 1..=16");
        }
        let spec = paths::resolve_spec(base, &s.spec).with_context(|| format!("`data.sources[{i}]`"))?;
        sources.extend(std::iter::repeat_n(spec, weight as usize));
    }
    let val = (d.val.iter().flatten().enumerate())
        .map(|(i, s)| paths::resolve_spec(base, s).with_context(|| format!("`data.val[{i}]`")))
        .collect::<Result<Vec<_>>>()?;
    let path = |v: &Option<String>, key| v.as_deref().map(|p| paths::resolve(base, p, key)).transpose();
    let count = |v: Option<u32>, key: &str, hi: u32| -> Result<Option<u32>> {
        match v {
            Some(n) if !(1..=hi).contains(&n) => bail!("`{key}` = {n}: must be 1..={hi}"),
            _ => Ok(v),
        }
    };
    Ok(DataRecipe {
        sources,
        val,
        exclude: path(&d.exclude, "data.exclude")?,
        proxy_images: path(&d.proxy_images, "data.proxy_images")?,
        proxy_gt: path(&d.proxy_gt, "data.proxy_gt")?,
        proxy_stride: count(d.proxy_stride, "data.proxy_stride", 1000)?.map(|n| n as usize),
        proxy_every: count(d.proxy_every, "data.proxy_every", 1000)?,
    })
}

#[cfg(test)]
mod tests;
