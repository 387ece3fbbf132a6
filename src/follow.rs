//! `audit list --follow` on the admin socket: the matching history, then every matching event
//! as it is recorded, one JSON line each ([`FollowLine`]), until the client goes away or the
//! daemon stops.
//!
//! The stream reads the store's audit feed, a bounded broadcast: a follower that reads slowly
//! never holds up a commit; it loses the oldest events instead and is told how many
//! ([`FollowLine::Lagged`]). The admin socket (`crate::admin`) hands a follow request here.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast::error::RecvError;

use crate::audit::AuditEvent;
use crate::audit::query::AuditQuery;
use crate::store::AuditLog;

/// One line of a follow stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowLine {
    Event(Box<AuditEvent>),
    /// The follower fell behind: this many events were recorded that it will not see.
    Lagged {
        skipped: u64,
    },
    /// The request cannot be served; the stream ends.
    Error(String),
}

/// Stream `query`'s events of `audit` to `out` until `client` closes (or sends anything more),
/// `out` fails, or the feed closes (the daemon stops).
pub async fn serve<R, W>(
    audit: &dyn AuditLog,
    query: &AuditQuery,
    mut client: R,
    mut out: W,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    if let Err(e) = query.validate() {
        return send(&mut out, &FollowLine::Error(e.to_string())).await;
    }
    // Subscribed before the history is read: an event recorded meanwhile is in one or the other
    // (or both: told apart by its request id).
    let mut feed = audit.follow();
    let history = match audit.query(query).await {
        Ok(history) => history,
        Err(e) => return send(&mut out, &FollowLine::Error(e.to_string())).await,
    };
    let mut sent: HashSet<String> = history.iter().map(|e| e.request_id.clone()).collect();
    for event in history {
        send(&mut out, &FollowLine::Event(Box::new(event))).await?;
    }
    let mut byte = [0u8; 1];
    loop {
        tokio::select! {
            // The client sends nothing after its request: end of file (or anything) means it
            // is gone.
            _ = client.read(&mut byte) => return Ok(()),
            received = feed.recv() => match received {
                Ok(recorded) => {
                    let event = match recorded.event() {
                        Ok(event) => event,
                        Err(e) => {
                            tracing::warn!(error = %e, "an unreadable event on the audit feed");
                            continue;
                        }
                    };
                    if sent.remove(&event.request_id) || !query.matches(&event) {
                        continue;
                    }
                    send(&mut out, &FollowLine::Event(Box::new(event))).await?;
                }
                Err(RecvError::Lagged(skipped)) => {
                    send(&mut out, &FollowLine::Lagged { skipped }).await?;
                }
                Err(RecvError::Closed) => return Ok(()),
            },
        }
    }
}

async fn send<W: AsyncWrite + Unpin>(out: &mut W, line: &FollowLine) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(line).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    out.write_all(&bytes).await?;
    out.flush().await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncBufReadExt, BufReader};

    use super::*;
    use crate::store::conformance::event;
    use crate::store::{StorageSettings, Store};

    fn store(dir: &std::path::Path) -> Store {
        crate::store::open(&StorageSettings::new(dir.to_owned(), 1024 * 1024)).unwrap()
    }

    async fn next(
        lines: &mut tokio::io::Lines<impl tokio::io::AsyncBufRead + Unpin>,
    ) -> FollowLine {
        let line = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
            .await
            .expect("a line within 5 s")
            .unwrap()
            .expect("the stream goes on");
        serde_json::from_str(&line).unwrap()
    }

    fn request_id(line: FollowLine) -> String {
        match line {
            FollowLine::Event(event) => event.request_id,
            other => panic!("not an event: {other:?}"),
        }
    }

    /// The history, then the new matching events; when the client goes away the stream ends
    /// at once, without waiting for another event.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streams_history_then_new_events_and_ends_when_the_client_goes() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let refused = |id: &str| crate::audit::AuditEvent {
            error_code: Some("AccessDenied".into()),
            ..event(id)
        };
        store.audit.append(&event("old")).await.unwrap();
        store.audit.append(&refused("old-refused")).await.unwrap();
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (server_read, server_write) = tokio::io::split(server);
        let (client_read, client_write) = tokio::io::split(client);
        let query = AuditQuery {
            error_code: Some("AccessDenied".into()),
            ..AuditQuery::default()
        };
        let audit = store.audit.clone();
        let serving =
            tokio::spawn(
                async move { serve(audit.as_ref(), &query, server_read, server_write).await },
            );
        let mut lines = BufReader::new(client_read).lines();
        assert_eq!(request_id(next(&mut lines).await), "old-refused");
        store.audit.append(&event("new")).await.unwrap();
        store.audit.record(&refused("new-refused")).await.unwrap();
        assert_eq!(
            request_id(next(&mut lines).await),
            "new-refused",
            "the filter holds for new events"
        );

        drop(lines);
        drop(client_write);
        tokio::time::timeout(Duration::from_secs(5), serving)
            .await
            .expect("the stream ends when its client goes")
            .unwrap()
            .unwrap();
    }

    /// A follower that does not read holds up nobody: the events go on being recorded, and
    /// when it reads again it is told how many it lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_follower_that_lags_is_told_how_many_events_it_lost() {
        const EVENTS: usize = 20_000;
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let (client, server) = tokio::io::duplex(1024);
        let (server_read, server_write) = tokio::io::split(server);
        let audit = store.audit.clone();
        let serving = tokio::spawn(async move {
            serve(
                audit.as_ref(),
                &AuditQuery::default(),
                server_read,
                server_write,
            )
            .await
        });
        let mut lines = BufReader::new(client).lines();
        store.audit.append(&event("first")).await.unwrap();
        assert_eq!(request_id(next(&mut lines).await), "first", "following");
        for i in 0..EVENTS {
            store.audit.record(&event(&format!("e{i}"))).await.unwrap();
        }
        assert_eq!(store.audit.list(1).await.unwrap().len(), 1, "all durable");
        let (mut events, mut skipped) = (0, 0);
        while events + skipped < EVENTS as u64 {
            match next(&mut lines).await {
                FollowLine::Event(_) => events += 1,
                FollowLine::Lagged { skipped: n } => skipped += n,
                FollowLine::Error(e) => panic!("{e}"),
            }
        }
        assert!(skipped > 0, "the follower lagged");
        assert_eq!(
            events + skipped,
            EVENTS as u64,
            "every event seen or counted"
        );
        serving.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_query_that_can_match_nothing_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let query = AuditQuery {
            event_name: Some("Nope".into()),
            ..AuditQuery::default()
        };
        let (client, server) = tokio::io::duplex(4096);
        let (server_read, server_write) = tokio::io::split(server);
        serve(store.audit.as_ref(), &query, server_read, server_write)
            .await
            .unwrap();
        let mut lines = BufReader::new(client).lines();
        let line = next(&mut lines).await;
        assert!(
            matches!(&line, FollowLine::Error(e) if e.contains("no audit event is named \"Nope\"")),
            "{line:?}"
        );
    }
}
