use std::path::Path;

use jsonwebtoken::Algorithm;

use super::*;
use crate::idp::IdpSettings as IdpConfig;

const MAIN: &str = "default_account_id = \"123456789012\"\n\
                    [server]\nlisten = \"127.0.0.1:8080\"\n\
                    [storage]\npath = \"data/sled\"\n\
                    [keys]\npath = \"data/keyring.json\"\n";

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"accounts.google.com"},"Action":"sts:AssumeRoleWithWebIdentity"}]}"#;

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

/// A configuration directory with `main` as `stsbridge.toml` and the three (empty) default
/// directories.
fn setup(main: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "stsbridge.toml", main);
    for sub in ["idp-configs", "roles", "policies"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    dir
}

fn problems(dir: &tempfile::TempDir) -> Vec<String> {
    match load(&dir.path().join("stsbridge.toml")) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

fn role_json(name: &str, extra: &str) -> String {
    format!(r#"{{"RoleName":"{name}","AssumeRolePolicyDocument":{TRUST}{extra}}}"#)
}

#[test]
fn the_shipped_example_configuration_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("stsbridge.toml");
    let config = load(&path).unwrap_or_else(|e| panic!("example config invalid:\n{e}"));
    assert_eq!(config.warnings, [], "the example warns of nothing");
    // Its disabled SAML examples, said to be so.
    let notes: Vec<String> = config.notes.iter().map(ToString::to_string).collect();
    assert_eq!(notes.len(), 2, "{notes:#?}");
    assert!(
        notes[0].ends_with(
            "idp-configs/adfs.toml.example: not read: a disabled example (rename it to adfs.toml to enable it)"
        ),
        "{notes:#?}"
    );
    assert_eq!(config.federation.idps.len(), 7);
    assert!(
        config
            .federation
            .roles
            .get("arn:aws:iam::123456789012:role/dev-reader")
            .is_some()
    );
    assert!(
        config
            .federation
            .roles
            .get("arn:aws:iam::123456789012:role/ci/github-deploy")
            .is_some()
    );
}

#[test]
fn relative_paths_resolve_against_the_config_directory() {
    let dir = setup(MAIN);
    let config = load(&dir.path().join("stsbridge.toml")).unwrap();
    assert_eq!(config.settings.storage.path, dir.path().join("data/sled"));
    assert_eq!(
        config.settings.keyring_path,
        dir.path().join("data/keyring.json")
    );
    assert_eq!(
        config.settings.admin_socket,
        dir.path().join("data/admin.sock")
    );
    assert_eq!(
        config.settings.storage.cache_capacity_bytes,
        64 * 1024 * 1024
    );
}

#[test]
fn a_missing_directory_is_an_error_not_an_empty_configuration() {
    // Misspelled: each names a directory that is not there.
    let dir = setup(&format!(
        "idp_dir = \"idp-config\"\nroles_dir = \"rolse\"\npolicies_dir = \"policy\"\n{MAIN}"
    ));
    write(dir.path(), "roles/app.json", &role_json("app", ""));
    let p = problems(&dir);
    assert_eq!(p.len(), 3, "{p:#?}");
    for (i, (field, name)) in [
        ("idp_dir", "idp-config"),
        ("policies_dir", "policy"),
        ("roles_dir", "rolse"),
    ]
    .into_iter()
    .enumerate()
    {
        assert!(
            p[i].contains(&format!("stsbridge.toml: {field}: no directory "))
                && p[i].contains(&format!("{name} (create it")),
            "{p:#?}"
        );
    }

    // The defaults too; and a file where a directory should be.
    let dir = setup(MAIN);
    std::fs::remove_dir(dir.path().join("roles")).unwrap();
    std::fs::remove_dir(dir.path().join("policies")).unwrap();
    write(dir.path(), "policies", "");
    let text = problems(&dir).join("\n");
    assert!(
        text.contains("stsbridge.toml: roles_dir: no directory"),
        "{text}"
    );
    assert!(
        text.contains("stsbridge.toml: policies_dir: ") && text.contains("is not a directory"),
        "{text}"
    );
}

/// The warnings and notes of a configuration that loads, as `check-config` prints them.
fn warnings_and_notes(dir: &tempfile::TempDir) -> (Vec<String>, Vec<String>) {
    let config = load(&dir.path().join("stsbridge.toml")).unwrap_or_else(|e| panic!("{e}"));
    let text = |list: &[Problem]| {
        list.iter()
            .map(|p| {
                p.to_string()
                    .replace(&format!("{}/", dir.path().display()), "")
            })
            .collect()
    };
    (text(&config.warnings), text(&config.notes))
}

#[test]
fn files_the_directories_do_not_read_are_reported() {
    let dir = setup(MAIN);
    let oidc =
        |issuer: &str| format!("kind = \"oidc\"\nissuer = \"{issuer}\"\naudiences = [\"c\"]\n");
    write(
        dir.path(),
        "idp-configs/google.toml",
        &oidc("https://accounts.google.com"),
    );
    write(
        dir.path(),
        "idp-configs/okta.tml",
        &oidc("https://okta.example"),
    );
    write(
        dir.path(),
        "idp-configs/azure.toml.example",
        &oidc("https://azure.example"),
    );
    // Files an IdP file names, beside it or in a folder: read through it, not reported.
    write(
        dir.path(),
        "idp-configs/k8s.toml",
        &format!(
            "{}jwks_file = \"./k8s-keys.json\"\n",
            oidc("https://k8s.example")
        ),
    );
    write(dir.path(), "idp-configs/k8s-keys.json", r#"{"keys": []}"#);
    write(dir.path(), "idp-configs/keys/other.json", r#"{"keys": []}"#);
    write(dir.path(), "idp-configs/old-keys.json", r#"{"keys": []}"#);
    write(dir.path(), "idp-configs/.gitkeep", "");
    write(dir.path(), "roles/app.json", &role_json("app", ""));
    write(dir.path(), "roles/app.json~", &role_json("app", ""));
    write(dir.path(), "roles/ci/deploy.json", &role_json("deploy", ""));
    write(dir.path(), "roles/.app.json.swp", "");
    write(dir.path(), "policies/read.JSON", "{}");
    write(dir.path(), "policies/write.example", "{}");

    let (warnings, notes) = warnings_and_notes(&dir);
    assert_eq!(
        warnings,
        [
            "idp-configs/okta.tml: not read: only *.toml files are read here",
            "idp-configs/old-keys.json: not read: only *.toml files are read here",
            "policies/read.JSON: not read: only *.json files are read here",
            "roles/app.json~: not read: only *.json files are read here",
            "roles/ci: not read: a directory (only the *.json files directly in its parent are read)",
        ]
    );
    assert_eq!(
        notes,
        [
            "idp-configs/azure.toml.example: not read: a disabled example (rename it to azure.toml to enable it)",
            "policies/write.example: not read: a disabled example (only *.json files are read)",
        ]
    );
}

#[test]
fn trust_policies_that_never_apply_are_warned_of() {
    let dir = setup(MAIN);
    write(
        dir.path(),
        "idp-configs/google.toml",
        "kind = \"oidc\"\nissuer = \"https://accounts.google.com\"\naudiences = [\"c\"]\n",
    );
    write(
        dir.path(),
        "idp-configs/corp.toml",
        &format!(
            "kind = \"saml\"\nmetadata_file = \"{}\"\n",
            saml_metadata_path()
        ),
    );
    let role = |file: &str, statements: &str| {
        write(
            dir.path(),
            &format!("roles/{file}.json"),
            &format!(
                r#"{{"RoleName":"{file}","AssumeRolePolicyDocument":{{"Version":"2012-10-17","Statement":[{statements}]}}}}"#
            ),
        );
    };
    let allow = |principal: &str, action: &str| {
        format!(r#"{{"Effect":"Allow","Principal":{principal},"Action":{action}}}"#)
    };
    let federated = |name: &str| format!(r#"{{"Federated":"{name}"}}"#);
    // Nothing to say: each names a configured provider (the development issuer of this
    // listen address included) and trust actions, wildcards too.
    role(
        "fine",
        &[
            allow(
                &federated("accounts.google.com"),
                r#"["sts:AssumeRoleWithWebIdentity","sts:TagSession"]"#,
            ),
            allow(
                &federated("arn:aws:iam::123456789012:oidc-provider/accounts.google.com"),
                r#""sts:*""#,
            ),
            allow(
                &federated("arn:aws:iam::123456789012:saml-provider/corp"),
                r#""sts:AssumeRoleWithSAML""#,
            ),
            allow(&federated("127.0.0.1:8080/dev"), r#""sts:AssumeRole*""#),
            allow(&federated("*"), r#""*""#),
            allow(
                r#"{"AWS":"123456789012"}"#,
                r#"["sts:AssumeRole","sts:SetSourceIdentity"]"#,
            ),
            r#"{"Effect":"Allow","Principal":"*","NotAction":"s3:*"}"#.to_owned(),
        ]
        .join(","),
    );
    role(
        "typos",
        &[
            allow(
                &federated("accounts.gogle.com"),
                r#""sts:AssumeRoleWithWebIdentiy""#,
            ),
            allow(
                r#"{"AWS":"123456789012"}"#,
                r#"["s3:GetObject","sts:AssumeRole"]"#,
            ),
        ]
        .join(","),
    );
    role(
        "near-misses",
        &[
            allow(&federated("https://accounts.google.com"), r#""sts:*""#),
            allow(&federated("accounts.google.com/"), r#""sts:*""#),
            allow(
                &federated("arn:aws:iam::210987654321:oidc-provider/accounts.google.com"),
                r#""sts:*""#,
            ),
            allow(&federated("corp"), r#""sts:*""#),
            allow(
                &federated("arn:aws:iam::123456789012:saml-provider/okta"),
                r#""sts:*""#,
            ),
        ]
        .join(","),
    );

    let (warnings, notes) = warnings_and_notes(&dir);
    assert_eq!(notes, Vec::<String>::new());
    let trust_actions = "(sts:AssumeRole, sts:AssumeRoleWithWebIdentity, sts:AssumeRoleWithSAML, \
                         sts:TagSession, sts:SetSourceIdentity)";
    assert_eq!(
        warnings,
        [
            "roles/near-misses.json: AssumeRolePolicyDocument: Statement[0]: Federated principal \
             \"https://accounts.google.com\" is no configured identity provider, so it never \
             matches (an OIDC provider is named without the scheme: \"accounts.google.com\")"
                .to_owned(),
            "roles/near-misses.json: AssumeRolePolicyDocument: Statement[1]: Federated principal \
             \"accounts.google.com/\" is no configured identity provider, so it never matches \
             (the configured provider is \"accounts.google.com\": they differ by a trailing slash)"
                .to_owned(),
            "roles/near-misses.json: AssumeRolePolicyDocument: Statement[2]: Federated principal \
             \"arn:aws:iam::210987654321:oidc-provider/accounts.google.com\" names the provider \
             in account 210987654321, but web identities are matched by the provider ARN in the \
             role's own account (123456789012)"
                .to_owned(),
            "roles/near-misses.json: AssumeRolePolicyDocument: Statement[3]: Federated principal \
             \"corp\" is no configured identity provider, so it never matches (a SAML provider \
             is named by its ARN: \"arn:aws:iam::123456789012:saml-provider/corp\")"
                .to_owned(),
            "roles/near-misses.json: AssumeRolePolicyDocument: Statement[4]: Federated principal \
             \"arn:aws:iam::123456789012:saml-provider/okta\" is no configured identity \
             provider, so it never matches"
                .to_owned(),
            format!(
                "roles/typos.json: AssumeRolePolicyDocument: Statement[0]: Action \
                 \"sts:AssumeRoleWithWebIdentiy\" is none of the actions a trust policy is asked \
                 about {trust_actions}, so it never applies"
            ),
            format!(
                "roles/typos.json: AssumeRolePolicyDocument: Statement[1]: Action \
                 \"s3:GetObject\" is none of the actions a trust policy is asked about \
                 {trust_actions}, so it never applies"
            ),
            "roles/typos.json: AssumeRolePolicyDocument: Statement[0]: Federated principal \
             \"accounts.gogle.com\" is no configured identity provider, so it never matches"
                .to_owned(),
        ]
    );
}

#[test]
fn toml_errors_say_where() {
    let dir = setup(&format!("{MAIN}[admin\nsocket = \"x\"\n"));
    let p = problems(&dir);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].ends_with("stsbridge.toml: unclosed table, expected `]` (line 8, column 7)"),
        "{p:#?}"
    );

    let dir = setup(&MAIN.replace(
        "path = \"data/sled\"",
        "path = \"data/sled\"\ncache_capacity_mb = \"lots\"",
    ));
    let p = problems(&dir);
    assert!(
        p[0].ends_with(
            "stsbridge.toml: storage.cache_capacity_mb: invalid type: string \"lots\", \
             expected u64 (line 6, column 21)"
        ),
        "{p:#?}"
    );

    let dir = setup(MAIN);
    write(
        dir.path(),
        "idp-configs/a.toml",
        "kind = \"oidc\"\nissuer = \"https://a.example\"\naudiences = [\"c\"\n",
    );
    write(
        dir.path(),
        "idp-configs/b.toml",
        "kind = \"oidc\"\nissuer = \"https://b.example\"\naudiences = [\"c\"]\nleeway_seconds = \"x\"\n",
    );
    write(dir.path(), "idp-configs/c.toml", "kind = \"ldap\"\n");
    write(
        dir.path(),
        "idp-configs/d.toml",
        "kind = \"oidc\"\nissuer = \naudiences = [\"c\"]\nleeway_seconds = 6 0\n",
    );
    let text = problems(&dir).join("\n");
    for expected in [
        "a.toml: unclosed array, expected `]` (line 3, column 17)",
        "b.toml: leeway_seconds: invalid type: string \"x\", expected u64 (line 4, column 18)",
        "c.toml: kind must be \"oidc\" or \"saml\" (line 1, column 8)",
        // Every syntax error at once.
        "d.toml: string values must be quoted, expected literal string (line 2, column 10)",
        "d.toml: string values must be quoted, expected literal string (line 4, column 18)",
    ] {
        assert!(text.contains(expected), "{expected}\n---\n{text}");
    }
}

#[test]
fn unknown_keys_are_errors_that_name_their_table() {
    let dir = setup(&format!("{MAIN}\n[extra]\nfoo = 1\n"));
    let p = problems(&dir);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("stsbridge.toml: extra: unknown field `extra`, expected one of"),
        "{p:?}"
    );

    // The key's table, and where it is (the keys expected are whatever the table has).
    for (main, key, line) in [
        (
            MAIN.replace("[keys]", "purge_interval = 60\n[keys]"),
            "storage.purge_interval",
            6,
        ),
        (
            format!(
                "{MAIN}[[authorization.services]]\nname = \"a\"\nbearer_sha256 = \"{}\"\n\
                 [[authorization.services]]\nname = \"b\"\nbearer_sha = \"\"\n",
                "a".repeat(64)
            ),
            "authorization.services[1].bearer_sha",
            13,
        ),
        (
            MAIN.replace("[server]", "[server]\nport = 8080"),
            "server.port",
            3,
        ),
    ] {
        let p = problems(&setup(&main));
        assert_eq!(p.len(), 1, "{p:?}");
        let name = key.rsplit('.').next().unwrap();
        let expected = format!("stsbridge.toml: {key}: unknown field `{name}`, expected ");
        assert!(p[0].contains(&expected), "{expected}\n---\n{p:?}");
        assert!(
            p[0].ends_with(&format!(" (line {line}, column 1)")),
            "{p:?}"
        );
    }

    // In an IdP file (whose shape `kind` picks).
    let dir = setup(MAIN);
    write(
        dir.path(),
        "idp-configs/a.toml",
        "kind = \"oidc\"\nissuer = \"https://a.example\"\naudience = [\"c\"]\n",
    );
    let p = problems(&dir);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains(
            "a.toml: audience: unknown field `audience`, expected one of `issuer`, `audiences`"
        ),
        "{p:?}"
    );
}

#[test]
fn every_problem_in_every_file_is_reported_at_once() {
    let dir = setup(
        "default_account_id = \"12\"\n[server]\nlisten = \"nowhere\"\n\
         [storage]\npath = \"d\"\ncache_capacity_mb = 0\n[keys]\npath = \"k\"\n",
    );
    write(
        dir.path(),
        "idp-configs/a.toml",
        "kind = \"oidc\"\nissuer = \"http://idp.example\"\naudiences = []\nalgorithms = [\"HS256\", \"none\"]\n",
    );
    write(
        dir.path(),
        "idp-configs/b.toml",
        "kind = \"oidc\"\nissuer = \"https://x\"\naudiences=[\"a\"]\nsurprise = 1\n",
    );
    write(
        dir.path(),
        "roles/r.json",
        &role_json("bad name!", r#","MaxSessionDuration":60"#),
    );
    let p = problems(&dir);
    let text = p.join("\n");
    for needle in [
        "stsbridge.toml: server.listen",
        "stsbridge.toml: default_account_id",
        "stsbridge.toml: storage.cache_capacity_mb",
        "a.toml: issuer: must be an https:// URL",
        "a.toml: audiences",
        "a.toml: algorithms: \"HS256\" is not allowed",
        "a.toml: algorithms: \"none\" is not allowed",
        "b.toml: surprise: unknown field `surprise`",
        "r.json: RoleName",
        "r.json: MaxSessionDuration",
        "r.json: AccountId",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn http_issuer_needs_insecure_http() {
    let dir = setup(MAIN);
    write(
        dir.path(),
        "idp-configs/local.toml",
        "kind = \"oidc\"\nissuer = \"http://127.0.0.1:9400\"\naudiences = [\"c\"]\ninsecure_http = true\n",
    );
    let config = load(&dir.path().join("stsbridge.toml")).unwrap();
    let IdpConfig::Oidc(o) = &config.federation.idps[0] else {
        panic!("an OIDC IdP")
    };
    assert_eq!(o.provider, "127.0.0.1:9400");
    assert_eq!(o.name, "local");
    assert_eq!(o.algorithms, vec![Algorithm::RS256]);
}

#[test]
fn two_files_with_one_issuer_are_refused() {
    let dir = setup(MAIN);
    let idp = "kind = \"oidc\"\nissuer = \"https://accounts.google.com\"\naudiences = [\"c\"]\n";
    write(dir.path(), "idp-configs/a.toml", idp);
    write(dir.path(), "idp-configs/b.toml", idp);
    let p = problems(&dir);
    assert_eq!(p.len(), 1);
    assert!(p[0].contains("b.toml: issuer: the same issuer"), "{p:?}");
}

#[test]
fn an_issuer_is_taken_exactly_trailing_slash_and_all() {
    let oidc = |issuer: &str| {
        format!(
            "kind = \"oidc\"\nissuer = \"{issuer}\"\naudiences = [\"c\"]\ninsecure_http = true\n"
        )
    };
    // An Auth0 tenant's issuer ends with '/': its provider name keeps it, as IAM's does.
    let dir = setup(MAIN);
    write(
        dir.path(),
        "idp-configs/auth0.toml",
        &oidc("https://tenant.auth0.com/"),
    );
    for (role, provider) in [
        ("as-iam", "tenant.auth0.com/"),
        ("no-slash", "tenant.auth0.com"),
    ] {
        write(
            dir.path(),
            &format!("roles/{role}.json"),
            &format!(
                r#"{{"RoleName":"{role}","AssumeRolePolicyDocument":{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{provider}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"{provider}:aud":"c"}}}}}}]}}}}"#
            ),
        );
    }
    let config = load(&dir.path().join("stsbridge.toml")).unwrap();
    let IdpConfig::Oidc(o) = &config.federation.idps[0] else {
        panic!("an OIDC IdP")
    };
    assert_eq!(
        (o.issuer.as_str(), o.provider.as_str()),
        ("https://tenant.auth0.com/", "tenant.auth0.com/")
    );
    let (warnings, notes) = warnings_and_notes(&dir);
    assert_eq!(
        notes,
        [
            "idp-configs/auth0.toml: issuer: ends with '/': tokens must carry exactly this iss \
             (compare the issuer of its /.well-known/openid-configuration), and trust policies \
             name the provider \"tenant.auth0.com/\""
        ]
    );
    assert_eq!(
        warnings,
        [
            "roles/no-slash.json: AssumeRolePolicyDocument: Statement[0]: Federated principal \
             \"tenant.auth0.com\" is no configured identity provider, so it never matches (the \
             configured provider is \"tenant.auth0.com/\": they differ by a trailing slash)"
        ]
    );

    // Both spellings of one issuer: two providers, of which one never sees a token.
    let dir = setup(MAIN);
    write(
        dir.path(),
        "idp-configs/a.toml",
        &oidc("https://idp.example"),
    );
    write(
        dir.path(),
        "idp-configs/b.toml",
        &oidc("https://idp.example/"),
    );
    let (warnings, _) = warnings_and_notes(&dir);
    assert_eq!(
        warnings,
        [
            "idp-configs/b.toml: issuer: https://idp.example/ and https://idp.example \
             (idp-configs/a.toml) differ only by a trailing slash: an IdP's tokens carry one of \
             them, so the other file never sees a token"
        ]
    );

    // One provider name for two issuers (http and https): trust could not tell them apart.
    let dir = setup(MAIN);
    write(
        dir.path(),
        "idp-configs/a.toml",
        &oidc("https://idp.example"),
    );
    write(
        dir.path(),
        "idp-configs/b.toml",
        &oidc("http://idp.example"),
    );
    let text = problems(&dir).join("\n");
    assert!(
        text.contains("b.toml: issuer: names the same provider as ")
            && text
                .contains("a.toml (https://idp.example): trust policies could not tell them apart"),
        "{text}"
    );
}

#[test]
fn jwks_uri_and_file_are_exclusive_and_the_file_must_be_a_jwk_set() {
    let dir = setup(MAIN);
    write(
        dir.path(),
        "idp-configs/a.toml",
        "kind = \"oidc\"\nissuer = \"https://a.example\"\naudiences = [\"c\"]\njwks_uri = \"https://a.example/k\"\njwks_file = \"k.json\"\n",
    );
    write(
        dir.path(),
        "idp-configs/b.toml",
        "kind = \"oidc\"\nissuer = \"https://b.example\"\naudiences = [\"c\"]\njwks_file = \"k.json\"\n",
    );
    write(dir.path(), "idp-configs/k.json", "{\"not\": \"a set\"}");
    let text = problems(&dir).join("\n");
    assert!(
        text.contains("a.toml: jwks_file: give jwks_uri or jwks_file"),
        "{text}"
    );
    assert!(
        text.contains("b.toml: jwks_file: is not a JWK Set"),
        "{text}"
    );
}

#[test]
fn role_arn_id_and_defaults() {
    let dir = setup(MAIN);
    write(
        dir.path(),
        "roles/a.json",
        &role_json("app", r#","Path":"/team/""#),
    );
    let config = load(&dir.path().join("stsbridge.toml")).unwrap();
    let role = config
        .federation
        .roles
        .get("arn:aws:iam::123456789012:role/team/app")
        .unwrap();
    assert_eq!(role.max_session_duration, 3600);
    assert!(role.role_id.starts_with("AROA") && role.role_id.len() == 21);
    assert_eq!(role.role_id, role::derive_role_id(&role.arn));
}

/// A role's unique id is the file's `RoleId`, else the one the store keeps for its ARN, else a
/// fresh one; only configured roles keep theirs.
#[test]
fn role_ids_come_from_the_file_the_store_or_fresh() {
    let dir = setup(MAIN);
    write(dir.path(), "roles/kept.json", &role_json("kept", ""));
    write(dir.path(), "roles/new.json", &role_json("new", ""));
    write(
        dir.path(),
        "roles/pinned.json",
        &role_json("pinned", r#","RoleId":"AROAPINNEDPINNED0001""#),
    );
    let mut roles = load(&dir.path().join("stsbridge.toml"))
        .unwrap()
        .federation
        .roles;
    let arn = |name: &str| format!("arn:aws:iam::123456789012:role/{name}");
    let stored = BTreeMap::from([
        (arn("kept"), "AROAKEPTKEPTKEPT0001".to_owned()),
        (arn("gone"), "AROAGONEGONEGONE0001".to_owned()),
        (arn("pinned"), "AROASTOREDSTORED0001".to_owned()),
    ]);
    let mut fresh = 0;
    let kept = roles
        .assign_ids(&stored, || {
            fresh += 1;
            Ok::<_, ()>(format!("AROAFRESH{fresh:011}"))
        })
        .unwrap();
    let id = |name: &str| roles.get(&arn(name)).unwrap().role_id.clone();
    assert_eq!(id("kept"), "AROAKEPTKEPTKEPT0001");
    assert_eq!(id("new"), "AROAFRESH00000000001");
    assert_eq!(
        id("pinned"),
        "AROAPINNEDPINNED0001",
        "the file's RoleId wins"
    );
    assert_eq!(fresh, 1);
    assert_eq!(
        kept.keys().cloned().collect::<Vec<_>>(),
        [arn("kept"), arn("new"), arn("pinned")],
        "a role no longer configured loses its id"
    );
}

#[test]
fn a_malformed_trust_policy_names_the_field() {
    let dir = setup(MAIN);
    write(
        dir.path(),
        "roles/a.json",
        r#"{"RoleName":"a","AssumeRolePolicyDocument":{"Statement":[{"Effect":"Maybe","Action":"sts:*","Principal":"*"}]}}"#,
    );
    let p = problems(&dir);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("a.json: AssumeRolePolicyDocument"), "{p:?}");
}

/// The trust policy of the issue: the second `Condition` silently replaced the first (and its
/// `sub` condition), and `check-config` said ok.
const TWO_CONDITIONS: &str = include_str!("../../tests/fixtures/policy/two-conditions.json");

const DUPLICATE_CONDITION: &str = "Statement[0]: Duplicate member \"Condition\"";

#[test]
fn a_trust_policy_given_as_a_string_with_a_duplicate_member_is_a_problem() {
    let dir = setup(MAIN);
    let as_string = serde_json::to_string(TWO_CONDITIONS).unwrap();
    write(
        dir.path(),
        "roles/a.json",
        &format!(r#"{{"RoleName":"a","AssumeRolePolicyDocument":{as_string}}}"#),
    );
    let p = problems(&dir);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains(&format!(
            "a.json: AssumeRolePolicyDocument: {DUPLICATE_CONDITION}"
        )),
        "{p:?}"
    );
}

#[test]
fn a_trust_policy_object_with_a_duplicate_member_is_a_problem() {
    let dir = setup(MAIN);
    write(
        dir.path(),
        "roles/a.json",
        &format!(
            r#"{{"RoleName":"a","MaxSessionDuration":60,"AssumeRolePolicyDocument":{TWO_CONDITIONS}}}"#
        ),
    );
    let p = problems(&dir);
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[0].contains("a.json: MaxSessionDuration"), "{p:?}");
    assert!(
        p[1].contains(&format!(
            "a.json: AssumeRolePolicyDocument: {DUPLICATE_CONDITION}"
        )),
        "{p:?}"
    );
}

#[test]
fn an_inline_or_managed_policy_with_a_duplicate_member_is_a_problem() {
    let dir = setup(MAIN);
    let twice = r#"{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*",
        "Condition":{"StringEquals":{"aws:PrincipalTag/team":"a","aws:PrincipalTag/team":"b"}}}]}"#;
    write(
        dir.path(),
        "roles/a.json",
        &role_json(
            "a",
            &format!(r#","Policies":[{{"PolicyName":"p","PolicyDocument":{twice}}}]"#),
        ),
    );
    write(
        dir.path(),
        "policies/m.json",
        &format!(r#"{{"PolicyDocument":{twice}}}"#),
    );
    let found = "Statement[0].Condition.StringEquals: Duplicate member \"aws:PrincipalTag/team\"";
    let p = problems(&dir);
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(
        p.iter()
            .any(|p| p.contains(&format!("m.json: PolicyDocument: {found}"))),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|p| p.contains(&format!("a.json: Policies[p].PolicyDocument: {found}"))),
        "{p:?}"
    );
}

#[test]
fn a_key_given_twice_in_a_role_or_managed_policy_file_is_a_problem() {
    let dir = setup(MAIN);
    let policy = r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
    for (file, text, key) in [
        (
            "roles/a.json",
            format!(r#"{{"RoleName":"a","RoleName":"b","AssumeRolePolicyDocument":{TRUST}}}"#),
            "RoleName",
        ),
        (
            "roles/b.json",
            format!(
                r#"{{"RoleName":"b","AssumeRolePolicyDocument":{TRUST},"AssumeRolePolicyDocument":{TRUST}}}"#
            ),
            "AssumeRolePolicyDocument",
        ),
        (
            "roles/c.json",
            role_json(
                "c",
                &format!(
                    r#","Policies":[{{"PolicyName":"p","PolicyName":"q","PolicyDocument":{policy}}}]"#
                ),
            ),
            "PolicyName",
        ),
        (
            "roles/d.json",
            role_json("d", r#","Tags":[{"Key":"k","Value":"v","Value":"w"}]"#),
            "Value",
        ),
        (
            "policies/m.json",
            format!(r#"{{"PolicyDocument":{policy},"PolicyName":"m","PolicyName":"n"}}"#),
            "PolicyName",
        ),
    ] {
        write(dir.path(), file, &text);
        let p = problems(&dir);
        assert_eq!(p.len(), 1, "{file}: {p:?}");
        assert!(
            p[0].contains(&format!("{file}: duplicate field `{key}`")),
            "{file}: {p:?}"
        );
        std::fs::remove_file(dir.path().join(file)).unwrap();
    }
}

#[test]
fn a_policy_document_that_is_not_an_object_or_a_string_is_a_problem() {
    let dir = setup(MAIN);
    write(
        dir.path(),
        "roles/a.json",
        r#"{"RoleName":"a","AssumeRolePolicyDocument":[]}"#,
    );
    let p = problems(&dir);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("a.json: AssumeRolePolicyDocument: Syntax errors in policy: the policy must be a JSON object"),
        "{p:?}"
    );
}

fn saml_metadata_path() -> String {
    format!(
        "{}/tests/fixtures/saml/idp-metadata.xml",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn a_saml_provider_reads_its_metadata() {
    let dir = setup(MAIN);
    write(
        dir.path(),
        "idp-configs/corp.toml",
        &format!(
            "kind = \"saml\"\nmetadata_file = \"{}\"\n",
            saml_metadata_path()
        ),
    );
    let config = load(&dir.path().join("stsbridge.toml")).unwrap();
    let IdpConfig::Saml(s) = &config.federation.idps[0] else {
        panic!("a SAML IdP")
    };
    assert_eq!(s.name, "corp");
    assert_eq!(
        s.metadata.as_ref().unwrap().entity_id,
        "https://idp.example.com/saml"
    );
    assert_eq!(
        s.metadata.as_ref().unwrap().signing_certs_der.len(),
        2,
        "both signing keys, not the encryption key"
    );
    assert_eq!(s.sp_entity_id, "urn:amazon:webservices");
    assert_eq!(
        s.acs_urls,
        vec!["https://signin.aws.amazon.com/saml".to_owned()]
    );
    assert_eq!(
        s.algorithms,
        crate::idp::saml::SignatureAlgorithm::DEFAULT.to_vec()
    );
}

#[test]
fn a_saml_provider_without_signing_certificates_is_refused() {
    let dir = setup(MAIN);
    let metadata = std::fs::read_to_string(saml_metadata_path()).unwrap();
    // Keep only the encryption key.
    let mut stripped = String::new();
    let mut rest = metadata.as_str();
    while let Some(start) = rest.find("<md:KeyDescriptor") {
        let end = rest[start..].find("</md:KeyDescriptor>").unwrap() + start + 19;
        stripped.push_str(&rest[..start]);
        if rest[start..end].contains("use=\"encryption\"") {
            stripped.push_str(&rest[start..end]);
        }
        rest = &rest[end..];
    }
    stripped.push_str(rest);
    write(dir.path(), "idp-configs/meta.xml", &stripped);
    write(
        dir.path(),
        "idp-configs/corp.toml",
        "kind = \"saml\"\nmetadata_file = \"meta.xml\"\n",
    );
    write(
        dir.path(),
        "idp-configs/bad.toml",
        &format!(
            "kind = \"saml\"\nname = \"bad name\"\nmetadata_file = \"{}\"\nclock_skew_seconds = 900\n",
            saml_metadata_path()
        ),
    );
    let text = problems(&dir).join("\n");
    assert!(
        text.contains("corp.toml: metadata_file: SAML provider configuration: metadata: no signing certificate"),
        "{text}"
    );
    assert!(text.contains("bad.toml: name"), "{text}");
    assert!(text.contains("bad.toml: clock_skew_seconds"), "{text}");
}

#[test]
fn saml_algorithms_narrow_the_allow_list() {
    use crate::idp::saml::SignatureAlgorithm;
    let dir = setup(MAIN);
    let idp = |name: &str, extra: &str| {
        write(
            dir.path(),
            &format!("idp-configs/{name}.toml"),
            &format!(
                "kind = \"saml\"\nmetadata_file = \"{}\"\n{extra}",
                saml_metadata_path()
            ),
        );
    };
    idp(
        "narrow",
        "algorithms = [\"rsa-sha256\", \"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384\", \"RSA-SHA256\"]\n",
    );
    idp("legacy", "allow_sha1 = true\n");
    idp(
        "legacy-narrow",
        "allow_sha1 = true\nalgorithms = [\"rsa-sha1\"]\n",
    );
    let config = load(&dir.path().join("stsbridge.toml")).unwrap();
    let algorithms = |name: &str| {
        config
            .federation
            .idps
            .iter()
            .find_map(|idp| match idp {
                IdpConfig::Saml(s) if s.name == name => Some(s.algorithms.clone()),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(
        algorithms("narrow"),
        vec![
            SignatureAlgorithm::RsaSha256,
            SignatureAlgorithm::EcdsaSha384
        ]
    );
    assert_eq!(algorithms("legacy").len(), 8);
    assert_eq!(
        algorithms("legacy-narrow"),
        vec![SignatureAlgorithm::RsaSha1]
    );

    let dir = setup(MAIN);
    for (name, extra) in [
        (
            "unknown",
            "algorithms = [\"rsa-sha256\", \"hmac-sha256\"]\n",
        ),
        ("sha1", "algorithms = [\"rsa-sha1\"]\n"),
        ("empty", "algorithms = []\n"),
    ] {
        write(
            dir.path(),
            &format!("idp-configs/{name}.toml"),
            &format!(
                "kind = \"saml\"\nmetadata_file = \"{}\"\n{extra}",
                saml_metadata_path()
            ),
        );
    }
    let text = problems(&dir).join("\n");
    assert!(
        text.contains(
            "unknown.toml: algorithms: \"hmac-sha256\" is not a known signature algorithm"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "sha1.toml: algorithms: \"rsa-sha1\" is a SHA-1 method: set allow_sha1 = true"
        ),
        "{text}"
    );
    assert!(
        text.contains("empty.toml: algorithms: must list at least one"),
        "{text}"
    );
}

#[test]
fn saml_metadata_sources_are_checked_before_any_fetch() {
    let dir = setup(MAIN);
    let metadata = saml_metadata_path();
    for (name, text) in [
        (
            "plain-http",
            "metadata_url = \"http://127.0.0.1:9/metadata\"\n".to_owned(),
        ),
        (
            "credentials",
            "metadata_url = \"https://user:secret@idp.example.com/metadata\"\n".to_owned(),
        ),
        (
            "not-a-url",
            "metadata_url = \"idp.example.com/metadata\"\n".to_owned(),
        ),
        (
            "both",
            format!(
                "metadata_url = \"https://idp.example.com/metadata\"\nmetadata_file = \"{metadata}\"\n"
            ),
        ),
        ("neither", String::new()),
        (
            "file-with-url-options",
            format!(
                "metadata_file = \"{metadata}\"\ninsecure_http = true\nmetadata_refresh_seconds = 60\n"
            ),
        ),
        (
            "refresh-too-often",
            "metadata_url = \"http://127.0.0.1:9/metadata\"\ninsecure_http = true\nmetadata_refresh_seconds = 1\n"
                .to_owned(),
        ),
    ] {
        write(
            dir.path(),
            &format!("idp-configs/{name}.toml"),
            &format!("kind = \"saml\"\n{text}"),
        );
    }
    let text = problems(&dir).join("\n");
    for expected in [
        "plain-http.toml: metadata_url: must be an https:// URL (set insecure_http = true",
        "credentials.toml: metadata_url: must not carry credentials",
        "not-a-url.toml: metadata_url: not a URL",
        "both.toml: metadata_url: give metadata_file or metadata_url, not both",
        "neither.toml: metadata_file: give metadata_file or metadata_url",
        "file-with-url-options.toml: insecure_http: applies to metadata_url only",
        "file-with-url-options.toml: metadata_refresh_seconds: applies to metadata_url only",
        "refresh-too-often.toml: metadata_refresh_seconds: must be 5..=86400 seconds",
    ] {
        assert!(text.contains(expected), "{expected}\n---\n{text}");
    }
    // Nothing listens on port 9: the fetch fails, a warning against the URL (the daemon would
    // start with the IdP waiting for its metadata).
    write(
        dir.path(),
        "idp-configs/refresh-too-often.toml",
        "kind = \"saml\"\nmetadata_url = \"http://127.0.0.1:9/metadata\"\ninsecure_http = true\n",
    );
    for name in [
        "plain-http",
        "credentials",
        "not-a-url",
        "both",
        "neither",
        "file-with-url-options",
    ] {
        std::fs::remove_file(dir.path().join(format!("idp-configs/{name}.toml"))).unwrap();
    }
    assert_eq!(problems(&dir), Vec::<String>::new());
    let (warnings, _) = warnings_and_notes(&dir);
    let expected =
        "refresh-too-often.toml: metadata_url: SAML metadata: GET http://127.0.0.1:9/metadata";
    assert!(
        warnings.iter().any(|w| w.contains(expected)),
        "{expected}\n---\n{warnings:?}"
    );
}

fn saml_key_fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/saml/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// What `load` logs at warning level or above while it runs.
fn warnings_while_loading(dir: &tempfile::TempDir) -> (Vec<String>, String) {
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .finish();
    let problems = tracing::subscriber::with_default(subscriber, || problems(dir));
    let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    (problems, logged)
}

#[test]
fn a_saml_decryption_key_is_an_owner_only_rsa_pkcs8_key() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = setup(MAIN);
    let key = saml_key_fixture("sp-encryption.key");
    write(dir.path(), "idp-configs/keys/sp.key", "");
    std::fs::write(dir.path().join("idp-configs/keys/sp.key"), &key).unwrap();
    let chmod = |mode: u32| {
        std::fs::set_permissions(
            dir.path().join("idp-configs/keys/sp.key"),
            std::fs::Permissions::from_mode(mode),
        )
        .unwrap();
    };
    write(
        dir.path(),
        "idp-configs/corp.toml",
        &format!(
            "kind = \"saml\"\nmetadata_file = \"{}\"\ndecryption_key_file = \"keys/sp.key\"\n",
            saml_metadata_path()
        ),
    );
    chmod(0o600);
    let (found, logged) = warnings_while_loading(&dir);
    assert!(found.is_empty(), "{found:?}");
    assert!(logged.is_empty(), "{logged}");
    let config = load(&dir.path().join("stsbridge.toml")).unwrap();
    let IdpConfig::Saml(s) = &config.federation.idps[0] else {
        panic!("a SAML IdP")
    };
    assert!(s.decryption_key.is_some());
    assert!(
        !format!("{config:?}").contains("MII"),
        "no key material in Debug"
    );

    // Readable by the group: used, with a warning naming the file (never its content).
    chmod(0o640);
    let (found, logged) = warnings_while_loading(&dir);
    assert!(found.is_empty(), "{found:?}");
    assert!(
        logged.contains("readable by others than its owner"),
        "{logged}"
    );
    assert!(logged.contains("sp.key"), "{logged}");
    assert!(!logged.contains("MII"), "{logged}");

    // Not a usable key: a problem with the field, never the content.
    for (content, expected) in [
        (saml_key_fixture("ec.key"), "not an RSA key"),
        (saml_key_fixture("idp.crt"), "no PRIVATE KEY (PKCS#8) block"),
    ] {
        std::fs::write(dir.path().join("idp-configs/keys/sp.key"), content).unwrap();
        chmod(0o600);
        let text = problems(&dir).join("\n");
        assert!(
            text.contains(&format!("corp.toml: decryption_key_file: SAML provider configuration: decryption key: {expected}")),
            "{text}"
        );
        assert!(!text.contains("MII"), "{text}");
    }
    std::fs::remove_file(dir.path().join("idp-configs/keys/sp.key")).unwrap();
    let text = problems(&dir).join("\n");
    assert!(
        text.contains("corp.toml: decryption_key_file: cannot read"),
        "{text}"
    );
}

#[test]
fn authorization_services_need_unique_names_and_a_sha256() {
    let good = "a".repeat(64);
    let main = format!(
        "{MAIN}[[authorization.services]]\nname = \"photos\"\nbearer_sha256 = \"{good}\"\n\
         [[authorization.services]]\nname = \"photos\"\nbearer_sha256 = \"{good}\"\n\
         [[authorization.services]]\nname = \"bad name\"\nbearer_sha256 = \"{good}\"\n\
         [[authorization.services]]\nname = \"short\"\nbearer_sha256 = \"abcd\"\n"
    );
    let found = problems(&setup(&main));
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found[0].contains("authorization.services[1].name"),
        "{found:#?}"
    );
    assert!(found[1].contains("authorization.services[2].name"));
    assert!(found[2].contains("authorization.services[3].bearer_sha256"));

    let main = format!(
        "{MAIN}[[authorization.services]]\nname = \"photos\"\nbearer_sha256 = \"{}\"\n",
        "AB".repeat(32)
    );
    let dir = setup(&main);
    let config = load(&dir.path().join("stsbridge.toml")).unwrap();
    assert_eq!(
        config.federation.authorization_services,
        vec![AuthorizationService {
            name: "photos".into(),
            bearer_sha256: [0xab; 32],
            signing_name: "photos".into(),
        }]
    );

    let main = format!(
        "{MAIN}[[authorization.services]]\nname = \"gallery\"\nsigning_name = \"photos\"\n\
         bearer_sha256 = \"{good}\"\n\
         [[authorization.services]]\nname = \"other\"\nsigning_name = \"no way\"\n\
         bearer_sha256 = \"{good}\"\n"
    );
    let found = problems(&setup(&main));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].contains("authorization.services[1].signing_name"));
}

#[test]
fn the_example_saml_configurations_use_known_keys() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("idp-configs");
    for name in ["adfs.toml.example", "okta-saml.toml.example"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        // The options shown commented out, too.
        let uncommented: String = text
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(option)
                    if option.split_once(" = ").is_some_and(|(key, _)| {
                        key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    }) =>
                {
                    option
                }
                // A commented-out table (`# [signin]`) with its options.
                Some(table)
                    if table
                        .strip_prefix('[')
                        .and_then(|t| t.strip_suffix(']'))
                        .is_some_and(|name| {
                            name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                        }) =>
                {
                    table
                }
                _ => line,
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert_ne!(text, uncommented, "{name}");
        for text in [text, uncommented] {
            match toml::from_str::<file::RawIdp>(&text) {
                Ok(file::RawIdp::Saml(_)) => {}
                Ok(_) => panic!("{name}: not a SAML IdP"),
                Err(e) => panic!("{name}: {e}"),
            }
        }
    }
}

fn with_storage(extra: &str) -> String {
    MAIN.replace(
        "[storage]\npath = \"data/sled\"\n",
        &format!("[storage]\npath = \"data/sled\"\n{extra}"),
    )
}

const OIDC_SIGNIN: &str = "kind = \"oidc\"\nissuer = \"https://idp.example\"\naudiences = [\"portal\", \"cli\"]\n\
                           [signin]\nclient_id = \"portal\"\n";

fn main_with(server_extra: &str, rest: &str) -> String {
    format!(
        "default_account_id = \"123456789012\"\n[server]\nlisten = \"127.0.0.1:8080\"\n{server_extra}\n\
         [storage]\npath = \"data/sled\"\n[keys]\npath = \"data/keyring.json\"\n{rest}"
    )
}

#[test]
fn storage_is_sled_unless_postgres_is_asked_for() {
    let dir = setup(MAIN);
    let config = load(&dir.path().join("stsbridge.toml")).unwrap();
    assert_eq!(config.settings.storage.postgres, None);
    let dir = setup(&with_storage(
        "kind = \"postgres\"\nurl = \"postgresql://sts@db.internal/sts?sslmode=require\"\npool_size = 4\n",
    ));
    let config = load(&dir.path().join("stsbridge.toml")).unwrap();
    assert_eq!(
        config.settings.storage.stale_revocations,
        std::time::Duration::from_secs(60),
        "the default bound"
    );
    let database = config.settings.storage.postgres.unwrap();
    assert_eq!(database.pool_size, 4);
    assert_eq!(
        database.url,
        "postgresql://sts@db.internal/sts?sslmode=require"
    );
}

#[test]
fn the_database_password_comes_from_an_owner_only_file_and_is_never_shown() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = setup(&with_storage(
        "kind = \"postgres\"\nurl = \"postgresql://sts@db.internal/sts\"\nurl_file = \"db.pass\"\n",
    ));
    let secret = dir.path().join("db.pass");
    std::fs::write(&secret, "hunter2\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let p = problems(&dir).join("\n");
    assert!(
        p.contains("storage.url_file") && p.contains("chmod 600"),
        "{p}"
    );
    assert!(!p.contains("hunter2"), "{p}");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = load(&dir.path().join("stsbridge.toml")).unwrap();
    let database = config.settings.storage.postgres.clone().unwrap();
    assert_eq!(database.password.as_deref(), Some("hunter2"));
    assert!(!format!("{:?}", config.settings).contains("hunter2"));
}

#[test]
fn a_stale_revocation_bound_is_read_and_zero_allowed() {
    let dir = setup(&with_storage(
        "kind = \"postgres\"\nurl = \"postgresql://h/db\"\nstale_revocations_seconds = 0\n",
    ));
    let config = load(&dir.path().join("stsbridge.toml")).unwrap();
    assert_eq!(
        config.settings.storage.stale_revocations,
        std::time::Duration::ZERO
    );
}

#[test]
fn postgres_settings_are_checked() {
    for (extra, needle) in [
        ("kind = \"postgres\"\n", "storage.url: is required"),
        (
            "kind = \"postgres\"\nurl = \"postgresql://h/db?sslmode=sometimes\"\n",
            "storage.url: the database URL",
        ),
        (
            "kind = \"postgres\"\nurl = \"postgresql://h/db\"\npool_size = 0\n",
            "storage.pool_size",
        ),
        (
            "url = \"postgresql://h/db\"\n",
            "storage.url: is read only with kind = \"postgres\"",
        ),
        ("kind = \"mysql\"\n", "storage.kind"),
        (
            "kind = \"postgres\"\nurl = \"postgresql://h/db\"\nstale_revocations_seconds = 86401\n",
            "storage.stale_revocations_seconds: must be 0..86400",
        ),
        (
            "kind = \"postgres\"\nurl = \"postgresql://h/db?sslmode=require&sslrootcert=/nonexistent/ca.pem\"\n",
            "storage.url: sslrootcert /nonexistent/ca.pem",
        ),
    ] {
        let dir = setup(&with_storage(extra));
        let p = problems(&dir).join("\n");
        assert!(p.contains(needle), "{extra}: {p}");
    }
}

/// `[keys] kek_file` with a PostgreSQL store: the KEK is read at load (so `check-config`
/// reports it); a missing, short, long or too open file is a problem, as is a KEK with sled;
/// a PostgreSQL store without one keeps the keyring file, with a warning.
#[test]
fn the_kek_file_is_checked_and_read_only_with_postgres() {
    use std::os::unix::fs::PermissionsExt as _;
    const POSTGRES: &str = "kind = \"postgres\"\nurl = \"postgresql://sts@db.internal/sts\"\n";
    let with_kek = |storage: &str| {
        with_storage(storage).replace(
            "[keys]\npath = \"data/keyring.json\"\n",
            "[keys]\npath = \"data/keyring.json\"\nkek_file = \"kek\"\n",
        )
    };
    let dir = setup(&with_kek(POSTGRES));
    let kek = dir.path().join("kek");
    let p = problems(&dir).join("\n");
    assert!(
        p.contains("keys.kek_file: KEK file") && p.contains("kek"),
        "{p}"
    );
    for (bytes, mode, needle) in [
        (31, 0o600, "holds 31 bytes, a KEK is exactly 32"),
        (64, 0o600, "holds more than 32 bytes"),
        (32, 0o644, "mode 0644; it must be 0600 or narrower"),
    ] {
        let _ = std::fs::remove_file(&kek);
        std::fs::write(&kek, vec![7u8; bytes]).unwrap();
        std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(mode)).unwrap();
        let p = problems(&dir).join("\n");
        assert!(p.contains("keys.kek_file") && p.contains(needle), "{p}");
    }
    std::fs::remove_file(&kek).unwrap();
    crate::creds::kek::Kek::create_file(&kek).unwrap();
    let config = load(&dir.path().join("stsbridge.toml")).unwrap();
    assert_eq!(config.settings.kek_file.as_deref(), Some(kek.as_path()));
    let (warnings, _) = warnings_and_notes(&dir);
    assert!(
        !warnings.iter().any(|w| w.contains("kek_file")),
        "{warnings:?}"
    );

    let dir = setup(&with_kek(""));
    let p = problems(&dir).join("\n");
    assert!(
        p.contains("keys.kek_file: is read only with [storage] kind = \"postgres\""),
        "{p}"
    );

    let dir = setup(&with_storage(POSTGRES));
    let config = load(&dir.path().join("stsbridge.toml")).unwrap();
    assert_eq!(config.settings.kek_file, None);
    let (warnings, _) = warnings_and_notes(&dir);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("keys.kek_file: is not set")),
        "{warnings:?}"
    );
}

#[test]
fn signin_defaults_and_the_portal_acs_is_added_to_every_saml_idp() {
    let dir = setup(&main_with("public_url = \"https://sts.example.com/\"", ""));
    write(dir.path(), "idp-configs/corp.toml", OIDC_SIGNIN);
    write(
        dir.path(),
        "idp-configs/adfs.toml",
        &format!(
            "kind = \"saml\"\nmetadata_file = \"{}\"\n[signin]\ndisplay_name = \"Corporate <AD FS>\"\n",
            saml_metadata_path()
        ),
    );
    let config = load(&dir.path().join("stsbridge.toml")).unwrap();
    let url = config.settings.public_url.clone().unwrap();
    assert_eq!(url.origin(), "https://sts.example.com");
    assert!(url.secure_context());
    assert_eq!(config.settings.signin, SigninSettings::default());
    assert_eq!(
        config.settings.signin.session,
        Duration::from_secs(8 * 3600)
    );
    let saml = config
        .federation
        .idps
        .iter()
        .find_map(|i| match i {
            IdpConfig::Saml(s) => Some(s),
            IdpConfig::Oidc(_) => None,
        })
        .unwrap();
    assert_eq!(
        saml.acs_urls,
        [
            "https://signin.aws.amazon.com/saml",
            "https://sts.example.com/saml"
        ]
    );
    assert_eq!(
        saml.portal_entity_id.as_deref(),
        Some("https://sts.example.com/saml/metadata"),
        "the audience of answers to the portal's AuthnRequests"
    );
    assert_eq!(saml.sp_entity_id, "urn:amazon:webservices");
    let offered = &config.federation.signin;
    assert_eq!(offered.len(), 2);
    assert_eq!(offered[0].name, "adfs");
    assert_eq!(offered[0].display_name, "Corporate <AD FS>");
    assert_eq!(
        offered[0].kind,
        signin::SigninKind::Saml(signin::SamlSignin {
            sso_url: None,
            sign_requests: true
        })
    );
    assert_eq!(offered[1].display_name, "corp", "default: the name");
    let signin::SigninKind::Oidc(oidc) = &offered[1].kind else {
        panic!("{offered:?}");
    };
    assert_eq!(oidc.scopes, ["openid", "email"]);
    assert_eq!(oidc.client_id, "portal");
    assert_eq!(oidc.client_secret, None);
}

#[test]
fn without_a_public_url_nothing_changes_and_loopback_http_is_a_secure_context() {
    let dir = setup(MAIN);
    write(
        dir.path(),
        "idp-configs/adfs.toml",
        &format!(
            "kind = \"saml\"\nmetadata_file = \"{}\"\n",
            saml_metadata_path()
        ),
    );
    let config = load(&dir.path().join("stsbridge.toml")).unwrap();
    assert_eq!(config.settings.public_url, None);
    let IdpConfig::Saml(saml) = &config.federation.idps[0] else {
        panic!()
    };
    assert_eq!(saml.acs_urls, ["https://signin.aws.amazon.com/saml"]);

    for (text, secure) in [
        ("http://127.0.0.1:8080", true),
        ("http://[::1]:9000/", true),
        ("http://localhost:3000", true),
        ("http://sts.internal:8080", false),
        ("https://sts.internal", true),
    ] {
        assert_eq!(
            PublicUrl::parse(text).unwrap().secure_context(),
            secure,
            "{text}"
        );
    }
}

#[test]
fn signin_problems_name_their_file_and_field() {
    let dir = setup(&main_with(
        "public_url = \"https://sts.example.com/portal?x=1\"",
        "[signin]\ntitle = \"\"\nlogo_url = \"javascript:alert(1)\"\ntemplates_dir = \"nowhere\"\n\
         session_hours = 13\nsp_key_file = \"sp.key\"\n",
    ));
    write(
        dir.path(),
        "idp-configs/google.toml",
        "kind = \"oidc\"\nissuer = \"https://accounts.google.com\"\naudiences = [\"c\"]\n\
         [signin]\nclient_id = \"other\"\nscopes = [\"email\", \"a b\"]\nclient_secret_file = \"secret\"\n",
    );
    let secret = dir.path().join("idp-configs/secret");
    std::fs::write(&secret, "s3cr3t\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    write(
        dir.path(),
        "idp-configs/oidc.toml",
        "kind = \"oidc\"\nissuer = \"https://other.example\"\naudiences = [\"c\"]\n\
         [signin]\nclient_id = \"c\"\n",
    );
    write(
        dir.path(),
        "idp-configs/adfs.toml",
        &format!(
            "kind = \"saml\"\nmetadata_file = \"{}\"\n[signin]\nsso_url = \"http://idp.example/sso\"\n",
            saml_metadata_path()
        ),
    );
    let p = problems(&dir);
    let expect = [
        "stsbridge.toml: server.public_url: must be a base URL without a path",
        "stsbridge.toml: signin.title: must be 1-100 characters",
        "stsbridge.toml: signin.logo_url: must be an https:// URL or a path on this server",
        "stsbridge.toml: signin.templates_dir: ",
        "stsbridge.toml: signin.session_hours: must be 1..12 hours",
        "stsbridge.toml: signin.sp_cert_file: missing: sp_key_file needs the certificate",
        "idp-configs/adfs.toml: signin.sso_url: must be an https:// URL (http only for a loopback host)",
        "idp-configs/google.toml: signin.client_id: must be one of audiences",
        "idp-configs/google.toml: signin.client_secret_file: ",
        "idp-configs/google.toml: signin.scopes: must include \"openid\"",
        "idp-configs/google.toml: signin.scopes: \"a b\" is not a scope",
        "idp-configs/oidc.toml: signin: an IdP offered on the sign-in page needs a name",
    ];
    for want in expect {
        assert!(
            p.iter().any(|line| line.contains(want)),
            "{want:?} not in {p:#?}"
        );
    }
    assert!(
        p.iter()
            .any(|l| l.contains("readable by others than its owner (mode 644)")),
        "{p:#?}"
    );
    assert!(
        p.iter().all(|l| !l.contains("s3cr3t")),
        "never the secret: {p:#?}"
    );
    assert_eq!(p.len(), expect.len(), "{p:#?}");
}

#[test]
fn offering_an_idp_needs_a_public_url_and_unique_names() {
    let dir = setup(MAIN);
    write(dir.path(), "idp-configs/corp.toml", OIDC_SIGNIN);
    let p = problems(&dir);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].contains("stsbridge.toml: server.public_url: missing: ")
            && p[0].contains("corp.toml offers an IdP on the sign-in page"),
        "{p:#?}"
    );

    let dir = setup(&main_with("public_url = \"https://sts.example.com\"", ""));
    write(dir.path(), "idp-configs/corp.toml", OIDC_SIGNIN);
    write(
        dir.path(),
        "idp-configs/saml.toml",
        &format!(
            "kind = \"saml\"\nname = \"corp\"\nmetadata_file = \"{}\"\n[signin]\n",
            saml_metadata_path()
        ),
    );
    let p = problems(&dir);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].contains("saml.toml: signin: corp is offered on the sign-in page by ")
            && p[0].contains("corp.toml already"),
        "{p:#?}"
    );
}

#[test]
fn a_client_secret_file_and_sp_key_files_load_and_are_not_unread_files() {
    use std::os::unix::fs::PermissionsExt as _;
    let fixtures = format!("{}/tests/fixtures/saml", env!("CARGO_MANIFEST_DIR"));
    let dir = setup(&main_with(
        "public_url = \"http://127.0.0.1:8080\"",
        "[signin]\ntitle = \"Example <Corp>\"\nsession_hours = 12\nsp_key_file = \"sp.key\"\nsp_cert_file = \"sp.pem\"\n",
    ));
    std::fs::copy(
        format!("{fixtures}/keys/sp-encryption.key"),
        dir.path().join("sp.key"),
    )
    .unwrap();
    std::fs::set_permissions(
        dir.path().join("sp.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::copy(
        format!("{fixtures}/keys/sp-encryption.crt"),
        dir.path().join("sp.pem"),
    )
    .unwrap();
    write(
        dir.path(),
        "idp-configs/corp.toml",
        &format!(
            "{OIDC_SIGNIN}client_secret_file = \"corp.secret\"\nscopes = [\"openid\", \"profile\"]\n"
        ),
    );
    let secret = dir.path().join("idp-configs/corp.secret");
    std::fs::write(&secret, "s3cr3t\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = load(&dir.path().join("stsbridge.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.warnings, [], "the secret file is read, not unread");
    assert_eq!(config.settings.signin.title, "Example <Corp>");
    assert_eq!(
        config.settings.signin.session,
        Duration::from_secs(12 * 3600)
    );
    assert!(config.settings.signin.sp_key.is_some());
    let signin::SigninKind::Oidc(oidc) = &config.federation.signin[0].kind else {
        panic!()
    };
    assert_eq!(oidc.client_secret.as_ref().unwrap().expose(), "s3cr3t");
    assert_eq!(oidc.scopes, ["openid", "profile"]);
    assert!(!format!("{config:?}").contains("s3cr3t"), "Debug hides it");
}

#[test]
fn a_saml_idp_offered_needs_somewhere_to_send_authn_requests() {
    let dir = setup(&main_with("public_url = \"https://sts.example.com\"", ""));
    let metadata = std::fs::read_to_string(saml_metadata_path())
        .unwrap()
        .replace(
            "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
            "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact",
        );
    write(dir.path(), "idp-configs/corp-metadata.xml", &metadata);
    write(
        dir.path(),
        "idp-configs/corp.toml",
        "kind = \"saml\"\nmetadata_file = \"corp-metadata.xml\"\n[signin]\n",
    );
    let p = problems(&dir);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].contains("corp.toml: signin.sso_url: missing: the metadata names no HTTP-Redirect"),
        "{p:#?}"
    );
    // Given: fine.
    write(
        dir.path(),
        "idp-configs/corp.toml",
        "kind = \"saml\"\nmetadata_file = \"corp-metadata.xml\"\n[signin]\n\
         sso_url = \"https://idp.example.com/sso\"\n",
    );
    assert_eq!(problems(&dir), Vec::<String>::new());
}
