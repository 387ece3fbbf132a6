//! Where log lines go and how they look: standard error, `text` or `json` (`[log] format`), with
//! colours only for a person at a terminal.

use std::io::IsTerminal as _;

use stsbridge::config::LogFormat;

/// Start logging to standard error in `format`, at the level `RUST_LOG` names (default `info`).
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(colours()).init(),
        // One JSON object per line, the span's fields (the request id) in it.
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// Colours (ANSI escapes) only when standard error is a terminal and `NO_COLOR` is not set
/// (no-color.org): a file, a pipe or the journal gets plain text.
fn colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
