//! The Debian package, its systemd unit, `make flash` and `make deploy`
//! (packaging/packaging.mk, packaging/*.sh), run as subprocesses from the repository root.
//!
//! What is exercised for real:
//! - `make deb` packages this test build's `facecam` binary (stripped) for the host
//!   architecture with cargo-deb; the package's file list, modes, control fields,
//!   conffiles and maintainer scripts are checked.
//! - The package is installed into a throwaway root with `dpkg --root` (maintainer
//!   scripts run outside a chroot with `DPKG_ROOT` set), which creates the `facecam` user
//!   there; `systemd-analyze verify --root` must pass with no output at all, and
//!   `systemd-analyze security --offline` must rate the unit's exposure low. The
//!   installed binary runs a few frames with the packaged model, board profile and
//!   sticker, as the unit's command line would. Then it is purged.
//! - `make flash` against an OpenSSH server started here on 127.0.0.1 only (a throwaway
//!   host key and client key, root login by key), installing into a staging root on the
//!   "remote" side (`FLASH_ROOT`): every file `dpkg -L` lists must be there with the
//!   package's contents, the board set in the config, the service enabled (a real
//!   `systemctl --root … enable`, observed through a recording `systemctl` wrapper first
//!   on the remote PATH). Then `make deploy` rsyncs a changed binary over the same sshd.
//!   Unreachable hosts, a missing HOST and a missing package must fail with one clear line.
//!
//! What is not exercised: there is no systemd running as PID 1 here, so no service is
//! actually started or restarted (flash/deploy take their "staging root" branch, which
//! never starts anything); the default path (`dpkg -i` on the real root, `sudo`,
//! `systemctl restart`, `journalctl`) and cross-architecture packages are not installed
//! anywhere by these tests; the remote is this same amd64 machine, not a board.
//!
//! Each test skips with a message when a tool it needs (cargo-deb, dpkg, systemd-analyze,
//! sshd, rsync, …) or root is missing, unless FACECAM_REQUIRE_PACKAGING=1, which makes
//! that a failure (and lets `make packaging-tools` install cargo-deb).

use crate::common::{scratch, Scratch};
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn required() -> bool {
    std::env::var("FACECAM_REQUIRE_PACKAGING").is_ok_and(|v| v == "1")
}

fn on_path(tool: &str) -> bool {
    if tool.starts_with('/') {
        return Path::new(tool).is_file();
    }
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// True when every tool (and root, if asked) is there; otherwise skip, or fail when
/// FACECAM_REQUIRE_PACKAGING=1.
fn have(test: &str, tools: &[&str], root: bool) -> bool {
    let mut missing: Vec<String> = tools.iter().filter(|t| !on_path(t)).map(|t| t.to_string()).collect();
    if root && !is_root() {
        missing.push("root".into());
    }
    if missing.is_empty() {
        return true;
    }
    if required() {
        panic!("{test}: needs {} (FACECAM_REQUIRE_PACKAGING=1)", missing.join(", "));
    }
    eprintln!("skipping {test}: needs {}", missing.join(", "));
    false
}

/// The tools the package build needs; cargo-deb is installed by make when required.
fn build_tools() -> Vec<&'static str> {
    let mut t = vec!["make", "cargo", "dpkg", "dpkg-deb", "readelf", "strip"];
    if !required() {
        t.push("cargo-deb");
    }
    t
}

