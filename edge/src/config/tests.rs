use super::*;
use clap::value_parser;

/// A `run` like facecam's: a ranged number, a repeatable flag, a switch, a path.
fn run() -> Command {
    Command::new("run")
        .arg(Arg::new("config").long("config").value_parser(value_parser!(PathBuf)))
        .arg(Arg::new("min_face_seconds").long("min-face-seconds").value_parser(value_parser!(u32).range(0..=3600)))
        .arg(Arg::new("sinks").long("sink").action(ArgAction::Append))
        .arg(Arg::new("no_hud").long("no-hud").action(ArgAction::SetTrue))
        .arg(Arg::new("model").long("model").value_parser(value_parser!(PathBuf)))
        .arg(Arg::new("source").long("source"))
        .arg(Arg::new("board").long("board"))
        .arg(Arg::new("sticker").long("sticker").action(ArgAction::Append))
}

fn parse(text: &str) -> Result<ConfigFile> {
    ConfigFile::parse(Path::new("/etc/facecam/f.toml"), text, &run())
}

fn error(text: &str) -> String {
    let e = parse(text).unwrap_err();
    assert!(e.chain().any(|c| c.is::<crate::exit::UsageError>()), "a usage error: {e:#}");
    format!("{e:#}")
}

#[test]
fn keys_become_the_words_of_their_flags() {
    let text = "min_face_seconds = 5\nsink = [\"json\", \"http:8080\"]\nno_hud = true\nmodel = \"m.onnx\"\n\
                source = \"images:pics\"\n";
    let config = parse(text).unwrap();
    let words: Vec<String> = config.words_unless(|_| false).iter().map(|w| w.to_string_lossy().into()).collect();
    for expected in ["--min-face-seconds", "5", "--sink", "json", "http:8080", "--no-hud", "/etc/facecam/m.onnx"] {
        assert!(words.contains(&expected.to_string()), "{expected} in {words:?}");
    }
    assert!(words.contains(&"images:/etc/facecam/pics".to_string()), "{words:?}");
    // A flag given on the command line claims its key.
    let rest = config.words_unless(|id| id == "sinks");
    assert!(!rest.iter().any(|w| w == "--sink"), "{rest:?}");
}

#[test]
fn a_switch_set_false_adds_nothing() {
    assert!(parse("no_hud = false\n").unwrap().words_unless(|_| false).is_empty());
}

#[test]
fn errors_name_the_file_line_column_and_key() {
    let e = error("\n\nmin_face_seconds = 7000\n");
    assert!(e.starts_with("/etc/facecam/f.toml:3:20: key `min_face_seconds`: "), "{e}");
    assert!(e.contains("7000") && e.contains("3600"), "{e}");
    let e = error("no_hud = 1\n");
    assert!(e.contains("f.toml:1:10: key `no_hud`: expected true or false"), "{e}");
    let e = error("sink = [[1]]\n");
    assert!(e.contains("f.toml:1:9: key `sink`: expected a string or a number"), "{e}");
}

#[test]
fn an_unknown_key_gets_a_suggestion_or_the_list() {
    let e = error("x = 1\nmin_face_second = 1\n");
    // The map is read in key order: `min_face_second` comes first.
    assert!(e.contains("f.toml:2:1: unknown key `min_face_second`; did you mean `min_face_seconds`?"), "{e}");
    let e = error("zzzzzzzz = 1\n");
    assert!(e.contains("known keys: min_face_seconds, sink, no_hud, model, source, board, sticker, zone, mask"), "{e}");
    // The config file itself and help are not keys.
    assert!(error("config = \"x\"\n").contains("unknown key `config`"));
}

#[test]
fn bad_toml_is_a_usage_error_with_a_position() {
    let e = error("sink = \"json\"\nno_hud = \n");
    assert!(e.starts_with("/etc/facecam/f.toml:2:"), "{e}");
    assert!(error(&format!("a = {}", "[".repeat(100))).contains("f.toml:1:1: TOML nested deeper"));
}

#[test]
fn zones_and_masks_are_read_and_checked() {
    let text = "[[zone]]\nname = \"door\"\npolygon = [[0.5, 0], [1, 0], [1, 1]]\n\
                [[mask]]\npolygon = [[0, 0], [0.5, 0], [0.5, 1]]\n";
    let config = parse(text).unwrap();
    assert_eq!(config.zones.zones[0].name, "door");
    assert_eq!(config.zones.masks.len(), 1);
    let e = error("[[zone]]\nname = \"door\"\npolygon = [[0.5, 0], [1.5, 0], [1, 1]]\n");
    assert!(e.contains("f.toml:3:11: zone polygon: corner 2: x 1.5 is outside 0..=1"), "{e}");
    let e = error("[[zone]]\npolygon = [[0, 0], [1, 0], [1, 1]]\n");
    assert!(e.contains("zone: no `name`"), "{e}");
    let e = error("[[zone]]\nname = \"a b\"\npolygon = [[0, 0], [1, 0], [1, 1]]\n");
    assert!(e.contains("f.toml:2:8: zone name: `a b` is not a plain name"), "{e}");
    let e = error("[[mask]]\npolygn = [[0, 0], [1, 0], [1, 1]]\n");
    assert!(e.contains("f.toml:2:1: mask: unknown key `polygn`; did you mean `polygon`?"), "{e}");
    let e = error("[[mask]]\npolygon = [[0, 0], [1, 0]]\n");
    assert!(e.contains("at least 3"), "{e}");
    let twice = "[[zone]]\nname = \"a\"\npolygon = [[0, 0], [1, 0], [1, 1]]\n";
    assert!(error(&format!("{twice}{twice}")).contains("f.toml:5:8: zone name: a zone named `a` is already given"));
}

#[test]
fn the_default_file_lists_every_key_and_reads_back() {
    let text = default_file(&run());
    for key in ["# min_face_seconds =", "# sink =", "# no_hud =", "# model ="] {
        assert!(text.contains(key), "{key} in {text}");
    }
    // Uncommenting the example zone gives a valid file.
    let uncommented: String = text
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .filter(|l| l.starts_with("[[") || l.starts_with("name") || l.starts_with("polygon"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(parse(&uncommented).is_ok(), "{uncommented}");
    assert!(parse(&text).unwrap().settings.is_empty());
}

/// A board profile or sticker given as a file is found beside the config file; a name
/// (`rpi4`, `sunglasses`) is left for the search path.
#[test]
fn board_and_sticker_files_are_relative_to_the_file() {
    let words = |text: &str| -> Vec<String> {
        parse(text).unwrap().words_unless(|_| false).iter().map(|w| w.to_string_lossy().into()).collect()
    };
    assert_eq!(words("board = \"my-board.toml\"\n"), ["--board", "/etc/facecam/my-board.toml"]);
    assert_eq!(words("board = \"rpi4\"\n"), ["--board", "rpi4"]);
    let stickers = words("sticker = [\"hat.png\", \"no mask=art/x.png\", \"mask=sunglasses\", \"/abs/s.png\"]\n");
    assert_eq!(
        stickers,
        [
            "--sticker",
            "/etc/facecam/hat.png",
            "--sticker",
            "no mask=/etc/facecam/art/x.png",
            "--sticker",
            "mask=sunglasses",
            "--sticker",
            "/abs/s.png"
        ]
    );
}
