//! Overlays chosen per class of face: `--sticker CLASS=NAME`, `--privacy CLASS=HOW`.
//!
//! A setting without `CLASS=` is the default: it applies to every face whose class has
//! no setting of its own, and to faces the classifier has not labelled (yet). A class may
//! be exempted with `none`, so "blur every face but the known ones" is
//! `--privacy blur --privacy known=none`. Unlabelled faces take the default, so a privacy
//! default hides a face from its first frame, before the classifier has seen it.
//! A class is given by its id or its display name (`--privacy "no mask=blur"`); both
//! are turned into the id once the classifier is known ([`PerClass::resolve_classes`]).

use crate::model::ClassifierCard;

/// A value per class, with a default for the other (and the unlabelled) faces.
#[derive(Debug, Clone, PartialEq)]
pub struct PerClass<T> {
    default: Option<T>,
    classes: Vec<(String, Option<T>)>,
}

impl<T> Default for PerClass<T> {
    fn default() -> Self {
        Self { default: None, classes: Vec::new() }
    }
}

impl<T> PerClass<T> {
    /// The same value for every face.
    pub fn all(value: T) -> Self {
        Self { default: Some(value), classes: Vec::new() }
    }

    /// Parse `[CLASS=]VALUE` settings; `value` reads one VALUE, and `none` means no
    /// overlay. `flag` names the option in errors.
    pub fn parse(
        specs: &[String],
        flag: &str,
        mut value: impl FnMut(&str) -> Result<T, String>,
    ) -> Result<Self, String> {
        let mut out = Self::default();
        let mut has_default = false;
        for spec in specs {
            let (class, v) = match spec.split_once('=') {
                Some((c, v)) => (Some(c.trim()), v.trim()),
                None => (None, spec.trim()),
            };
            let parsed = if v == "none" { None } else { Some(value(v).map_err(|e| format!("--{flag} {spec}: {e}"))?) };
            match class {
                None if has_default => return Err(format!("--{flag} {spec}: a default is given twice")),
                None => (out.default, has_default) = (parsed, true),
                Some("") => return Err(format!("--{flag} {spec}: the class before `=` is empty")),
                Some(c) if out.classes.iter().any(|(n, _)| n == c) => {
                    return Err(format!("--{flag} {spec}: class `{c}` is given twice"))
                }
                Some(c) => out.classes.push((c.to_string(), parsed)),
            }
        }
        Ok(out)
    }

    /// The classes with a setting of their own.
    pub fn classes(&self) -> impl Iterator<Item = &str> {
        self.classes.iter().map(|(c, _)| c.as_str())
    }

    /// Turn every class, given by its id or display name, into its id; refuse classes
    /// the classifier does not have (or any class without a classifier), and one class
    /// given twice under its two names.
    pub fn resolve_classes(mut self, flag: &str, card: Option<&ClassifierCard>) -> Result<Self, String> {
        let mut ids: Vec<String> = Vec::new();
        for (c, _) in self.classes.iter_mut() {
            let Some(card) = card else {
                return Err(format!("--{flag} {c}=…: a class needs --classifier"));
            };
            let Some(i) = card.class_index(c) else {
                let known = card.describe_classes();
                return Err(format!("--{flag} {c}=…: `{c}` is not one of the classifier's classes: {known}"));
            };
            let id = &card.classes[i];
            if ids.contains(id) {
                return Err(format!("--{flag} {c}=…: class `{id}` is given twice (by its id and its display name)"));
            }
            ids.push(id.clone());
            *c = id.clone();
        }
        Ok(self)
    }

    /// The value for a face of `class` (`None`: not labelled).
    pub fn get(&self, class: Option<&str>) -> Option<&T> {
        match class.and_then(|c| self.classes.iter().find(|(n, _)| n == c)) {
            Some((_, v)) => v.as_ref(),
            None => self.default.as_ref(),
        }
    }

    /// [`PerClass::get`], mutable (stickers keep a resized copy).
    pub fn get_mut(&mut self, class: Option<&str>) -> Option<&mut T> {
        match class.and_then(|c| self.classes.iter().position(|(n, _)| n == c)) {
            Some(i) => self.classes[i].1.as_mut(),
            None => self.default.as_mut(),
        }
    }

    /// Whether no face gets anything.
    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.classes.iter().all(|(_, v)| v.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(specs: &[&str]) -> Result<PerClass<String>, String> {
        let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        PerClass::parse(&specs, "privacy", |v| if v == "bad" { Err("no".into()) } else { Ok(v.to_string()) })
    }

    #[test]
    fn a_class_overrides_the_default_and_unlabelled_faces_take_the_default() {
        let p = parse(&["blur", "known=none", "visitor=pixelate"]).unwrap();
        assert_eq!(p.get(None).map(String::as_str), Some("blur"), "not classified yet: hidden");
        assert_eq!(p.get(Some("stranger")).map(String::as_str), Some("blur"));
        assert_eq!(p.get(Some("known")), None, "exempted");
        assert_eq!(p.get(Some("visitor")).map(String::as_str), Some("pixelate"));
        let only = parse(&["sin_mascarilla=party-hat"]).unwrap();
        assert_eq!(only.get(None), None);
        assert_eq!(only.get(Some("con_mascarilla")), None);
        assert!(!only.is_empty() && parse(&[]).unwrap().is_empty() && parse(&["none"]).unwrap().is_empty());
    }

    #[test]
    fn classes_are_given_by_id_or_display_name() {
        let card = ClassifierCard {
            display_names: vec!["mask".into(), "no mask".into()],
            ..ClassifierCard::new(64, 0.2, vec!["con".into(), "sin".into()], Default::default())
        };
        let p = parse(&["no mask=blur", "con=none"]).unwrap().resolve_classes("privacy", Some(&card)).unwrap();
        assert_eq!(p.classes().collect::<Vec<_>>(), ["sin", "con"]);
        assert_eq!(p.get(Some("sin")).map(String::as_str), Some("blur"));
        let e = parse(&["sin=blur", "no mask=none"]).unwrap().resolve_classes("privacy", Some(&card)).unwrap_err();
        assert!(e.contains("class `sin` is given twice"), "{e}");
        let e = parse(&["nomask=blur"]).unwrap().resolve_classes("privacy", Some(&card)).unwrap_err();
        assert!(e.contains("classes: con (mask), sin (no mask)"), "{e}");
    }

    #[test]
    fn bad_settings_name_the_flag_and_the_setting() {
        for (specs, want) in [
            (&["blur", "pixelate"][..], "default is given twice"),
            (&["a=blur", "a=none"], "class `a` is given twice"),
            (&["=blur"], "class before `=` is empty"),
            (&["a=bad"], "--privacy a=bad: no"),
        ] {
            let e = parse(specs).unwrap_err();
            assert!(e.contains(want), "{specs:?}: {e}");
        }
        let p = parse(&["known=none"]).unwrap();
        assert!(p.clone().resolve_classes("privacy", None).unwrap_err().contains("needs --classifier"));
        let known = ClassifierCard::new(64, 0.2, vec!["known".into(), "other".into()], Default::default());
        assert!(p.resolve_classes("privacy", Some(&known)).is_ok());
        let e = parse(&["knwon=none"]).unwrap().resolve_classes("privacy", Some(&known)).unwrap_err();
        assert!(e.contains("`knwon` is not one of the classifier's classes: known, other"), "{e}");
    }
}
