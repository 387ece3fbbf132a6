//! What a package installs besides the binary, generated from the command-line definition so it
//! cannot drift: shell completions and manual pages. And where the configuration is found.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;

/// The configuration file of a host set up by the packaging (`systemd/`).
pub const SYSTEM_CONFIG: &str = "/etc/stsbridge/stsbridge.toml";
/// The configuration file of a checkout (the example configuration).
pub const LOCAL_CONFIG: &str = "stsbridge.toml";

/// `--config` or `$STSBRIDGE_CONFIG` when given; else `./stsbridge.toml` when it exists; else
/// the system's `/etc/stsbridge/stsbridge.toml` (so `stsbridge sessions list` on a server reaches
/// its daemon without flags).
pub fn config_path(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        let local = PathBuf::from(LOCAL_CONFIG);
        if local.exists() || !Path::new(SYSTEM_CONFIG).exists() {
            local
        } else {
            PathBuf::from(SYSTEM_CONFIG)
        }
    })
}

/// Print the completion script of `shell`.
pub fn completions<C: CommandFactory>(shell: clap_complete::Shell) {
    let mut command = C::command();
    let name = command.get_name().to_owned();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut out);
    write_stdout(&out);
}

/// Print the manual page, or write every command's page into `dir`.
pub fn man<C: CommandFactory>(dir: Option<&Path>) -> Result<ExitCode, String> {
    let command = C::command();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut out)
                .map_err(|e| e.to_string())?;
            write_stdout(&out);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Write `bytes` to standard output; a reader that went away ends the command quietly.
fn write_stdout(bytes: &[u8]) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("stsbridge: cannot write the output: {e}");
        std::process::exit(1);
    }
}

/// Every argument and option of `command` and its subcommands without help text, as
/// `stsbridge users create --account` (empty when all have it).
#[cfg(test)]
pub fn undocumented(command: &clap::Command) -> Vec<String> {
    fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        let path = if path.is_empty() {
            command.get_name().to_owned()
        } else {
            format!("{path} {}", command.get_name())
        };
        if command.get_about().is_none() {
            missing.push(path.clone());
        }
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" || arg.is_hide_set() {
                continue;
            }
            if arg.get_help().is_none() {
                let name = arg
                    .get_long()
                    .map_or_else(|| id.to_uppercase(), |l| format!("--{l}"));
                missing.push(format!("{path} {name}"));
            }
        }
        for sub in command.get_subcommands() {
            if sub.get_name() != "help" {
                walk(sub, &path, missing);
            }
        }
    }
    let mut missing = Vec::new();
    walk(command, "", &mut missing);
    missing
}
