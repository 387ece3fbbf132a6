//! `stsbridge audit list`: the audit trail filtered, as text or as CloudTrail-like JSON lines
//! (the shape of `[audit] export_file`), and followed as it grows.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use stsbridge::admin::{self, AdminRequest, AdminResponse};
use stsbridge::audit::query::{AuditQuery, DEFAULT_LIMIT, event_names};
use stsbridge::audit::{AuditEvent, IdentityKind};
use stsbridge::follow::FollowLine;

#[derive(clap::Args)]
pub struct ListArgs {
    /// The most events printed: the newest of those matching, oldest first.
    #[arg(long, default_value_t = DEFAULT_LIMIT)]
    limit: usize,
    /// Events at or after a date (`2026-09-01`, midnight UTC) or an RFC 3339 time.
    #[arg(long, value_parser = crate::parse_before)]
    since: Option<i64>,
    /// Events before a date or an RFC 3339 time.
    #[arg(long, value_parser = crate::parse_before, conflicts_with = "follow")]
    until: Option<i64>,
    /// Events of this name only (`AssumeRoleWithWebIdentity`, `RevokeSession`, ...).
    #[arg(long = "event", value_name = "NAME", value_parser = parse_event_name)]
    event_name: Option<String>,
    /// Events about this principal: a userIdentity ARN or principal id, a user name, the
    /// subject of a web identity or SAML user, or a role session ARN an event issued.
    #[arg(long, value_name = "ARN-OR-SUBJECT")]
    principal: Option<String>,
    /// Events that used, issued or acted on this access key id.
    #[arg(long)]
    access_key_id: Option<String>,
    /// Refusals with this error code (`AccessDenied`, `InvalidClientTokenId`, ...).
    #[arg(long)]
    error_code: Option<String>,
    /// One CloudTrail-like JSON event per line (the export file's shape).
    #[arg(long)]
    json: bool,
    /// After the matching events, print new ones as they are recorded, until Ctrl-C or the
    /// daemon stops (needs the running daemon).
    #[arg(long)]
    follow: bool,
}

fn parse_event_name(name: &str) -> Result<String, String> {
    if event_names().contains(&name) {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "no audit event is named {name:?}; the names are: {}",
            event_names().join(", ")
        ))
    }
}

impl ListArgs {
    fn query(&self) -> AuditQuery {
        AuditQuery {
            since: self.since,
            until: self.until,
            event_name: self.event_name.clone(),
            principal: self.principal.clone(),
            access_key_id: self.access_key_id.clone(),
            error_code: self.error_code.clone(),
            limit: self.limit,
        }
    }
}

/// Print the matching events: through the running daemon, or from the store when it is stopped.
pub async fn list(config_path: &Path, args: ListArgs) -> Result<ExitCode, String> {
    let query = args.query();
    query.validate().map_err(|e| e.to_string())?;
    let socket = &crate::admin_socket(config_path)?;
    let mut out = Output { json: args.json };
    if args.follow {
        return follow(socket, &query, &mut out).await;
    }
    let request = AdminRequest::AuditQuery(query.clone());
    let events = match admin::request(socket, &request)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(AdminResponse::Audit(events)) => events,
        Some(AdminResponse::Error(e)) => return Err(e),
        Some(_) => return Err("the daemon answered something else than audit events".into()),
        None => {
            let config = crate::load(config_path)?;
            let store = stsbridge::store::connect(&config.settings.storage, Default::default())
                .await
                .map_err(|e| e.to_string())?;
            store.audit.query(&query).await.map_err(|e| e.to_string())?
        }
    };
    for event in &events {
        if !out.print(event)? {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Stream the matching events from the running daemon until Ctrl-C or the daemon stops.
async fn follow(socket: &Path, query: &AuditQuery, out: &mut Output) -> Result<ExitCode, String> {
    let Some(mut stream) = admin::follow(socket, query)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Err(format!(
            "--follow streams from the running daemon, and none listens on {}; without --follow, the stored events are listed",
            socket.display()
        ));
    };
    // Listening for Ctrl-C starts here, before the first event is printed (`ctrl_c()` would
    // register only when first polled, and a select that finds a line ready first never polls
    // it: an early Ctrl-C would kill the process instead of ending it cleanly).
    let mut interrupted = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| format!("cannot listen for Ctrl-C: {e}"))?;
    loop {
        let line = tokio::select! {
            biased;
            _ = interrupted.recv() => return Ok(ExitCode::SUCCESS),
            line = stream.next() => line.map_err(|e| e.to_string())?,
        };
        match line {
            Some(FollowLine::Event(event)) => {
                if !out.print(&event)? {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            Some(FollowLine::Lagged { skipped }) => eprintln!(
                "stsbridge: {skipped} events were recorded faster than they could be followed and are not shown (audit list --since shows them)"
            ),
            Some(FollowLine::Error(e)) => return Err(e),
            None => {
                eprintln!("stsbridge: the daemon stopped");
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
}

struct Output {
    json: bool,
}

impl Output {
    /// Print one event; `false` when the reader went away (`audit list | head`).
    fn print(&mut self, event: &AuditEvent) -> Result<bool, String> {
        let mut line = if self.json {
            serde_json::to_string(event).map_err(|e| e.to_string())?
        } else {
            describe(event)
        };
        line.push('\n');
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(line.as_bytes())
            .and_then(|()| stdout.flush())
        {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(format!("cannot write the output: {e}")),
        }
    }
}

/// One event as a line of text: time, name, who, the access key, the outcome, the source
/// address and the request id.
fn describe(event: &AuditEvent) -> String {
    let identity = &event.user_identity;
    let who = match identity.kind {
        IdentityKind::WebIdentityUser | IdentityKind::SamlUser => identity.user_name.as_deref(),
        _ => identity
            .arn
            .as_deref()
            .or(identity.principal_id.as_deref())
            .or(identity.user_name.as_deref()),
    };
    let mut line = format!(
        "{}  {}  {}",
        event.event_time,
        event.event_name,
        identity.kind.as_str()
    );
    if let Some(who) = who {
        line.push_str(&format!(" {}", who.escape_debug()));
    }
    let issued = event
        .response_elements
        .as_ref()
        .and_then(|r| r.get("credentials"))
        .and_then(|c| c.get("accessKeyId"))
        .and_then(serde_json::Value::as_str);
    if let Some(key) = &identity.access_key_id {
        line.push_str(&format!("  key {key}"));
    }
    if let Some(key) = issued {
        line.push_str(&format!("  issued {key}"));
    }
    match (&event.error_code, &event.error_message) {
        (Some(code), Some(message)) => {
            line.push_str(&format!("  {code}: {}", message.escape_debug()));
        }
        (Some(code), None) => line.push_str(&format!("  {code}")),
        (None, _) => line.push_str("  ok"),
    }
    line.push_str(&format!(
        "  from {}  request {}",
        event.source_ip_address.as_deref().unwrap_or("-"),
        event.request_id
    ));
    line
}