/// Run to completion within `limit`, capturing both streams; a hang is a failure.
fn run(cmd: &mut Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let drain = |s: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut s) = s {
                let _ = s.read_to_end(&mut v);
            }
            v
        })
    };
    let out = drain(child.stdout.take().map(|s| Box::new(s) as _));
    let err = drain(child.stderr.take().map(|s| Box::new(s) as _));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} ran past {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Run and require success; returns stdout.
fn ok(cmd: &mut Command, limit: Duration) -> String {
    let what = format!("{cmd:?}");
    let o = run(cmd, limit);
    assert!(o.status.success(), "{what} failed ({}):\n{}\n{}", o.status, text(&o.stdout), text(&o.stderr));
    text(&o.stdout)
}

fn make(args: &[&str]) -> Command {
    let mut c = Command::new("make");
    c.current_dir(REPO).args(["-s", "--no-print-directory"]).args(args);
    c
}

/// The host-architecture package of this test build's binary, built once per run.
fn package() -> &'static Path {
    static DEB: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = DEB.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("packaging");
        let _ = std::fs::remove_dir_all(&dir);
        let (out, stage) = (dir.join("out"), dir.join("stage"));
        let o = run(
            make(&["deb", "DEB_FAST=1"])
                .arg(format!("FACECAM_BIN={}", env!("CARGO_BIN_EXE_facecam")))
                .arg(format!("DEB_OUT={}", out.display()))
                .arg(format!("DEB_STAGE={}", stage.display())),
            Duration::from_secs(600),
        );
        let _ = std::fs::remove_dir_all(&stage);
        if !o.status.success() {
            return Err(format!("make deb failed:\n{}\n{}", text(&o.stdout), text(&o.stderr)));
        }
        let debs: Vec<PathBuf> = std::fs::read_dir(&out)
            .map_err(|e| e.to_string())?
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "deb"))
            .collect();
        match debs.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(format!("make deb left {debs:?} in {}", out.display())),
        }
    });
    built.as_ref().unwrap_or_else(|e| panic!("{e}"))
}

fn host_arch() -> String {
    ok(Command::new("dpkg").arg("--print-architecture"), Duration::from_secs(10)).trim().to_string()
}

/// Files (not directories) in the package, without the leading `.`.
fn package_files(deb: &Path) -> Vec<(String, String)> {
    let list = ok(Command::new("dpkg-deb").arg("--contents").arg(deb), Duration::from_secs(60));
    list.lines()
        .filter(|l| !l.starts_with('d'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[f.len() - 1].trim_start_matches('.').to_string(), format!("{} {}", f[0], f[1]))
        })
        .collect()
}

fn repo_files(dir: &str, ext: Option<&str>) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(Path::new(REPO).join(dir))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| ext.is_none_or(|x| n.ends_with(x)))
        .collect();
    v.sort();
    v
}

