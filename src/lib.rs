//! stsbridge: a federation identity bridge speaking the AWS STS Query API.
#![forbid(unsafe_code)]

pub mod clock;
pub mod config;
pub mod creds;
pub mod identity;
pub mod idp;
pub mod policy;
pub mod store;
