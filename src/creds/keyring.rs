//! The sealing keyring. (Being implemented.)
pub struct Keyring;
