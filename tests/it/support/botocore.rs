//! The botocore checks' Python: `tests/botocore/.venv`, a virtual environment holding the
//! pinned `tests/botocore/requirements.txt` (a botocore recent enough for `sso-session`
//! profiles and `services` endpoint sections, which Debian's python3-botocore predates). The
//! README's first command and `.ci/run` make it; a check fails, never skips, without it.

use std::path::PathBuf;
use std::process::{Command, Output};

/// How to make the environment.
pub const SETUP: &str = "python3 -m venv tests/botocore/.venv && \
    tests/botocore/.venv/bin/pip install -r tests/botocore/requirements.txt";

fn python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/botocore/.venv/bin/python")
}

/// `tests/botocore/SCRIPT` run by the environment's Python, with no AWS configuration of this
/// machine's leaking in (the caller adds what the check needs).
pub fn script(name: &str) -> Command {
    let python = python();
    assert!(
        python.is_file(),
        "the botocore checks need {}: run `{SETUP}` (the README's first command does)",
        python.display()
    );
    let mut command = Command::new(python);
    command
        .arg(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/botocore")
                .join(name),
        )
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_DEFAULT_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_SSO")
        .env_remove("AWS_ENDPOINT_URL_SSO_OIDC")
        .env_remove("AWS_ENDPOINT_URL_STS");
    command
}

/// Run `command` off the async runtime (the daemon answers on it meanwhile); it must succeed,
/// printing one JSON object.
pub async fn run(mut command: Command) -> serde_json::Value {
    let output: Output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("the botocore check's Python runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the botocore check failed:\n{stderr}"
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "one JSON object ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
