//! The `stsbridge` command line: parses arguments and calls the library.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use stsbridge::admin::{self, AdminRequest, AdminResponse};
use stsbridge::clock::{Clock, SystemClock};
use stsbridge::config::{self, Config};
use stsbridge::creds::SharedKeyring;

#[derive(Parser)]
#[command(
    name = "stsbridge",
    version,
    about = "Federation identity bridge speaking the AWS STS API"
)]
struct Cli {
    /// The main configuration file [default: ./stsbridge.toml when it exists, else
    /// /etc/stsbridge/stsbridge.toml].
    #[arg(
        long = "config",
        global = true,
        env = "STSBRIDGE_CONFIG",
        value_name = "PATH"
    )]
    config_arg: Option<PathBuf>,
    /// The configuration file in use (`--config`, `$STSBRIDGE_CONFIG` or the default).
    #[arg(skip)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Serve {
        /// Also serve the built-in development issuer (refused unless listening on loopback).
        #[arg(long)]
        dev: bool,
    },
    /// Validate every configuration file and print every problem (exit 1 on any), warning and
    /// note.
    CheckConfig {
        /// Treat warnings as problems: exit 1 on any (notes never count).
        #[arg(long)]
        strict: bool,
    },
    /// Read the configuration again and apply it to the running daemon, whole or not at all (as
    /// `SIGHUP` does); print what changed, or every problem (exit 1: nothing was applied).
    Reload,
    /// Inspect issued sessions (through the running daemon, or the store when it is stopped).
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Act on roles.
    Roles {
        #[command(subcommand)]
        command: RolesCommand,
    },
    /// Manage IAM users, their access keys and MFA devices.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// The keyring sealing session tokens and user secrets: list, rotate, retire keys; make the
    /// KEK that seals it in a PostgreSQL store.
    Keys {
        #[command(subcommand)]
        command: cli::keys::KeysCommand,
    },
    /// Read the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print a token signed by the development issuer of `serve --dev`.
    DevToken {
        /// The subject (`sub`).
        #[arg(long)]
        sub: String,
        /// The audience (`aud`).
        #[arg(long, default_value = stsbridge::dev::DEV_AUDIENCE)]
        aud: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// Extra string claims, `name=value` (repeatable).
        #[arg(long = "claim", value_parser = parse_claim)]
        claims: Vec<(String, String)>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command into a directory.
    Man {
        /// Write `stsbridge.1` and a `stsbridge-COMMAND.1` page per subcommand here instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Measure AssumeRoleWithWebIdentity throughput and latency of a running daemon.
    Loadgen(LoadgenArgs),
    /// Move records between stores (the daemon stopped): `store copy --from sled --to postgres`.
    Store {
        #[command(subcommand)]
        command: cli::store::StoreCommand,
    },
    /// Validate IAM policy documents and decide requests against them (no configuration file).
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Sign in through an `[sso-session]` of the AWS config file (as `aws sso login`) and write
    /// the SDKs' token cache; print the config stanzas for the roles found. Endpoints:
    /// $AWS_ENDPOINT_URL_SSO_OIDC / $AWS_ENDPOINT_URL_SSO, a profile's `services`, else
    /// `<sso_start_url>/sso-oidc` and `<sso_start_url>/sso` (this daemon's layout).
    Login(cli::login::LoginArgs),
}

#[derive(clap::Args)]
struct LoadgenArgs {
    /// The daemon to drive (loopback); default: the configured listen address. Repeat it to
    /// spread the connections round-robin over several daemons sharing one database.
    #[arg(long = "target")]
    targets: Vec<std::net::SocketAddr>,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// How long to drive the daemon, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The role to assume; default: the example `dev-reader` role of the default account.
    #[arg(long)]
    role_arn: Option<String>,
    /// A file holding the web identity token; default: a token of each target's development
    /// issuer (the daemons must run with `serve --dev` and share the keys directory).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Speak HTTPS, trusting the PEM CA certificate(s) in this file (a daemon with
    /// `tls_cert_file`); the certificate must name the target's IP address.
    #[arg(long)]
    tls_ca: Option<PathBuf>,
}

#[derive(Subcommand)]
enum SessionsCommand {
    /// List sessions.
    List {
        /// At most this many (the latest to expire first).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// One JSON object per line (JSON Lines).
        #[arg(long)]
        json: bool,
    },
    /// Show one session by its access key id.
    Show {
        /// The session's access key id (`ASIA…`).
        id: String,
    },
    /// Revoke one session by its access key id, or an SSO sign-in by its login id (honoured
    /// at once by a running daemon).
    Revoke(cli::sessions::RevokeArgs),
}

#[derive(Subcommand)]
enum RolesCommand {
    /// Revoke every session of a role issued until now (AWS's "revoke active sessions").
    RevokeSessions {
        /// The role ARN, `arn:aws:iam::ACCOUNT:role/PATH/NAME`.
        role_arn: String,
        /// Revoke even if no such role is configured (a role already removed).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Create a user (`arn:aws:iam::ACCOUNT:user/NAME`).
    Create {
        /// The user's name (IAM's characters, at most 64).
        name: String,
        /// The account; default: `default_account_id`.
        #[arg(long)]
        account: Option<String>,
        /// An identity policy file (IAM JSON; repeatable). The file stem names the policy.
        #[arg(long = "policy")]
        policies: Vec<PathBuf>,
    },
    /// List users.
    List {
        /// One JSON object per line (JSON Lines).
        #[arg(long)]
        json: bool,
    },
    /// Show one user (never its secrets).
    Show {
        /// The user's name.
        name: String,
    },
    /// Manage a user's access keys.
    Keys {
        #[command(subcommand)]
        command: UserKeysCommand,
    },
    /// Manage a user's MFA device.
    Mfa {
        #[command(subcommand)]
        command: UserMfaCommand,
    },
    #[command(flatten)]
    More(cli::users::UsersMore),
}

#[derive(Subcommand)]
enum UserKeysCommand {
    /// Create an access key; prints `AKIA…` and the secret, once.
    Create {
        /// The user's name.
        name: String,
    },
    /// Delete an access key; it stops working at once.
    Delete {
        /// The user's name.
        name: String,
        /// The access key id (`AKIA…`).
        access_key_id: String,
    },
    #[command(flatten)]
    More(cli::users::UserKeysMore),
}

#[derive(Subcommand)]
enum UserMfaCommand {
    /// Enable a virtual MFA device; prints the TOTP secret and an `otpauth://` URL, once.
    Enable {
        /// The user's name.
        name: String,
    },
    #[command(flatten)]
    More(cli::users::UserMfaMore),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// The newest audit events, oldest first, filtered; or followed as they are recorded.
    List(cli::audit::ListArgs),
    /// Delete the events recorded before a time (the purge does this by itself for events
    /// older than `[audit] retention_days`). The deletion is recorded.
    Prune {
        /// A date (`2026-09-01`, midnight UTC) or an RFC 3339 time (`2026-09-01T12:00:00Z`).
        #[arg(long, value_parser = parse_before)]
        before: i64,
    },
}

fn parse_before(text: &str) -> Result<i64, String> {
    stsbridge::clock::parse_time_or_date(text).ok_or_else(|| {
        format!(
            "{text:?} is neither a date (2026-09-01) nor an RFC 3339 time (2026-09-01T12:00:00Z)"
        )
    })
}

/// glibc's allocator spent a large share of a loaded daemon's CPU on sled's and hyper's many small
/// allocations across threads (measured with perf); mimalloc's thread-local heaps do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Write a line to standard output. When the reader went away (`stsbridge users list | head -1`)
/// there is nothing left to say: the command ends quietly instead of panicking as `println!`
/// does on a broken pipe.
macro_rules! say {
    ($($arg:tt)*) => {
        say_raw(format_args!("{}\n", format_args!($($arg)*)))
    };
}

fn say_raw(text: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(text).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("stsbridge: cannot write the output: {e}");
        std::process::exit(1);
    }
}

fn parse_claim(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| "expected name=value".to_owned())
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    cli.config = cli::packaging::config_path(cli.config_arg.take());
    // `serve` logs as its configuration says; every other command as text.
    cli::log::init(match cli.command {
        Command::Serve { .. } => config::log_format(&cli.config),
        _ => config::LogFormat::Text,
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("stsbridge: {message}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &Path) -> Result<Config, String> {
    config::load(path).map_err(|e| format!("invalid configuration:\n{e}"))
}

async fn dispatch(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Serve { dev } => serve(&cli.config, dev).await,
        Command::CheckConfig { strict } => Ok(check_config(&cli.config, strict).await),
        Command::Reload => reload(&cli.config).await,
        Command::Completions { shell } => {
            cli::packaging::completions::<Cli>(shell);
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir } => cli::packaging::man::<Cli>(dir.as_deref()),
        Command::Loadgen(args) => loadgen(&cli.config, args).await,
        Command::Login(args) => {
            let stanzas = cli::login::run(args).await.map_err(|e| e.to_string())?;
            say_raw(format_args!("{stanzas}"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Sessions {
            command: SessionsCommand::List { limit, json: true },
        } => json_command(&cli.config, AdminRequest::SessionsList { limit }).await,
        Command::Users {
            command: UsersCommand::List { json: true },
        } => json_command(&cli.config, AdminRequest::UsersList).await,
        Command::Keys {
            command: cli::keys::KeysCommand::InitKek { path },
        } => {
            for line in cli::keys::init_kek(&path)? {
                say!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys { command } => admin_command(&cli.config, cli::keys::request(command)?).await,
        Command::Sessions { command } => {
            let request = match command {
                SessionsCommand::List { limit, .. } => AdminRequest::SessionsList { limit },
                SessionsCommand::Show { id } => AdminRequest::SessionsShow { id },
                SessionsCommand::Revoke(args) => cli::sessions::revoke_request(args),
            };
            admin_command(&cli.config, request).await
        }
        Command::Roles {
            command: RolesCommand::RevokeSessions { role_arn, force },
        } => {
            let request = AdminRequest::RolesRevokeSessions { role_arn, force };
            admin_command(&cli.config, request).await
        }
        Command::Audit {
            command: AuditCommand::List(args),
        } => cli::audit::list(&cli.config, args).await,
        Command::Audit {
            command: AuditCommand::Prune { before },
        } => admin_command(&cli.config, AdminRequest::AuditPrune { before }).await,
        Command::Users { command } => {
            let request = users_request(command)?;
            admin_command(&cli.config, request).await
        }
        Command::DevToken {
            sub,
            aud,
            ttl,
            claims,
        } => {
            let config = load(&cli.config)?;
            let extra = claims
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            let token = stsbridge::dev::sign_dev_token(
                &config.settings,
                config.settings.listen,
                &sub,
                &aud,
                Duration::from_secs(ttl),
                extra,
                SystemClock.now(),
            )
            .map_err(|e| e.to_string())?;
            say!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy { command } => policy_command(command),
        Command::Store {
            command: cli::store::StoreCommand::Copy(args),
        } => {
            let settings = cli::store::settings(&cli.config)?;
            for line in cli::store::copy(&settings, &args).await? {
                say!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn loadgen(path: &Path, args: LoadgenArgs) -> Result<ExitCode, String> {
    let config = load(path)?;
    let settings = &config.settings;
    let addrs = if args.targets.is_empty() {
        vec![settings.listen]
    } else {
        args.targets
    };
    let from_file = match &args.token_file {
        Some(file) => Some(
            std::fs::read_to_string(file)
                .map_err(|e| format!("{}: {e}", file.display()))?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    let mut targets = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let token = match &from_file {
            Some(token) => token.clone(),
            None => stsbridge::dev::sign_dev_token(
                settings,
                addr,
                "loadgen",
                stsbridge::dev::DEV_AUDIENCE,
                Duration::from_secs(3600),
                serde_json::Map::new(),
                SystemClock.now(),
            )
            .map_err(|e| e.to_string())?,
        };
        targets.push(cli::loadgen::Target { addr, token });
    }
    let role_arn = args.role_arn.unwrap_or_else(|| {
        format!(
            "arn:aws:iam::{}:role/dev-reader",
            settings.default_account_id
        )
    });
    let ceiling = cli::loadgen::rs256_verifications_per_second(Duration::from_secs(2))
        .map_err(|e| e.to_string())?;
    say!("ceiling reference: RS256 verifications alone on one core: {ceiling:.0}/s");
    let spec = cli::loadgen::LoadSpec {
        targets,
        connections: args.connections.max(1),
        duration: Duration::from_secs(args.seconds.max(1)),
        role_arn,
        tls: match &args.tls_ca {
            Some(ca) => Some(cli::loadgen::tls_client_config(ca).map_err(|e| e.to_string())?),
            None => None,
        },
    };
    let (spec, report) =
        tokio::task::spawn_blocking(move || cli::loadgen::run(&spec).map(|r| (spec, r)))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    say!(
        "AssumeRoleWithWebIdentity{}: {} connections to {} daemon(s), {:.1} s: {} requests ({} errors), {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        if spec.tls.is_some() { " over TLS" } else { "" },
        spec.connections,
        spec.targets.len(),
        report.elapsed.as_secs_f64(),
        report.requests,
        report.errors,
        report.requests_per_second(),
        report.p50.as_secs_f64() * 1e3,
        report.p99.as_secs_f64() * 1e3,
        report.max.as_secs_f64() * 1e3,
    );
    say!(
        "  = {:.1}% of 2 x the one-core RS256 rate",
        100.0 * report.requests_per_second() / (2.0 * ceiling)
    );
    if let Some(code) = &report.first_error {
        say!("  first error: {code}");
    }
    Ok(if report.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn check_config(path: &Path, strict: bool) -> ExitCode {
    match config::load(path) {
        Ok(mut c) => {
            // The operator's templates compile as `serve` compiles them.
            if let Some(dir) = &c.settings.signin.templates_dir
                && let Err(e) = stsbridge::web::Templates::load(Some(dir))
            {
                say!("{}: signin.templates_dir: {e}", path.display());
                say!("1 problem(s) found");
                return ExitCode::FAILURE;
            }
            let expired = config::time_warnings(&c.settings, SystemClock.now());
            c.warnings.extend(expired);
            for w in &c.warnings {
                say!("warning: {w}");
            }
            for n in &c.notes {
                say!("note: {n}");
            }
            if strict && !c.warnings.is_empty() {
                say!("{} warning(s) found (--strict)", c.warnings.len());
                return ExitCode::FAILURE;
            }
            match cli::storage::check(&c.settings).await {
                Some(Ok(lines)) => {
                    for line in lines {
                        say!("note: {line}");
                    }
                }
                Some(Err(problem)) => {
                    say!("{}: {problem}", path.display());
                    say!("1 problem(s) found");
                    return ExitCode::FAILURE;
                }
                None => {}
            }
            let federation = &c.federation;
            let warnings = match c.warnings.len() {
                0 => String::new(),
                n => format!(", {n} warning(s)"),
            };
            say!(
                "{}: ok ({} identity providers, {} roles, {} managed policies){warnings}",
                path.display(),
                federation.idps.len(),
                federation.roles.len(),
                federation.managed_policies.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for p in &errors.0 {
                say!("{p}");
            }
            say!("{} problem(s) found", errors.0.len());
            ExitCode::FAILURE
        }
    }
}

async fn serve(path: &Path, dev: bool) -> Result<ExitCode, String> {
    let config = load(path)?;
    let listen = config.settings.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    stsbridge::run(
        config,
        listener,
        stsbridge::RunOptions {
            dev,
            reload_on_hangup: true,
            ..Default::default()
        },
        Arc::new(SystemClock),
        shutdown_signal(),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
}

fn users_request(command: UsersCommand) -> Result<AdminRequest, String> {
    Ok(match command {
        UsersCommand::Create {
            name,
            account,
            policies,
        } => AdminRequest::UsersCreate {
            name,
            account_id: account,
            policies: cli::users::read_policies(policies)?,
        },
        UsersCommand::List { .. } => AdminRequest::UsersList,
        UsersCommand::Show { name } => AdminRequest::UsersShow { name },
        UsersCommand::Keys {
            command: UserKeysCommand::Create { name },
        } => AdminRequest::UsersKeysCreate { name },
        UsersCommand::Keys {
            command:
                UserKeysCommand::Delete {
                    name,
                    access_key_id,
                },
        } => AdminRequest::UsersKeysDelete {
            name,
            access_key_id,
        },
        UsersCommand::Mfa {
            command: UserMfaCommand::Enable { name },
        } => AdminRequest::UsersMfaEnable { name },
        UsersCommand::Keys {
            command: UserKeysCommand::More(more),
        } => cli::users::keys_request(more),
        UsersCommand::Mfa {
            command: UserMfaCommand::More(more),
        } => cli::users::mfa_request(more),
        UsersCommand::More(more) => cli::users::request(more)?,
    })
}

/// Run an admin request through the running daemon, or on the store when no daemon listens.
async fn admin_command(path: &Path, request: AdminRequest) -> Result<ExitCode, String> {
    print_response(admin_response(path, request).await?)
}

/// [`admin_command`] printing a list as JSON Lines (`--json`).
async fn json_command(path: &Path, request: AdminRequest) -> Result<ExitCode, String> {
    for line in cli::json::lines(admin_response(path, request).await?)? {
        say!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The answer to an admin request: from the running daemon, or from the store when no daemon
/// listens. Reaching the daemon needs only the main file (the daemon has its configuration in force),
/// so a broken role or IdP file does not keep an operator from the sessions or the audit.
async fn admin_response(path: &Path, request: AdminRequest) -> Result<AdminResponse, String> {
    let socket = admin_socket(path)?;
    let response = match admin::request(&socket, &request)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(r) => r,
        None => {
            let config = load(path)?;
            let settings = config.settings;
            let store = stsbridge::store::connect(&settings.storage, Default::default())
                .await
                .map_err(|e| e.to_string())?;
            let home = stsbridge::keyring_home::KeyringHome::of(
                &settings.keyring_path,
                settings.kek_file.as_deref(),
                &store,
            )
            .await
            .map_err(|e| e.to_string())?;
            let keyring = stsbridge::startup::open_keyring_at(&home, &store, SystemClock.now())
                .await
                .map_err(|e| e.to_string())?;
            let roles = config.federation.roles;
            let admin = admin::Admin::new(
                store,
                SharedKeyring::new(keyring),
                Arc::new(SystemClock),
                &settings.default_account_id,
                Arc::new(move |arn| roles.get(arn).is_some()),
            )
            .with_keyring_home(home);
            admin::execute(&admin, &request).await
        }
    };
    Ok(response)
}

fn print_response(response: AdminResponse) -> Result<ExitCode, String> {
    match response {
        AdminResponse::Sessions(list) => {
            for s in list {
                say!(
                    "{}  {}  {}  expires {}",
                    s.access_key_id,
                    s.session.caller_arn,
                    s.session.subject,
                    stsbridge::clock::iso8601(stsbridge::clock::from_unix_seconds(s.expires_at))
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AdminResponse::Session(Some(s)) => {
            say!(
                "{}",
                serde_json::to_string_pretty(&s).map_err(|e| e.to_string())?
            );
            Ok(ExitCode::SUCCESS)
        }
        AdminResponse::Session(None) => Err("no such session".into()),
        AdminResponse::Audit(events) => {
            for e in events {
                say!("{}", serde_json::to_string(&e).map_err(|e| e.to_string())?);
            }
            Ok(ExitCode::SUCCESS)
        }
        AdminResponse::Revoked(revocation) => {
            say!(
                "revoked: {}",
                serde_json::to_string(&revocation).map_err(|e| e.to_string())?
            );
            Ok(ExitCode::SUCCESS)
        }
        AdminResponse::Users(users) => {
            for user in users {
                say!(
                    "{}",
                    serde_json::to_string_pretty(&user).map_err(|e| e.to_string())?
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AdminResponse::NewAccessKey(key) => {
            say!("AccessKeyId      {}", key.access_key_id);
            say!("SecretAccessKey  {}", key.secret_access_key.expose());
            say!("(the secret is shown this once; store it now)");
            Ok(ExitCode::SUCCESS)
        }
        AdminResponse::NewMfaDevice(device) => {
            say!("SerialNumber  {}", device.serial_number);
            say!("Secret        {}", device.secret_base32.expose());
            say!("URL           {}", device.otpauth_url.expose());
            say!("(add it to an authenticator app now; it is shown this once)");
            Ok(ExitCode::SUCCESS)
        }
        AdminResponse::Done(message) => {
            say!("{message}");
            Ok(ExitCode::SUCCESS)
        }
        AdminResponse::Error(e) => Err(e),
        AdminResponse::Reloaded(report) => Ok(print_reload(&report)),
        AdminResponse::Keys(keys) => {
            for line in cli::keys::lines(&keys) {
                say!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_reload(report: &stsbridge::reload::ReloadReport) -> ExitCode {
    if !report.applied {
        for problem in &report.problems {
            say!("{problem}");
        }
        say!(
            "reload refused: {} problem(s) found; the configuration in force is unchanged",
            report.problems.len()
        );
        return ExitCode::FAILURE;
    }
    for change in &report.changes {
        say!("{change}");
    }
    for warning in &report.warnings {
        say!("warning: {warning}");
    }
    for setting in &report.restart_needed {
        say!("restart needed: {setting} changed; it takes effect after a restart");
    }
    say!("reloaded in {} ms", report.millis);
    ExitCode::SUCCESS
}

/// The admin socket the main configuration file names (nothing else is read).
fn admin_socket(path: &Path) -> Result<PathBuf, String> {
    config::admin_socket(path).map_err(|e| format!("invalid configuration:\n{e}"))
}

/// `stsbridge reload`: only a running daemon can be reloaded; it reports the problems of the
/// files.
async fn reload(path: &Path) -> Result<ExitCode, String> {
    let socket = &admin_socket(path)?;
    match admin::request(socket, &AdminRequest::Reload)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(response) => print_response(response),
        None => Err(format!(
            "no daemon is listening on {}: a stopped daemon reads the configuration when it starts",
            socket.display()
        )),
    }
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Decide one request as `aws iam simulate-custom-policy` does: the identity policies,
    /// narrowed by the session policies when any are given. Exits 0 whatever the decision, 2 on
    /// input it cannot use.
    Simulate(SimulateArgs),
    /// Validate policy documents and print every problem (exit 1 on any).
    Validate {
        /// What the documents are used as.
        #[arg(long, value_enum, default_value = "identity")]
        kind: PolicyKindArg,
        /// Policy documents (JSON).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(clap::Args)]
struct SimulateArgs {
    /// An identity (permission) policy document (repeatable).
    #[arg(long = "policy", value_name = "FILE", required = true)]
    policies: Vec<PathBuf>,
    /// A session policy document (repeatable): the request must be allowed by these as well.
    #[arg(long = "session-policy", value_name = "FILE")]
    session_policies: Vec<PathBuf>,
    /// The action, e.g. `s3:GetObject`.
    #[arg(long)]
    action: String,
    /// The resource ARN.
    #[arg(long)]
    resource: String,
    /// A condition context value, `key=value` (repeatable; a key given several times has
    /// several values).
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_claim)]
    context: Vec<(String, String)>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PolicyKindArg {
    Trust,
    Identity,
    Session,
}

impl From<PolicyKindArg> for stsbridge::policy::PolicyKind {
    fn from(kind: PolicyKindArg) -> Self {
        match kind {
            PolicyKindArg::Trust => Self::Trust,
            PolicyKindArg::Identity => Self::Identity,
            PolicyKindArg::Session => Self::Session,
        }
    }
}

/// The exit status of `policy simulate` for input it cannot use (as for bad arguments).
const POLICY_BAD_INPUT: u8 = 2;

fn policy_command(command: PolicyCommand) -> Result<ExitCode, String> {
    match command {
        PolicyCommand::Simulate(args) => simulate_policy(&args),
        PolicyCommand::Validate { kind, files } => Ok(validate_policies(kind.into(), &files)),
    }
}

fn simulate_policy(args: &SimulateArgs) -> Result<ExitCode, String> {
    use stsbridge::policy::{ContextKeys, PolicyKind, RequestContext, simulate};
    let loaded = (
        read_policies(&args.policies, PolicyKind::Identity),
        read_policies(&args.session_policies, PolicyKind::Session),
    );
    let (identity, session) = match loaded {
        (Ok(identity), Ok(session)) => (identity, session),
        (identity, session) => {
            for problem in identity.err().into_iter().chain(session.err()).flatten() {
                eprintln!("{problem}");
            }
            return Ok(ExitCode::from(POLICY_BAD_INPUT));
        }
    };
    let mut keys = ContextKeys::default();
    for (key, value) in &args.context {
        keys.insert(key, value.as_str());
    }
    let request = RequestContext {
        principals: Vec::new(),
        action: args.action.clone(),
        resource: Some(args.resource.clone()),
        keys,
    };
    let simulation = simulate(
        &named_policies(&identity),
        &named_policies(&session),
        &request,
        SystemClock.now(),
    );
    if args.json {
        let json = serde_json::to_string_pretty(&simulation).map_err(|e| e.to_string())?;
        say!("{json}");
    } else {
        say_raw(format_args!("{simulation}"));
    }
    Ok(ExitCode::SUCCESS)
}

fn named_policies(
    policies: &[(String, stsbridge::policy::Policy)],
) -> Vec<stsbridge::policy::NamedPolicy<'_>> {
    policies
        .iter()
        .map(|(id, policy)| stsbridge::policy::NamedPolicy { id, policy })
        .collect()
}

/// Every file parsed as `kind`, named by its path; `Err` lists every problem of every file.
fn read_policies(
    files: &[PathBuf],
    kind: stsbridge::policy::PolicyKind,
) -> Result<Vec<(String, stsbridge::policy::Policy)>, Vec<String>> {
    let mut policies = Vec::new();
    let mut problems = Vec::new();
    for file in files {
        match read_policy(file, kind) {
            Ok(policy) => policies.push((file.display().to_string(), policy)),
            Err(found) => problems.extend(found),
        }
    }
    if problems.is_empty() {
        Ok(policies)
    } else {
        Err(problems)
    }
}

/// One policy file parsed as `kind`; each problem is prefixed with the file's path.
fn read_policy(
    file: &Path,
    kind: stsbridge::policy::PolicyKind,
) -> Result<stsbridge::policy::Policy, Vec<String>> {
    let name = file.display();
    let text = std::fs::read_to_string(file).map_err(|e| vec![format!("{name}: {e}")])?;
    stsbridge::policy::Policy::parse(&text, kind).map_err(|error| {
        error
            .problems
            .into_iter()
            .map(|problem| format!("{name}: {problem}"))
            .collect()
    })
}

fn validate_policies(kind: stsbridge::policy::PolicyKind, files: &[PathBuf]) -> ExitCode {
    let mut problems = 0;
    for file in files {
        match read_policy(file, kind) {
            Ok(_) => say!("{}: ok", file.display()),
            Err(found) => {
                problems += found.len();
                for problem in found {
                    say!("{problem}");
                }
            }
        }
    }
    if problems == 0 {
        ExitCode::SUCCESS
    } else {
        say!("{problems} problem(s) found");
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    #[test]
    fn the_command_line_definition_is_valid() {
        Cli::command().debug_assert();
    }

    /// The man page and `--help` are only as good as the help texts: every command, argument
    /// and option has one.
    #[test]
    fn every_command_argument_and_option_has_help() {
        let missing = crate::cli::packaging::undocumented(&Cli::command());
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }
}
