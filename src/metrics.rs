//! The daemon's metrics, in the Prometheus (OpenMetrics) text format served at `/metrics`.
//!
//! One [`Metrics`] per daemon, owned by it and handed to the parts that count (several daemons in
//! one process, as the tests run them, never share counters). Counting is an atomic add after a
//! lookup in a small, fixed set of labels; what is cheap to read when scraped (sessions held,
//! revocations in force, the store's size, open connections) is read then, through [`Sampled`].
//!
//! Plain data: this module knows no store, IdP or HTTP type; the others hand it names and
//! numbers.

use std::fmt;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// The prefix of every metric name.
pub const PREFIX: &str = "stsbridge";

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The action label of a request whose action is unknown, missing or unreadable.
pub const UNKNOWN_ACTION: &str = "unknown";

/// The code label of a request answered with success.
pub const OK_CODE: &str = "OK";

/// What a request is counted by: its action (an STS action name, `Authorize`, or
/// [`UNKNOWN_ACTION`]) and its answer (an AWS error code, or [`OK_CODE`]).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    action: &'static str,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
}

/// Credentials issued: by action and by the IAM identity whose policies they carry (a role
/// ARN, or a user's ARN for `GetSessionToken`/`GetFederationToken`): configured names only.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IssuedLabels {
    action: &'static str,
    role: String,
}

/// Fetches of an IdP's documents: the IdP's name, the document (`jwks`, `metadata`) and the
/// outcome (`ok`, `failed`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FetchLabels {
    idp: String,
    document: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// What a one-time credential refused as replayed was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replayed {
    SamlAssertion,
    MfaCode,
}

impl Replayed {
    const fn label(self) -> &'static str {
        match self {
            Self::SamlAssertion => "saml_assertion",
            Self::MfaCode => "mfa_code",
        }
    }
}

/// The values read when scraped, from parts that keep them anyway.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sampled {
    /// Sessions in the store (issued, not yet purged).
    pub sessions: u64,
    /// Revocations in force.
    pub revocations: u64,
    /// The store's files on disk, when the backend can tell.
    pub store_bytes: Option<u64>,
}

/// Request latency buckets: 0.5 ms to about 8 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// Flush latency buckets: 50 µs to about 1.6 s.
fn flush_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.00005, 2.0, 16))
}

/// Commit batch size buckets: 1 to 1024 writers.
fn batch_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 11))
}

/// What the store's group commit reports: how many writers each flush served, and how long it
/// took. Cheap to clone (shared); [`Default`] makes a pair no daemon reads (a store opened
/// outside a daemon).
#[derive(Debug, Clone)]
pub struct CommitMetrics {
    batch_size: Histogram,
    flush_seconds: Histogram,
}

impl Default for CommitMetrics {
    fn default() -> Self {
        Self {
            batch_size: batch_histogram(),
            flush_seconds: flush_histogram(),
        }
    }
}

impl CommitMetrics {
    /// One flush that served `batch` writers (and audit events) in `took`.
    pub fn flushed(&self, batch: usize, took: Duration) {
        self.batch_size.observe(batch as f64);
        self.flush_seconds.observe(took.as_secs_f64());
    }
}

/// The outcomes of one IdP's fetches of one document. Cheap to clone; [`Default`] counts into
/// nothing a daemon reads (a verifier built outside a daemon).
#[derive(Debug, Clone, Default)]
pub struct FetchOutcomes {
    ok: Counter,
    failed: Counter,
}

impl FetchOutcomes {
    pub fn record(&self, ok: bool) {
        if ok {
            self.ok.inc();
        } else {
            self.failed.inc();
        }
    }
}

