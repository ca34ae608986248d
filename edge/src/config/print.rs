//! The commented default config file (`facecam config --print`, shipped as
//! packaging/facecam.toml): every key with its flag's help, defaults commented out.

use super::keyed_args;
use clap::{ArgAction, Command};
use std::fmt::Write;

/// The file's head: how it is read.
const HEAD: &str = "\
# facecam: the settings of `facecam run --config FILE` (TOML; `facecam config --check FILE`
# checks a file without running). Each key is a `facecam run` flag in snake_case
# (--min-face-seconds → min_face_seconds): switches take true or false, repeatable flags a
# list (sink = [\"http:8080\", \"mqtt:broker/facecam\"]). A flag on the command line overrides
# its key; for a repeatable flag, the whole list. Relative paths are relative to this
# file's folder. Every key below is commented out at its default (a key with nothing after
# `=` has none): uncomment and edit a line to change it.
";

/// Zones and masks, as an example.
const AREAS: &str = "
# Zones and masks: polygons in fractions of the frame's width and height (0..=1, at least
# 3 corners), so they survive a change of resolution. A face whose box centre lies in a
# mask is ignored (never tracked, never an event); a face in a zone carries its name
# (\"zones\": [\"door\"] in the JSON and face events; per-zone counts over MQTT).
# [[zone]]
# name = \"door\"
# polygon = [[0.6, 0.1], [0.95, 0.1], [0.95, 0.9], [0.6, 0.9]]
# [[mask]]
# name = \"tv\"
# polygon = [[0.0, 0.0], [0.3, 0.0], [0.3, 0.4], [0.0, 0.4]]
";

/// A default value as TOML: numbers and booleans as they are, anything else quoted.
fn toml_value(s: &str) -> String {
    let number = s.parse::<f64>().is_ok() && s.chars().all(|c| c.is_ascii_digit() || ".-".contains(c));
    match number || s == "true" || s == "false" {
        true => s.to_string(),
        false => toml::Value::String(s.to_string()).to_string(),
    }
}

/// Columns of a comment line's text.
const WIDTH: usize = 86;

/// A help line cut at spaces into lines of at most [`WIDTH`] characters (a longer word
/// stands alone); continuation lines keep the line's indent.
fn wrap(line: &str) -> Vec<String> {
    let indent = &line[..line.len() - line.trim_start().len()];
    let mut lines = vec![String::from(indent)];
    for word in line.split_whitespace() {
        let last = lines.last_mut().expect("one line at least");
        let fresh = last.trim().is_empty();
        if !fresh && last.chars().count() + 1 + word.chars().count() > WIDTH {
            lines.push(format!("{indent}  {word}"));
        } else {
            last.push_str(if fresh { "" } else { " " });
            last.push_str(word);
        }
    }
    lines
}

/// The commented default file for the `run` command `run`.
pub fn default_file(run: &Command) -> String {
    let mut out = String::from(HEAD);
    for (key, arg) in keyed_args(run) {
        let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
        out.push('\n');
        for line in help.trim_end().lines().flat_map(wrap) {
            let _ = writeln!(out, "{}", format!("# {line}").trim_end());
        }
        let defaults: Vec<String> = arg.get_default_values().iter().map(|v| toml_value(&v.to_string_lossy())).collect();
        let value = match arg.get_action() {
            _ if arg.is_hide_default_value_set() || defaults.is_empty() => String::new(),
            ArgAction::Append => format!(" [{}]", defaults.join(", ")),
            _ => format!(" {}", defaults.join(", ")),
        };
        let _ = writeln!(out, "# {key} ={value}");
    }
    out.push_str(AREAS);
    out
}
