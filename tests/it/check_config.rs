//! `stsbridge check-config` as an operator runs it: what it prints and its exit status, for
//! problems, warnings and notes.

use std::path::Path;
use std::process::Command;

pub(crate) const MAIN: &str = "default_account_id = \"123456789012\"\n\
                    [server]\nlisten = \"127.0.0.1:8080\"\n\
                    [storage]\npath = \"data/sled\"\n\
                    [keys]\npath = \"data/keyring.json\"\n";

/// `stsbridge --config CONFIG check-config ARGS`: exit success and standard output.
fn check_config(config: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stsbridge"))
        .arg("--config")
        .arg(config)
        .arg("check-config")
        .args(args)
        .output()
        .expect("run stsbridge");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    (out.status.success(), stdout)
}

/// A configuration directory: the main file and the three (empty) directories.
pub(crate) fn config_dir(main: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("stsbridge.toml"), main).expect("main");
    for sub in ["idp-configs", "roles", "policies"] {
        std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
    }
    dir
}

#[test]
fn the_shipped_example_is_ok_and_says_which_files_are_disabled_examples() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("stsbridge.toml");
    let (ok, out) = check_config(&example, &["--strict"]);
    assert!(ok, "{out}");
    assert!(!out.contains("warning:"), "{out}");
    assert!(
        out.contains("okta-saml.toml.example: not read: a disabled example (rename it to okta-saml.toml to enable it)")
            && out.lines().filter(|l| l.starts_with("note: ")).count() == 2,
        "{out}"
    );
    assert!(
        out.contains("stsbridge.toml: ok (7 identity providers, 3 roles, 1 managed policies)\n"),
        "{out}"
    );
}

#[test]
fn warnings_are_printed_and_fail_only_with_strict() {
    let dir = config_dir(MAIN);
    std::fs::write(dir.path().join("roles/app.jsn"), "{}").expect("write");
    let config = dir.path().join("stsbridge.toml");

    let (ok, out) = check_config(&config, &[]);
    assert!(ok, "{out}");
    assert!(
        out.contains("warning: ")
            && out.contains("roles/app.jsn: not read: only *.json files are read here\n"),
        "{out}"
    );
    assert!(
        out.contains(": ok (0 identity providers, 0 roles, 0 managed policies), 1 warning(s)\n"),
        "{out}"
    );

    let (ok, out) = check_config(&config, &["--strict"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("app.jsn: not read") && out.ends_with("1 warning(s) found (--strict)\n"),
        "{out}"
    );
    assert!(!out.contains(": ok ("), "{out}");
}

#[test]
fn problems_fail_and_name_the_file_and_field() {
    let dir = config_dir(&format!("roles_dir = \"rolse\"\n{MAIN}"));
    let (ok, out) = check_config(&dir.path().join("stsbridge.toml"), &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("stsbridge.toml: roles_dir: no directory "),
        "{out}"
    );
    assert!(out.ends_with("1 problem(s) found\n"), "{out}");
}

#[test]
fn serve_logs_the_warnings_and_notes_when_it_starts() {
    let dir = config_dir(&MAIN.replace("127.0.0.1:8080", "127.0.0.1:0"));
    std::fs::write(dir.path().join("roles/app.jsn"), "{}").expect("write");
    std::fs::write(dir.path().join("policies/p.json.example"), "{}").expect("write");
    let mut daemon = crate::support::process::Served::start(&dir.path().join("stsbridge.toml"));
    let log = daemon.wait_for("stsbridge serving");
    drop(daemon);
    assert!(log.contains("stsbridge serving"), "{log}");
    let line = |needle: &str| log.lines().find(|l| l.contains(needle)).unwrap_or_default();
    let warning = line("app.jsn: not read: only *.json files are read here");
    assert!(
        warning.contains("WARN") && warning.contains("configuration: "),
        "{log}"
    );
    let note = line("p.json.example: not read: a disabled example");
    assert!(note.contains("INFO"), "{log}");
}

#[test]
fn signin_problems_fail_and_name_the_file_and_field() {
    let dir = config_dir(&MAIN.replace(
        "[storage]",
        "public_url = \"ftp://sts.example.com\"\n[signin]\nsession_hours = 24\n[storage]",
    ));
    std::fs::write(
        dir.path().join("idp-configs/corp.toml"),
        "kind = \"oidc\"\nissuer = \"https://idp.example\"\naudiences = [\"cli\"]\n\
         [signin]\nclient_id = \"portal\"\n",
    )
    .expect("write");
    let (ok, out) = check_config(&dir.path().join("stsbridge.toml"), &[]);
    assert!(!ok, "{out}");
    for want in [
        "stsbridge.toml: server.public_url: must be an https:// (or http://) URL",
        "stsbridge.toml: signin.session_hours: must be 1..12 hours",
        "corp.toml: signin.client_id: must be one of audiences",
    ] {
        assert!(out.contains(want), "{want:?} not in {out}");
    }
    assert!(out.ends_with("3 problem(s) found\n"), "{out}");
}

#[test]
fn an_operator_template_that_does_not_compile_is_a_problem() {
    let dir = config_dir(&format!("{MAIN}[signin]\ntemplates_dir = \"templates\"\n"));
    std::fs::create_dir(dir.path().join("templates")).expect("mkdir");
    std::fs::write(dir.path().join("templates/error.html"), "{% block %}").expect("write");
    let (ok, out) = check_config(&dir.path().join("stsbridge.toml"), &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("stsbridge.toml: signin.templates_dir: template error.html (")
            && out.contains("templates/error.html): "),
        "{out}"
    );
    assert!(out.ends_with("1 problem(s) found\n"), "{out}");
}
