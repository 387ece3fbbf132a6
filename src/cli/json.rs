//! `--json` output of `sessions list` and `users list`: JSON Lines, one compact object per
//! session or user. `jq` reads such a stream as it reads one document (`jq .UserName`, `jq -s`
//! for an array), line tools (`head`, `grep`, `wc -l`) keep working, and a long list is printed
//! as it comes rather than held whole; `audit list` prints the same way.

use stsbridge::admin::AdminResponse;

/// The lines of a list response; `Err` for an error response (or any other).
pub fn lines(response: AdminResponse) -> Result<Vec<String>, String> {
    match response {
        AdminResponse::Sessions(sessions) => sessions.iter().map(line).collect(),
        AdminResponse::Users(users) => users.iter().map(line).collect(),
        AdminResponse::Error(e) => Err(e),
        _ => Err("the daemon answered something other than a list".into()),
    }
}

fn line<T: serde::Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string(value).map_err(|e| e.to_string())
}
