//! The config file of `facecam run --config FILE` (TOML): one key per `run` flag, plus
//! `[[zone]]` and `[[mask]]` tables ([`crate::zones`]).
//!
//! The keys are not listed anywhere: they are read off clap's `Command` for `run`, so a
//! flag added there has its key at once. A key is the long flag in snake_case
//! (`--min-face-seconds` → `min_face_seconds`); a switch takes `true`/`false`; a
//! repeatable flag takes a list (or one value). Each value is turned into the words of its
//! flag and checked by that flag's own value parser, so ranges and messages have one
//! source. Relative paths in the file are relative to the file's folder. Every error is a
//! usage error naming `FILE:LINE:COLUMN` and the key.

mod areas;
mod print;

pub use print::default_file;

use crate::zones::Zones;
use anyhow::Result;
use clap::{Arg, ArgAction, Command, ValueHint};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The tables that are not flags.
const TABLES: [&str; 2] = ["zone", "mask"];

/// Flags that have no key: the file itself, and what is not about the run.
const NOT_KEYS: [&str; 5] = ["config", "help", "version", "verbose", "quiet"];

/// One setting of the file: the flag it stands for and its words on a command line.
#[derive(Debug, Clone)]
pub struct Setting {
    /// The flag's clap id (what `ArgMatches::value_source` takes).
    pub id: String,
    /// The key as written.
    pub key: String,
    /// Where in the file (`FILE:LINE:COLUMN`).
    pub at: String,
    /// The command-line words (`--min-face-seconds`, `0.5`), paths made absolute.
    pub words: Vec<OsString>,
    /// The path each value names, for a flag that takes a path (or a file source).
    pub paths: Vec<PathBuf>,
}

/// A parsed and checked config file.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    /// The file.
    pub path: PathBuf,
    /// Its flag settings, by key.
    pub settings: Vec<Setting>,
    /// Its zones and masks.
    pub zones: Zones,
}

/// The flags of `cmd` that have a key, with their keys.
pub fn keyed_args(cmd: &Command) -> Vec<(String, &Arg)> {
    let keyed = |a: &&Arg| !a.is_global_set() && !NOT_KEYS.contains(&a.get_id().as_str());
    cmd.get_arguments().filter(keyed).filter_map(|a| Some((a.get_long()?.replace('-', "_"), a))).collect()
}

/// `FILE:LINE:COLUMN` of byte `offset` in `text` (both from 1; columns in characters).
pub fn position(path: &Path, text: &str, offset: usize) -> String {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("{}:{line}:{column}", path.display())
}

/// The closest of `known` to `word`, if close enough to be a typo; else the list.
pub fn suggest(word: &str, known: &[&str]) -> String {
    let best = known.iter().map(|k| (distance(word, k), *k)).min();
    match best {
        Some((d, k)) if d <= 2.max(word.len() / 3) => format!("did you mean `{k}`?"),
        _ => format!("known keys: {}", known.join(", ")),
    }
}

/// Levenshtein distance between two words.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + usize::from(ca != *cb));
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// What is being read: the file, its text and the `run` command (its keys).
struct Reader<'a> {
    path: &'a Path,
    text: &'a str,
    cmd: &'a Command,
}

impl Reader<'_> {
    /// A usage error at byte `offset`: `FILE:LINE:COL: what`.
    fn error(&self, offset: usize, what: impl std::fmt::Display) -> anyhow::Error {
        crate::exit::usage(anyhow::anyhow!("{}: {what}", position(self.path, self.text, offset)))
    }

    /// A path from the file, relative to the file's folder.
    fn rebase(&self, value: &str) -> PathBuf {
        let folder = self.path.parent().unwrap_or(Path::new("."));
        folder.join(value)
    }

    /// One setting: the key's value as words of its flag, each checked by its parser.
    fn setting(&self, key: &Spanned<std::borrow::Cow<str>>, value: &Spanned<DeValue>) -> Result<Setting> {
        let keys = keyed_args(self.cmd);
        let Some((_, arg)) = keys.iter().find(|(k, _)| k == key.get_ref().as_ref()) else {
            let mut known: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
            known.extend(TABLES);
            let hint = suggest(key.get_ref(), &known);
            return Err(self.error(key.span().start, format!("unknown key `{}`; {hint}", key.get_ref())));
        };
        let long = format!("--{}", arg.get_long().unwrap_or_default());
        let at = position(self.path, self.text, value.span().start);
        let mut setting =
            Setting { id: arg.get_id().to_string(), key: key.get_ref().to_string(), at, words: vec![], paths: vec![] };
        let wrong = |what: &str| self.error(value.span().start, format!("key `{}`: {what}", key.get_ref()));
        match arg.get_action() {
            ArgAction::SetTrue | ArgAction::SetFalse => match value.get_ref() {
                DeValue::Boolean(true) => setting.words.push(long.into()),
                DeValue::Boolean(false) => {}
                other => return Err(wrong(&format!("expected true or false, not {}", other.type_str()))),
            },
            ArgAction::Append => match value.get_ref() {
                DeValue::Array(items) => {
                    for item in items.iter() {
                        self.word(arg, &long, item, &mut setting, key.get_ref())?;
                    }
                }
                _ => self.word(arg, &long, value, &mut setting, key.get_ref())?,
            },
            ArgAction::Set => self.word(arg, &long, value, &mut setting, key.get_ref())?,
            _ => return Err(wrong("this flag cannot be set from a file")),
        }
        Ok(setting)
    }

    /// Add `--flag VALUE` for one scalar, made a path relative to the file where the flag
    /// takes one, and checked by the flag's value parser.
    fn word(&self, arg: &Arg, long: &str, value: &Spanned<DeValue>, to: &mut Setting, key: &str) -> Result<()> {
        let text = match value.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Integer(i) => i.as_str().to_string(),
            DeValue::Float(f) => f.as_str().to_string(),
            DeValue::Boolean(b) => b.to_string(),
            other => {
                let what = format!("key `{key}`: expected a string or a number, not {}", other.type_str());
                return Err(self.error(value.span().start, what));
            }
        };
        let mut word = OsString::from(&text);
        let path_hint = matches!(
            arg.get_value_hint(),
            ValueHint::AnyPath | ValueHint::FilePath | ValueHint::DirPath | ValueHint::ExecutablePath
        );
        if path_hint {
            let path = self.rebase(&text);
            word = path.clone().into_os_string();
            // A folder flag (`snapshots`) names where the run writes, made when it starts:
            // it is made absolute but need not exist yet.
            if arg.get_value_hint() != ValueHint::DirPath {
                to.paths.push(path);
            }
        } else if let Some((kind, rest)) = file_source(&text) {
            let path = self.rebase(rest);
            word = format!("{kind}:{}", path.display()).into();
            to.paths.push(path);
        } else if let Some((prefix, file)) = named_file(arg.get_id().as_str(), &text) {
            let path = self.rebase(file);
            word = format!("{prefix}{}", path.display()).into();
            to.paths.push(path);
        }
        if let Err(e) = check_value(arg, &word) {
            return Err(self.error(value.span().start, format!("key `{key}`: {}", clap_message(&e))));
        }
        to.words.extend([OsString::from(long), word]);
        Ok(())
    }
}

