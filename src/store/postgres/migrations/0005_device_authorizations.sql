-- The device authorizations of the SSO OIDC device flow in progress, by user code: the SSO
-- layer's record as opaque bytes, changed by compare-and-swap on it; purged after expires_at
-- (unix seconds), and taken over by a new authorization of the same code from then on.
CREATE TABLE device_authorizations (
    user_code text PRIMARY KEY,
    expires_at bigint NOT NULL,
    state bytea NOT NULL
);
CREATE INDEX device_authorizations_by_expiry ON device_authorizations (expires_at);
