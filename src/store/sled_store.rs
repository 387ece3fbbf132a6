//! The sled backend. (Being implemented.)
pub struct SledStore;
