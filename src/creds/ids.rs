//! Access key ids and secrets. (Being implemented.)