/// Every metric of one daemon.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<ActionLabels, Histogram>,
    issued: Family<IssuedLabels, Counter>,
    fetches: Family<FetchLabels, Counter>,
    replays: Family<KindLabels, Counter>,
    reloads: Family<OutcomeLabels, Counter>,
    export_lost: Counter,
    commit: CommitMetrics,
    open_connections: Gauge,
    sessions: Gauge,
    revocations: Gauge,
    store_bytes: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by action and answer (AWS error code, or OK)",
            requests.clone(),
        );
        let request_seconds =
            Family::<ActionLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        registry.register_with_unit(
            "request_duration",
            "Time from the request's arrival to its answer, by action",
            Unit::Seconds,
            request_seconds.clone(),
        );
        let issued = Family::<IssuedLabels, Counter>::default();
        registry.register(
            "credentials_issued",
            "Credentials issued, by action and by the role (or user) whose policies they carry",
            issued.clone(),
        );
        let fetches = Family::<FetchLabels, Counter>::default();
        registry.register(
            "idp_fetches",
            "Fetches of identity providers' documents (JWKS after discovery, SAML metadata), by IdP, document and outcome",
            fetches.clone(),
        );
        let replays = Family::<KindLabels, Counter>::default();
        registry.register(
            "replay_refusals",
            "One-time credentials refused because they were used before (SAML assertions, MFA codes)",
            replays.clone(),
        );
        let reloads = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Configuration reloads, by outcome (ok, failed)",
            reloads.clone(),
        );
        let export_lost = Counter::default();
        registry.register(
            "audit_export_lost_lines",
            "Audit events not written to [audit] export_file (the writer fell behind, or the file could not be written)",
            export_lost.clone(),
        );
        let commit = CommitMetrics::default();
        registry.register(
            "commit_batch_size",
            "Writers served by one group-commit flush of the store",
            commit.batch_size.clone(),
        );
        registry.register_with_unit(
            "commit_flush_duration",
            "Time one group-commit flush of the store took",
            Unit::Seconds,
            commit.flush_seconds.clone(),
        );
        let open_connections = Gauge::default();
        registry.register(
            "open_connections",
            "Client connections open on the main listener",
            open_connections.clone(),
        );
        let sessions = Gauge::default();
        registry.register(
            "live_sessions",
            "Sessions in the store (issued and not yet purged)",
            sessions.clone(),
        );
        let revocations = Gauge::default();
        registry.register(
            "revocations",
            "Revocations in force (sessions and roles)",
            revocations.clone(),
        );
        let store_bytes = Gauge::default();
        registry.register_with_unit(
            "store_size",
            "The store's files on disk",
            Unit::Bytes,
            store_bytes.clone(),
        );
        // Series that exist from the start (at zero), so a rate over them never starts from
        // nothing: a family is rendered only once it has a series.
        for outcome in ["ok", "failed"] {
            drop(reloads.get_or_create_owned(&OutcomeLabels { outcome }));
        }
        for kind in [Replayed::SamlAssertion, Replayed::MfaCode] {
            drop(replays.get_or_create_owned(&KindLabels { kind: kind.label() }));
        }
        registry.register(
            "build",
            "The running build",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        Self {
            registry,
            requests,
            request_seconds,
            issued,
            fetches,
            replays,
            reloads,
            export_lost,
            commit,
            open_connections,
            sessions,
            revocations,
            store_bytes,
        }
    }

    /// One request of `action` answered with `code`, after `took`.
    pub fn request(&self, action: &'static str, code: &'static str, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels { action, code })
            .inc();
        self.request_seconds
            .get_or_create(&ActionLabels { action })
            .observe(took.as_secs_f64());
    }

    /// Credentials issued by `action` for `role` (the IAM identity ARN of the session).
    pub fn credentials_issued(&self, action: &'static str, role: &str) {
        self.issued
            .get_or_create(&IssuedLabels {
                action,
                role: role.to_owned(),
            })
            .inc();
    }

    /// A one-time credential refused as used before.
    pub fn replay_refused(&self, what: Replayed) {
        self.replays
            .get_or_create(&KindLabels { kind: what.label() })
            .inc();
    }

    /// The counters of `idp`'s fetches of `document` (`jwks`, `metadata`), for its fetcher to
    /// keep. The same IdP name gets the same counters (an IdP rebuilt by a reload counts on).
    pub fn fetch_outcomes(&self, idp: &str, document: &'static str) -> FetchOutcomes {
        let counter = |outcome| {
            self.fetches.get_or_create_owned(&FetchLabels {
                idp: idp.to_owned(),
                document,
                outcome,
            })
        };
        FetchOutcomes {
            ok: counter("ok"),
            failed: counter("failed"),
        }
    }

    /// What the store's group commit reports into.
    pub fn commit(&self) -> CommitMetrics {
        self.commit.clone()
    }

    /// The gauge of open client connections, for the accept loop to keep.
    pub fn open_connections(&self) -> Gauge {
        self.open_connections.clone()
    }

    /// A configuration reload put in force.
    /// The counter of audit export lines lost (the writer fell behind, or the file could not be
    /// written).
    pub fn audit_export_lost(&self) -> Counter {
        self.export_lost.clone()
    }

    pub fn reload_succeeded(&self) {
        self.record_reload(true);
    }

    /// A configuration reload refused (the previous configuration stays).
    pub fn reload_failed(&self) {
        self.record_reload(false);
    }

    pub fn record_reload(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        self.reloads.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// Every metric as OpenMetrics text (see [`CONTENT_TYPE`]), with `sampled` as the values
    /// read at this scrape.
    pub fn render(&self, sampled: &Sampled) -> Result<String, fmt::Error> {
        self.sessions.set(gauge_value(sampled.sessions));
        self.revocations.set(gauge_value(sampled.revocations));
        if let Some(bytes) = sampled.store_bytes {
            self.store_bytes.set(gauge_value(bytes));
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

fn gauge_value(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_series_with_its_labels() {
        let metrics = Metrics::new();
        metrics.request(
            "AssumeRoleWithWebIdentity",
            OK_CODE,
            Duration::from_millis(2),
        );
        metrics.request(UNKNOWN_ACTION, "MissingAction", Duration::from_micros(300));
        metrics.credentials_issued(
            "AssumeRoleWithWebIdentity",
            "arn:aws:iam::123456789012:role/r",
        );
        metrics.replay_refused(Replayed::SamlAssertion);
        metrics.fetch_outcomes("google", "jwks").record(false);
        metrics.commit().flushed(3, Duration::from_micros(800));
        metrics.open_connections().inc();
        metrics.reload_succeeded();
        metrics.reload_failed();
        let text = metrics
            .render(&Sampled {
                sessions: 7,
                revocations: 2,
                store_bytes: Some(4096),
            })
            .unwrap();
        for line in [
            "stsbridge_requests_total{action=\"AssumeRoleWithWebIdentity\",code=\"OK\"} 1",
            "stsbridge_requests_total{action=\"unknown\",code=\"MissingAction\"} 1",
            "stsbridge_request_duration_seconds_count{action=\"AssumeRoleWithWebIdentity\"} 1",
            "stsbridge_credentials_issued_total{action=\"AssumeRoleWithWebIdentity\",role=\"arn:aws:iam::123456789012:role/r\"} 1",
            "stsbridge_replay_refusals_total{kind=\"saml_assertion\"} 1",
            "stsbridge_idp_fetches_total{idp=\"google\",document=\"jwks\",outcome=\"failed\"} 1",
            "stsbridge_idp_fetches_total{idp=\"google\",document=\"jwks\",outcome=\"ok\"} 0",
            "stsbridge_commit_batch_size_count 1",
            "stsbridge_commit_flush_duration_seconds_count 1",
            "stsbridge_open_connections 1",
            "stsbridge_live_sessions 7",
            "stsbridge_revocations 2",
            "stsbridge_store_size_bytes 4096",
            "stsbridge_config_reloads_total{outcome=\"ok\"} 1",
            "stsbridge_config_reloads_total{outcome=\"failed\"} 1",
            "stsbridge_build_info{version=\"",
        ] {
            assert!(text.contains(line), "{line:?} not in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn fetch_outcomes_of_one_idp_are_shared() {
        let metrics = Metrics::new();
        metrics.fetch_outcomes("okta", "metadata").record(true);
        metrics.fetch_outcomes("okta", "metadata").record(true);
        let text = metrics.render(&Sampled::default()).unwrap();
        assert!(
            text.contains(
                "stsbridge_idp_fetches_total{idp=\"okta\",document=\"metadata\",outcome=\"ok\"} 2"
            ),
            "{text}"
        );
    }
}