/// Check one value with `arg`'s own value parser: parsed as `--flag VALUE` by a command
/// holding that flag alone (its ties to other flags are checked when the whole command
/// line is parsed).
fn check_value(arg: &Arg, word: &OsString) -> Result<(), clap::Error> {
    let alone = Arg::new(arg.get_id().clone())
        .long(arg.get_long().unwrap_or("value").to_string())
        .value_names(arg.get_value_names().unwrap_or_default().to_vec())
        .value_parser(arg.get_value_parser().clone())
        .action(ArgAction::Set);
    let long = format!("--{}", arg.get_long().unwrap_or("value"));
    let cmd = Command::new("facecam").no_binary_name(true).arg(alone);
    cmd.try_get_matches_from([OsString::from(long), word.clone()]).map(drop)
}

/// A source spec that names a file (`images:PATH`, `mjpeg:PATH` but not stdin), split.
fn file_source(spec: &str) -> Option<(&str, &str)> {
    let (kind, rest) = spec.split_once(':')?;
    (["images", "mjpeg"].contains(&kind) && rest != "-" && !rest.is_empty()).then_some((kind, rest))
}

/// A `board` or `sticker` value that names a file rather than a built-in
/// ([`crate::board::Board::names_a_file`], [`crate::overlay::sticker::names_a_file`]),
/// split into the part kept as written (a sticker's `CLASS=`) and the file.
fn named_file<'t>(id: &str, value: &'t str) -> Option<(&'t str, &'t str)> {
    let (prefix, file) = match id {
        "board" => return crate::board::Board::names_a_file(value).then_some(("", value)),
        "sticker" => match value.split_once('=') {
            Some((class, file)) => (&value[..class.len() + 1], file),
            None => ("", value),
        },
        _ => return None,
    };
    crate::overlay::sticker::names_a_file(file).then_some((prefix, file))
}

/// A clap error as one line, without its `error: `, usage and help lines.
pub fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let lines = text.lines().take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"));
    let words: Vec<&str> = lines.map(str::trim).filter(|l| !l.is_empty()).collect();
    let line = words.join(" ");
    line.strip_prefix("error: ").unwrap_or(&line).to_string()
}

impl ConfigFile {
    /// Read `path` (through [`crate::input`]) and check it against `run`, the `facecam run`
    /// command. Errors are usage errors naming `FILE:LINE:COLUMN`.
    pub fn load(path: &Path, run: &Command) -> Result<Self> {
        let text =
            crate::input::read_text(path, "a config file", crate::input::MAX_TEXT_BYTES).map_err(crate::exit::usage)?;
        Self::parse(path, &text, run)
    }

    /// Check the text of a config file at `path`; see [`ConfigFile::load`].
    pub fn parse(path: &Path, text: &str, run: &Command) -> Result<Self> {
        let reader = Reader { path, text, cmd: run };
        crate::input::nesting::check_toml(text).map_err(|e| reader.error(0, e))?;
        let table = DeTable::parse(text).map_err(|e| {
            let first = e.message().lines().next().unwrap_or("bad TOML").to_string();
            reader.error(e.span().map_or(0, |s| s.start), first)
        })?;
        let mut config = ConfigFile { path: path.to_path_buf(), settings: vec![], zones: Zones::default() };
        for (key, value) in table.get_ref().iter() {
            match key.get_ref().as_ref() {
                "zone" => areas::zones(&reader, value, &mut config.zones)?,
                "mask" => areas::masks(&reader, value, &mut config.zones)?,
                _ => config.settings.push(reader.setting(key, value)?),
            }
        }
        Ok(config)
    }

    /// The command-line words of the settings whose flag `given` does not claim (a flag
    /// given on the command line overrides the file, a repeatable one its whole list).
    pub fn words_unless(&self, given: impl Fn(&str) -> bool) -> Vec<OsString> {
        self.settings.iter().filter(|s| !given(&s.id)).flat_map(|s| s.words.clone()).collect()
    }
}

#[cfg(test)]
mod tests;
