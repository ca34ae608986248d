//! Display names of a classifier's classes: what a person reads on a box, in JSON's
//! `class_name`, in a confusion matrix, beside the class ids the data and the network use
//! (`sin_mascarilla` shown as `no mask`).
//!
//! One rule for a name ([`check_display_name`]) and one syntax for naming classes on a
//! command line ([`parse_class_names`]: `ID=NAME,ID=NAME`), shared by the card, the
//! trainer's recipe and flags, and `facecam-train relabel`.

/// The longest display name, in characters (a box label stays on the frame).
pub const MAX_DISPLAY_NAME: usize = 40;

/// Why `name` cannot be a display name, or `Ok`: 1 to [`MAX_DISPLAY_NAME`] printable
/// ASCII characters (the overlay's fonts draw ASCII only), no space at either end, and
/// neither `=` nor `,` (they separate `ID=NAME` pairs on command lines).
pub fn check_display_name(name: &str) -> Result<(), String> {
    let len = name.chars().count();
    if name.trim().is_empty() {
        return Err("a display name cannot be empty".into());
    }
    if len > MAX_DISPLAY_NAME {
        return Err(format!("`{name}` is {len} characters long, more than {MAX_DISPLAY_NAME}"));
    }
    if let Some(c) = name.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(format!(
            "{name:?} holds {c:?}: a display name is printable ASCII (the overlay's fonts draw no other)"
        ));
    }
    if name.trim() != name {
        return Err(format!("`{name}` starts or ends with a space"));
    }
    if let Some(c) = name.chars().find(|c| matches!(c, '=' | ',')) {
        return Err(format!("`{name}` holds `{c}`, which separates `ID=NAME` pairs"));
    }
    Ok(())
}

/// `ID=NAME[,ID=NAME…]` as `(id, name)` pairs, each name checked; an id named twice is
/// refused. Spaces around ids and names are dropped.
pub fn parse_class_names(spec: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in spec.split(',') {
        let Some((id, name)) = part.split_once('=') else {
            return Err(format!("`{}` is not ID=NAME", part.trim()));
        };
        let (id, name) = (id.trim(), name.trim());
        if id.is_empty() {
            return Err(format!("`{}`: the class id before `=` is empty", part.trim()));
        }
        check_display_name(name)?;
        if pairs.iter().any(|(i, _)| i == id) {
            return Err(format!("class `{id}` is named twice"));
        }
        pairs.push((id.to_string(), name.to_string()));
    }
    Ok(pairs)
}

/// The display names of `classes` after naming some of them by `pairs` (each id must be
/// one of `classes`): a class not named keeps `current`'s name (its id when `current` is
/// empty). Empty when every class is shown as its id.
pub fn apply_class_names(
    classes: &[String],
    current: &[String],
    pairs: &[(String, String)],
) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = if current.len() == classes.len() { current.to_vec() } else { classes.to_vec() };
    for (id, name) in pairs {
        check_display_name(name)?;
        match classes.iter().position(|c| c == id) {
            Some(i) => names[i] = name.clone(),
            None => return Err(format!("`{id}` is not one of the classes: {}", classes.join(", "))),
        }
    }
    check_display_names(classes, &names)?;
    Ok(if names == classes { Vec::new() } else { names })
}

/// Check a card's display names against its classes: one per class, each a valid name,
/// no two alike, and none another class's id (so either spelling picks one class).
pub fn check_display_names(classes: &[String], names: &[String]) -> Result<(), String> {
    if names.is_empty() {
        return Ok(());
    }
    if names.len() != classes.len() {
        return Err(format!("{} names for {} classes (one per class, in their order)", names.len(), classes.len()));
    }
    for (i, name) in names.iter().enumerate() {
        check_display_name(name).map_err(|e| format!("class `{}`: {e}", classes[i]))?;
        if names[..i].contains(name) {
            return Err(format!("`{name}` names two classes"));
        }
        if let Some(other) = classes.iter().enumerate().find(|&(j, c)| j != i && c == name) {
            return Err(format!("`{name}` (class `{}`) is the id of class `{}`", classes[i], other.1));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes() -> Vec<String> {
        ["con_mascarilla", "mascarilla_mal_puesta", "sin_mascarilla"].map(String::from).to_vec()
    }

    #[test]
    fn names_are_short_printable_and_free_of_separators() {
        for ok in ["mask", "no mask", "mask worn wrongly", &"x".repeat(40)] {
            assert!(check_display_name(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("   ", "empty"),
            (&"x".repeat(41) as &str, "41 characters"),
            ("no\nmask", "printable"),
            ("máscara", "ASCII"),
            (" mask", "space"),
            ("a=b", "`=`"),
            ("a,b", "`,`"),
        ] {
            let e = check_display_name(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn specs_parse_and_apply_to_the_classes() {
        let pairs = parse_class_names("con_mascarilla=mask, sin_mascarilla = no mask").unwrap();
        assert_eq!(pairs[1], ("sin_mascarilla".into(), "no mask".into()));
        let names = apply_class_names(&classes(), &[], &pairs).unwrap();
        assert_eq!(names, ["mask", "mascarilla_mal_puesta", "no mask"]);
        // A later naming keeps what it does not change.
        let more = parse_class_names("mascarilla_mal_puesta=mask worn wrongly").unwrap();
        assert_eq!(apply_class_names(&classes(), &names, &more).unwrap()[2], "no mask");
        // Naming every class by its id is no naming at all.
        let ids = parse_class_names("con_mascarilla=con_mascarilla").unwrap();
        assert!(apply_class_names(&classes(), &[], &ids).unwrap().is_empty());
        for (spec, why) in [("mask", "not ID=NAME"), ("=mask", "empty"), ("a=x,a=y", "named twice"), ("a=", "empty")] {
            let e = parse_class_names(spec).unwrap_err();
            assert!(e.contains(why), "{spec}: {e}");
        }
        let e = apply_class_names(&classes(), &[], &parse_class_names("mask=x").unwrap()).unwrap_err();
        assert!(e.contains("`mask` is not one of the classes: con_mascarilla"), "{e}");
        let twice = parse_class_names("con_mascarilla=x,sin_mascarilla=x").unwrap();
        assert!(apply_class_names(&classes(), &[], &twice).unwrap_err().contains("names two classes"));
        let swap = parse_class_names("con_mascarilla=sin_mascarilla").unwrap();
        assert!(apply_class_names(&classes(), &[], &swap).unwrap_err().contains("is the id of class"));
    }
}
