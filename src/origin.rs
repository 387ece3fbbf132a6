//! Where a request came from, as every protocol adapter (STS API, authorization API, portal)
//! describes it to the domain: condition keys (`aws:SourceIp`, `aws:UserAgent`,
//! `aws:SecureTransport`), session records and audit events read it.

use std::net::IpAddr;
use std::time::SystemTime;

use crate::clock::{iso8601, unix_seconds};
use crate::policy::ContextKeys;

/// The request's origin. Plain data: the adapter fills it in from the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Also sent to the client (`x-amzn-RequestId`) and in every log line of the request.
    pub request_id: String,
    pub source_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// The request arrived over TLS.
    pub secure_transport: bool,
}

impl Origin {
    /// The global condition keys of a request from here (IAM user guide, "AWS global condition
    /// context keys"): `aws:CurrentTime`, `aws:EpochTime`, `aws:SecureTransport`,
    /// `aws:SourceIp`, `aws:UserAgent`.
    pub fn context_keys(&self, now: SystemTime) -> ContextKeys {
        let mut keys = ContextKeys::default();
        keys.insert("aws:CurrentTime", iso8601(now));
        keys.insert("aws:EpochTime", unix_seconds(now).to_string());
        keys.insert("aws:SecureTransport", self.secure_transport.to_string());
        if let Some(ip) = self.source_ip {
            keys.insert("aws:SourceIp", ip.to_string());
        }
        if let Some(ua) = &self.user_agent {
            keys.insert("aws:UserAgent", ua.clone());
        }
        keys
    }
}
