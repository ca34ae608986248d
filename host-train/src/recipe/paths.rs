//! Paths in a recipe: `~` and `$VAR` expanded, then taken relative to the recipe's
//! folder unless absolute.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// `~/x`, `$HOME/x` or `${HOME}/x` expanded; an unset variable is an error naming `key`.
fn expand(s: &str, key: &str) -> Result<String> {
    let home = || std::env::var("HOME").ok().filter(|h| !h.is_empty());
    let mut s = s.to_string();
    if s == "~" || s.starts_with("~/") {
        let Some(h) = home() else { bail!("`{key}` = {s:?}: `~` with HOME unset") };
        s = format!("{h}{}", &s[1..]);
    }
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, tail) = match after.strip_prefix('{') {
            Some(b) => match b.find('}') {
                Some(end) => (&b[..end], &b[end + 1..]),
                None => bail!("`{key}` = {s:?}: `${{` without its `}}`"),
            },
            None => {
                let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        if name.is_empty() {
            bail!("`{key}` = {s:?}: `$` without a variable name");
        }
        match std::env::var(name) {
            Ok(v) => out.push_str(&v),
            Err(_) => bail!("`{key}` = {s:?}: environment variable {name} is not set"),
        }
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

/// The path `s` of the recipe key `key`, expanded and taken relative to `base`.
pub fn resolve(base: &Path, s: &str, key: &str) -> Result<PathBuf> {
    if s.is_empty() {
        bail!("`{key}`: an empty path");
    }
    Ok(base.join(expand(s, key)?))
}

/// A data source spec `KIND:PATH[@OPTION]` with its path resolved as [`resolve`]'s,
/// checked as `--data` checks it.
pub fn resolve_spec(base: &Path, spec: &str) -> Result<String> {
    let Some((kind, path)) = spec.split_once(':') else {
        bail!("{spec:?}: not KIND:PATH (kinds wider, labelme, voc, coco, yolo, crops)");
    };
    let resolved = format!("{kind}:{}", resolve(base, path, "spec")?.display());
    crate::data::Source::parse(&resolved).map_err(|e| anyhow::anyhow!("{spec:?}: {e:#}"))?;
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_and_variables_expand_and_relative_paths_follow_the_recipe() {
        std::env::set_var("FACECAM_RECIPE_TEST_DIR", "/data");
        let base = Path::new("recipes");
        assert_eq!(resolve(base, "x/y", "k").unwrap(), Path::new("recipes/x/y"));
        assert_eq!(resolve(base, "/abs", "k").unwrap(), Path::new("/abs"));
        assert_eq!(resolve(base, "$FACECAM_RECIPE_TEST_DIR/a", "k").unwrap(), Path::new("/data/a"));
        assert_eq!(resolve(base, "${FACECAM_RECIPE_TEST_DIR}b", "k").unwrap(), Path::new("/datab"));
        let home = std::env::var("HOME").unwrap();
        assert_eq!(resolve(base, "~/w", "k").unwrap(), Path::new(&home).join("w"));
        let err = resolve(base, "$FACECAM_NO_SUCH_VAR_X/a", "data.exclude").unwrap_err().to_string();
        assert_eq!(
            err,
            "`data.exclude` = \"$FACECAM_NO_SUCH_VAR_X/a\": environment variable FACECAM_NO_SUCH_VAR_X is not set"
        );
        assert_eq!(resolve_spec(base, "wider:../data@train").unwrap(), "wider:recipes/../data@train");
        assert!(resolve_spec(base, "nonsense").is_err());
    }
}
