//! `facecam-train config --print`: the defaults as a recipe, every key with what it does
//! and its range; keys absent by default are shown commented out with an example.

use super::keys::KEYS;
use crate::config::TrainConfig;

/// The tables in the order they are printed.
const TABLES: [&str; 6] = ["data", "net", "target", "optim", "run", "augment"];

/// The default recipe as commented TOML; read back, it gives the defaults.
pub fn defaults() -> String {
    let cfg = TrainConfig::default();
    let flat = toml::Value::try_from(&cfg).unwrap_or(toml::Value::Table(Default::default()));
    let mut out = String::from(
        "# facecam-train recipe: every key with its default (`facecam-train config --print`).\n\
         # Every key is optional. Paths are relative to the recipe file's folder unless\n\
         # absolute; `~` is the home folder, `$VAR` or `${VAR}` an environment variable.\n\
         # With [net] init (or --init), absent [net] and [target] keys take the checkpoint's.\n",
    );
    for table in TABLES {
        out += &format!("\n[{table}]\n");
        for key in KEYS.iter().filter(|k| k.table == table) {
            out += &format!("# {}\n# range: {}\n", key.doc, key.range);
            let value = match key.key {
                "input_size" => Some(format!("[{}, {}]", cfg.width, cfg.height)),
                _ if key.field.is_empty() => None,
                _ => lookup(&flat, key.field).map(render),
            };
            out += &match value {
                Some(v) => format!("{} = {v}\n", key.key),
                None => format!("# {} = {}\n", key.key, key.example),
            };
        }
    }
    out += "\n# The schedule in phases (optional), in order: each phase's epochs train with\n\
            # [augment] changed by the keys of its [phase.augment]; [optim] epochs is their\n\
            # sum. E.g. SSD crops first, then whole images at the model's input size:\n\
            # [[phase]]\n# name = \"crops\"\n# epochs = 20\n\
            # [[phase]]\n# name = \"whole images\"\n# epochs = 6\n\
            # [phase.augment]\n# crop = 0.0\n# expand = 0.0\n";
    out
}

/// The value at a dotted `field` of `v`.
fn lookup<'a>(v: &'a toml::Value, field: &str) -> Option<&'a toml::Value> {
    field.split('.').try_fold(v, |v, part| v.get(part))
}

/// `v` as TOML, floats at their shortest (a widened f32 as the f32 it was).
fn render(v: &toml::Value) -> String {
    match v {
        toml::Value::Float(f) => {
            let s = if (*f as f32) as f64 == *f { (*f as f32).to_string() } else { f.to_string() };
            if s.contains(['.', 'e', 'n', 'i']) {
                s
            } else {
                s + ".0"
            }
        }
        toml::Value::Array(a) => format!("[{}]", a.iter().map(render).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}