/// A throwaway root for `dpkg --root`: a dpkg database, the user and group files (root,
/// and a `video` group as on the boards), and this machine's systemd units (what the
/// board's systemd package would provide) so the unit can be verified there.
fn staging_root(tag: &str) -> Scratch {
    let root = scratch(&format!("pkg-{tag}"));
    let r = root.path();
    for d in ["etc", "var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log", "lib/systemd"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    let files = [
        ("var/lib/dpkg/status", ""),
        ("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"),
        ("etc/shadow", "root:*:19000:0:99999:7:::\n"),
        ("etc/group", "root:x:0:\nvideo:x:44:\n"),
        ("etc/gshadow", "root:*::\nvideo:*::\n"),
    ];
    for (f, body) in files {
        std::fs::write(r.join(f), body).unwrap();
    }
    ok(Command::new("cp").arg("-a").arg("/lib/systemd/system").arg(r.join("lib/systemd/")), Duration::from_secs(60));
    root
}

fn dpkg_root(root: &Path) -> Command {
    let mut c = Command::new("dpkg");
    c.arg(format!("--root={}", root.display()))
        .arg(format!("--log={}", root.join("var/log/dpkg.log").display()))
        .args(["--force-script-chrootless", "--force-depends"]);
    c
}

#[test]
fn package_has_exactly_the_expected_files_and_control() {
    if !have("package_has_exactly_the_expected_files_and_control", &build_tools(), false) {
        return;
    }
    let deb = package();
    let mut expected = vec![
        "/usr/bin/facecam".to_string(),
        "/usr/share/facecam/models/facecam.onnx".into(),
        "/usr/share/facecam/models/facemask.onnx".into(),
        "/etc/facecam/facecam.conf".into(),
        "/etc/facecam/facecam.toml".into(),
        "/lib/systemd/system/facecam.service".into(),
        "/usr/share/facecam/systemd/network.conf".into(),
        "/usr/share/doc/facecam/copyright".into(),
    ];
    expected.extend(repo_files("assets/stickers", None).iter().map(|f| format!("/usr/share/facecam/stickers/{f}")));
    expected.extend(repo_files("boards", Some(".toml")).iter().map(|f| format!("/usr/share/facecam/boards/{f}")));
    // A man page per subcommand, as the binary writes them, and three shells' completions.
    let pages = scratch("pkg-man");
    ok(Command::new(env!("CARGO_BIN_EXE_facecam")).arg("man-pages").arg(pages.path()), Duration::from_secs(60));
    let mut man = repo_files(pages.path().to_str().unwrap(), Some(".1"));
    assert!(man.len() > 5 && man.contains(&"facecam-run.1".to_string()), "man pages: {man:?}");
    expected.extend(man.drain(..).map(|f| format!("/usr/share/man/man1/{f}.gz")));
    expected.extend([
        "/usr/share/bash-completion/completions/facecam".to_string(),
        "/usr/share/zsh/vendor-completions/_facecam".into(),
        "/usr/share/fish/vendor_completions.d/facecam.fish".into(),
    ]);
    expected.sort();
    let files = package_files(deb);
    let mut paths: Vec<String> = files.iter().map(|(p, _)| p.clone()).collect();
    paths.sort();
    assert_eq!(paths, expected, "package contents");
    for (path, mode) in &files {
        let want = if path == "/usr/bin/facecam" { "-rwxr-xr-x root/root" } else { "-rw-r--r-- root/root" };
        assert_eq!(mode, want, "{path}");
    }

    let field = |name: &str| {
        ok(Command::new("dpkg-deb").arg("--field").arg(deb).arg(name), Duration::from_secs(30)).trim().to_string()
    };
    assert_eq!(field("Package"), "facecam");
    assert_eq!(field("Architecture"), host_arch());
    let depends = field("Depends");
    assert!(depends.contains("libc6 (>= 2.") && depends.contains("passwd"), "Depends: {depends}");
    assert!(field("Description").starts_with("face-detector camera"), "Description");

    let ctrl = scratch("pkg-control");
    ok(Command::new("dpkg-deb").arg("--control").arg(deb).arg(ctrl.path()), Duration::from_secs(30));
    let conffiles = std::fs::read_to_string(ctrl.path().join("conffiles")).unwrap();
    let mut conffiles: Vec<&str> = conffiles.lines().collect();
    conffiles.sort();
    assert_eq!(conffiles, ["/etc/facecam/facecam.conf", "/etc/facecam/facecam.toml"]);
    for script in ["postinst", "prerm", "postrm"] {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(ctrl.path().join(script)).unwrap_or_else(|_| panic!("no {script}"));
        assert_eq!(m.permissions().mode() & 0o777, 0o755, "{script} mode");
    }
}

/// `systemd-analyze verify` of the unit installed under `root`.
fn verify_unit(root: &Path) -> std::process::Output {
    run(
        Command::new("systemd-analyze").arg(format!("--root={}", root.display())).args(["verify", "facecam.service"]),
        Duration::from_secs(60),
    )
}

/// `systemd-analyze security` of the unit installed under `root`: the report and its
/// overall exposure level.
fn security_report(root: &Path) -> (String, f32) {
    let report = ok(
        Command::new("systemd-analyze").arg(format!("--root={}", root.display())).args([
            "security",
            "--offline=yes",
            "--no-pager",
            "facecam.service",
        ]),
        Duration::from_secs(60),
    );
    let exposure = report
        .lines()
        .find_map(|l| l.split("Overall exposure level for facecam.service:").nth(1))
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    (report, exposure)
}

#[test]
fn package_installs_into_a_throwaway_root_and_its_unit_verifies() {
    let mut tools = build_tools();
    tools.extend(["systemd-analyze", "cp"]);
    if !have("package_installs_into_a_throwaway_root_and_its_unit_verifies", &tools, true) {
        return;
    }
    let deb = package();
    let root = staging_root("install");
    let r = root.path();
    let host_passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    ok(dpkg_root(r).arg("--install").arg(deb), Duration::from_secs(120));
    assert_eq!(std::fs::read_to_string("/etc/passwd").unwrap(), host_passwd, "the host's users were touched");

    let passwd = std::fs::read_to_string(r.join("etc/passwd")).unwrap();
    let user = passwd.lines().find(|l| l.starts_with("facecam:")).expect("no facecam user in the root");
    assert!(user.ends_with(":/var/lib/facecam:/usr/sbin/nologin"), "{user}");
    let group = std::fs::read_to_string(r.join("etc/group")).unwrap();
    assert!(group.lines().any(|l| l.starts_with("video:") && l.ends_with("facecam")), "facecam not in video:\n{group}");

    let verify = verify_unit(r);
    assert!(
        verify.status.success() && verify.stdout.is_empty() && verify.stderr.is_empty(),
        "systemd-analyze verify ({}):\n{}{}",
        verify.status,
        text(&verify.stdout),
        text(&verify.stderr)
    );
    let (security, exposure) = security_report(r);
    assert!(exposure <= 2.0, "exposure {exposure}:\n{security}");

    // With the network drop-in (the web view, MQTT): network, and still a tight sandbox.
    let dropins = r.join("etc/systemd/system/facecam.service.d");
    std::fs::create_dir_all(&dropins).unwrap();
    std::fs::copy(r.join("usr/share/facecam/systemd/network.conf"), dropins.join("network.conf")).unwrap();
    let verify = verify_unit(r);
    assert!(verify.status.success() && verify.stderr.is_empty(), "with the drop-in: {}", text(&verify.stderr));
    let (networked, exposure) = security_report(r);
    let line = |report: &str, key: &str| report.lines().find(|l| l.contains(key)).unwrap_or("").to_string();
    assert!(line(&networked, "PrivateNetwork=").contains('✗'), "the drop-in opens the network:\n{networked}");
    assert!(line(&security, "PrivateNetwork=").contains('✓'), "the unit alone keeps it closed:\n{security}");
    assert!(exposure <= 2.0, "exposure with the network drop-in {exposure}:\n{networked}");
    std::fs::remove_dir_all(&dropins).unwrap();

    // The unit's command line, with the packaged model, classifier, board profile and sticker.
    let conf = std::fs::read_to_string(r.join("etc/facecam/facecam.conf")).unwrap();
    let board = conf.lines().find_map(|l| l.strip_prefix("FACECAM_BOARD=")).expect("FACECAM_BOARD");
    let share = r.join("usr/share/facecam");
    let cwd = scratch("pkg-run");
    let o = run(
        Command::new(r.join("usr/bin/facecam"))
            .current_dir(cwd.path())
            .env("FACECAM_BOARDS", share.join("boards"))
            .env("FACECAM_ASSETS", &share)
            .arg("run")
            .arg("--model")
            .arg(share.join("models/facecam.onnx"))
            .args(["--board", board, "--source", "pattern", "--sink", "none", "--frames", "3"])
            .args(["--sticker", "sunglasses"])
            .arg("--classifier")
            .arg(share.join("models/facemask.onnx")),
        Duration::from_secs(120),
    );
    let out = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(o.status.success() && out.contains("3 frames"), "the packaged facecam ({}):\n{out}", o.status);

    // From a folder outside the repository, with no flags or variables pointing at them,
    // the installed binary finds its model, boards and stickers beside its prefix.
    let photos = cwd.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for photo in ["astronaut.png", "chelsea.png"] {
        std::fs::copy(crate::common::root().join("samples").join(photo), photos.join(photo)).unwrap();
    }
    let installed = |args: &[&str]| {
        let o =
            run(Command::new(r.join("usr/bin/facecam")).current_dir(cwd.path()).args(args), Duration::from_secs(120));
        let out = format!("{}{}", text(&o.stdout), text(&o.stderr));
        assert!(o.status.success(), "installed `facecam {}` ({}):\n{out}", args.join(" "), o.status);
        out
    };
    // The shipped config file passes its own check, and the unit's command line runs with it.
    let toml = r.join("etc/facecam/facecam.toml");
    let checked = installed(&["config", "--check", toml.to_str().unwrap()]);
    assert!(checked.contains("facecam.toml: OK: 0 settings"), "{checked}");
    let toml_arg = ["run", "--config", toml.to_str().unwrap(), "--board", board];
    let shown = installed(&[&toml_arg[..], &["--source", "pattern", "--sink", "none", "--frames", "2"]].concat());
    assert!(shown.contains("2 frames"), "{shown}");
    let paths = installed(&["paths"]);
    let default = format!("default model: {}", share.join("models/facecam.onnx").display());
    assert!(paths.contains(&default), "{paths}");
    assert!(installed(&["detect", "photos/astronaut.png", "--out", "found"]).contains("1 image(s)"));
    let shown =
        installed(&["run", "--board", "rpi4", "--source", "images:photos", "--sink", "png:frames", "--frames", "2"]);
    assert!(shown.contains("2 frames"), "{shown}");
    assert!(cwd.path().join("frames").read_dir().unwrap().count() >= 2);

    // The installed man page reads as one (man renders it), and bash loads the completion.
    let page = r.join("usr/share/man/man1/facecam-run.1.gz");
    if on_path("man") {
        let shown = ok(Command::new("man").arg("-l").arg(&page).env("MANPAGER", "cat"), Duration::from_secs(60));
        assert!(shown.contains("--sink") && shown.contains("--threshold"), "man facecam-run:\n{shown}");
    }
    let script = r.join("usr/share/bash-completion/completions/facecam");
    let complete = ok(
        Command::new("bash").arg("-c").arg(format!("source '{}' && complete -p facecam", script.display())),
        Duration::from_secs(30),
    );
    assert!(complete.contains("facecam"), "bash completion: {complete}");

    ok(dpkg_root(r).args(["--purge", "facecam"]), Duration::from_secs(120));
    for gone in ["usr/bin/facecam", "etc/facecam", "lib/systemd/system/facecam.service", "usr/share/facecam"] {
        assert!(!r.join(gone).exists(), "{gone} left after purge");
    }
}

/// An sshd on 127.0.0.1, killed when dropped.
struct Sshd {
    child: Child,
    dir: Scratch,
    port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    fn start() -> Sshd {
        let dir = scratch("pkg-ssh");
        let d = dir.path();
        for key in ["host_key", "client_key"] {
            ok(
                Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(d.join(key)),
                Duration::from_secs(30),
            );
        }
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        // A recording systemctl first on the remote PATH; it runs the real one.
        std::fs::create_dir_all(d.join("stub")).unwrap();
        let stub = d.join("stub/systemctl");
        std::fs::write(
            &stub,
            format!(
                "#!/bin/sh\necho \"$*\" >> {}\nexec /usr/bin/systemctl \"$@\"\n",
                d.join("systemctl.log").display()
            ),
        )
        .unwrap();
        ok(Command::new("chmod").arg("755").arg(&stub), Duration::from_secs(10));
        // Only loopback: a free port from the kernel, then sshd listening on 127.0.0.1 alone.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = format!(
            "ListenAddress 127.0.0.1:{port}\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
             SetEnv PATH={d}/stub:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
             LogLevel ERROR\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        let host_pub: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        std::fs::write(d.join("known_hosts"), format!("[127.0.0.1]:{port} {}\n", host_pub.join(" "))).unwrap();
        // sshd insists on its privilege separation directory (made by its own service at boot).
        std::fs::create_dir_all("/run/sshd").unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
            .spawn()
            .expect("start sshd");
        let sshd = Sshd { child, dir, port };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "sshd did not listen on 127.0.0.1:{port}: {}",
                std::fs::read_to_string(sshd.dir.path().join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        sshd
    }

    /// The make variables for this server.
    fn vars(&self) -> Vec<String> {
        let d = self.dir.path().display();
        vec![
            "HOST=root@127.0.0.1".into(),
            format!("SSH_PORT={}", self.port),
            format!("SSH_KEY={d}/client_key"),
            format!("SSH_OPTS=-F /dev/null -o StrictHostKeyChecking=yes -o UserKnownHostsFile={d}/known_hosts"),
        ]
    }

    fn systemctl_calls(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("systemctl.log")).unwrap_or_default()
    }
}

fn fails_with(cmd: &mut Command, message: &str) {
    let o = run(cmd, Duration::from_secs(60));
    let err = text(&o.stderr);
    assert!(!o.status.success(), "{cmd:?} succeeded");
    assert!(err.contains(message), "{cmd:?}: expected `{message}` in:\n{err}");
}

#[test]
fn flash_and_deploy_over_loopback_ssh() {
    let mut tools = build_tools();
    tools.extend(["/usr/sbin/sshd", "ssh", "ssh-keygen", "rsync", "systemctl", "cp", "chmod"]);
    if !have("flash_and_deploy_over_loopback_ssh", &tools, true) {
        return;
    }
    let deb = package();
    let sshd = Sshd::start();
    let root = staging_root("flash");
    let r = root.path();
    let vars = sshd.vars();
    let deb_var = format!("DEB={}", deb.display());
    let root_var = format!("FLASH_ROOT={}", r.display());

    let out =
        ok(make(&["flash", "BOARD=rpi-zero2w"]).args(&vars).arg(&deb_var).arg(&root_var), Duration::from_secs(180));
    assert!(out.contains("enabled there, not started"), "{out}");
    assert!(out.contains("journalctl -u facecam -f"), "{out}");

    // Every file the package database lists landed, with the package's contents (the
    // config differs only in the board line).
    let unpacked = scratch("pkg-unpacked");
    ok(Command::new("dpkg-deb").arg("--extract").arg(deb).arg(unpacked.path()), Duration::from_secs(60));
    let listed = ok(
        Command::new("dpkg").arg(format!("--root={}", r.display())).args(["-L", "facecam"]),
        Duration::from_secs(30),
    );
    let files: Vec<&str> = listed.lines().filter(|p| unpacked.path().join(&p[1..]).is_file()).collect();
    assert_eq!(files.len(), package_files(deb).len(), "dpkg -L lists:\n{listed}");
    for f in &files {
        let (got, want) = (std::fs::read(r.join(&f[1..])), std::fs::read(unpacked.path().join(&f[1..])).unwrap());
        let got = got.unwrap_or_else(|e| panic!("{f} is not in the flashed root: {e}"));
        if *f == "/etc/facecam/facecam.conf" {
            let conf = text(&got);
            assert!(conf.lines().any(|l| l == "FACECAM_BOARD=rpi-zero2w"), "{conf}");
            assert_eq!(conf.lines().count(), text(&want).lines().count());
        } else {
            assert!(got == want, "{f} differs from the package's");
        }
    }
    // The link points at /lib/… inside the root: look at the link itself.
    let wants = r.join("etc/systemd/system/multi-user.target.wants/facecam.service");
    assert!(wants.symlink_metadata().is_ok(), "not enabled");
    let calls = sshd.systemctl_calls();
    assert!(calls.contains(&format!("--root={} enable facecam.service", r.display())), "systemctl calls:\n{calls}");
    assert!(!calls.contains("start"), "something was started:\n{calls}");

    // Clear one-line failures.
    fails_with(make(&["flash", "BOARD=rpi4"]).arg(&deb_var), "set HOST=user@host");
    fails_with(
        make(&["flash", "BOARD=rpi4", "DEB=/nonexistent/facecam.deb"]).args(&vars).arg(&root_var),
        "no package at /nonexistent/facecam.deb",
    );
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut closed_vars = vars.clone();
    closed_vars[1] = format!("SSH_PORT={closed}");
    fails_with(
        make(&["flash", "BOARD=rpi4"]).args(&closed_vars).arg(&deb_var).arg(&root_var),
        "cannot reach root@127.0.0.1",
    );

    // make deploy: a changed binary goes over with rsync, nothing else changes.
    let work = scratch("pkg-deploy");
    let mut bin = std::fs::read(unpacked.path().join("usr/bin/facecam")).unwrap();
    bin.extend_from_slice(b"facecam-deploy-test");
    let new_bin = work.path().join("facecam");
    std::fs::write(&new_bin, &bin).unwrap();
    let bin_var = format!("FACECAM_BIN={}", new_bin.display());
    let out = ok(make(&["deploy"]).args(&vars).arg(&bin_var).arg(&root_var), Duration::from_secs(180));
    assert!(out.contains("nothing restarted"), "{out}");
    assert!(std::fs::read(r.join("usr/bin/facecam")).unwrap() == bin, "deployed binary differs");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(r.join("usr/bin/facecam")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
    }
    let not_installed = format!("FLASH_ROOT={}/nothing-here", work.path().display());
    fails_with(make(&["deploy"]).args(&vars).arg(&bin_var).arg(&not_installed), "facecam is not installed");

    ok(dpkg_root(r).args(["--purge", "facecam"]), Duration::from_secs(120));
    assert!(
        !r.join("etc/systemd/system/multi-user.target.wants/facecam.service").exists(),
        "enablement left after purge"
    );
}
