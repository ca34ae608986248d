//! Which labelled boxes of a source are taken: every class, or the named ones. Its own
//! module so that the importers, which take it, and [`source`](super::source), which calls
//! the importers, do not import each other.

/// Which labelled boxes of a source are taken (as faces, keeping their class names).
#[derive(Debug, Clone, PartialEq)]
pub enum Classes {
    /// Every class.
    All,
    /// Only these class names.
    Only(Vec<String>),
}

impl Classes {
    /// Whether boxes labelled `name` are taken.
    pub fn admits(&self, name: &str) -> bool {
        match self {
            Classes::All => true,
            Classes::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

impl std::fmt::Display for Classes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Classes::All => f.write_str("*"),
            Classes::Only(names) => f.write_str(&names.join(",")),
        }
    }
}
