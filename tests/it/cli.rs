//! The command line as an operator runs it, the binary in a child process: `policy validate`,
//! `policy simulate` and `check-config` on documents that name a member twice.

use std::path::Path;
use std::process::{Command, Output};

/// The trust policy of the issue: the second `Condition` silently replaced the first (and its
/// `sub` condition), and `policy validate` and `check-config` said ok.
const TWO_CONDITIONS: &str = include_str!("../fixtures/policy/two-conditions.json");
/// What its author meant: both operators in one `Condition` block.
const ONE_CONDITION: &str = include_str!("../fixtures/policy/one-condition.json");

const DUPLICATE_CONDITION: &str =
    "Statement[0]: Duplicate member \"Condition\": a JSON object may name each member only once";

fn stsbridge(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stsbridge"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("running stsbridge")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn policy_validate_prints_a_member_named_twice_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "once.json", ONE_CONDITION);
    write(dir.path(), "twice.json", TWO_CONDITIONS);

    let output = stsbridge(
        dir.path(),
        &["policy", "validate", "--kind", "trust", "once.json"],
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(stdout(&output), "once.json: ok\n");

    let output = stsbridge(
        dir.path(),
        &[
            "policy",
            "validate",
            "--kind",
            "trust",
            "once.json",
            "twice.json",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        stdout(&output),
        format!("once.json: ok\ntwice.json: {DUPLICATE_CONDITION}\n1 problem(s) found\n")
    );
}

#[test]
fn policy_simulate_refuses_a_policy_naming_a_member_twice() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "p.json",
        r#"{"Statement":{"Effect":"Deny","Effect":"Allow","Action":"*","Resource":"*"}}"#,
    );
    let output = stsbridge(
        dir.path(),
        &[
            "policy",
            "simulate",
            "--policy",
            "p.json",
            "--action",
            "s3:GetObject",
            "--resource",
            "arn:aws:s3:::b/k",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("p.json: Statement: Duplicate member \"Effect\""),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "{output:?}");
}

#[test]
fn check_config_prints_a_role_whose_trust_policy_names_a_member_twice() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "stsbridge.toml",
        "default_account_id = \"123456789012\"\n\
         [server]\nlisten = \"127.0.0.1:8080\"\n\
         [storage]\npath = \"data/sled\"\n\
         [keys]\npath = \"data/keyring.json\"\n",
    );
    std::fs::create_dir_all(dir.path().join("idp-configs")).unwrap();
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    write(
        dir.path(),
        "roles/deploy.json",
        &format!(r#"{{"RoleName":"deploy","AssumeRolePolicyDocument":{TWO_CONDITIONS}}}"#),
    );
    let output = stsbridge(dir.path(), &["--config", "stsbridge.toml", "check-config"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.contains(&format!(
            "deploy.json: AssumeRolePolicyDocument: {DUPLICATE_CONDITION}\n"
        )),
        "{text}"
    );
    assert!(text.ends_with("1 problem(s) found\n"), "{text}");
}

/// The packaging's generated files come from the CLI definition, and the configuration is found
/// through `$STSBRIDGE_CONFIG` when `--config` is not given.
#[test]
fn completions_man_pages_and_the_config_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let completions = stsbridge(dir.path(), &["completions", "bash"]);
    assert!(completions.status.success());
    let script = stdout(&completions);
    for command in ["reload", "check-config", "revoke-sessions", "--config"] {
        assert!(script.contains(command), "{command} not completed");
    }
    let man = stsbridge(dir.path(), &["man"]);
    let page = stdout(&man);
    assert!(page.contains(".TH stsbridge 1"), "{page}");
    assert!(page.contains("STSBRIDGE_CONFIG"), "{page}");
    let pages = stsbridge(dir.path(), &["man", "--dir", "man1"]);
    assert!(pages.status.success());
    assert!(
        dir.path()
            .join("man1/stsbridge-users-keys-deactivate.1")
            .exists()
    );

    let config = crate::check_config::config_dir(crate::check_config::MAIN);
    let checked = Command::new(env!("CARGO_BIN_EXE_stsbridge"))
        .arg("check-config")
        .current_dir(dir.path())
        .env("STSBRIDGE_CONFIG", config.path().join("stsbridge.toml"))
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", stdout(&checked));
    assert!(stdout(&checked).contains(": ok ("), "{}", stdout(&checked));
}
