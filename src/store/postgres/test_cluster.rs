//! A throwaway PostgreSQL cluster for tests: one per test process, started on first use from
//! the installed server binaries (`initdb`, `postgres`), listening on a Unix socket in a
//! temporary directory only (`listen_addresses=''`). Each test gets a database of its own
//! ([`fresh_database`]). A test of TLS to the database starts a cluster of its own that also
//! listens on loopback with TLS ([`tls_cluster`]).
//!
//! PostgreSQL refuses to run as root; as root the cluster runs as the unprivileged user
//! `nobody` (`setpriv`), its directory chown'ed to it.
//!
//! Teardown: a `Drop` on a static never runs, so the server is started by a small shell that
//! holds the read end of a pipe whose write end only this process holds. When the process ends,
//! however it ends (a normal exit, a panic, kill -9), the pipe closes, the shell's `read` returns,
//! and it stops the server (fast shutdown) and removes the directory.
//!
//! Used by the unit tests of the store (`src/store/postgres`) and, through `#[path]`, by the
//! integration tests (`tests/it/support/postgres.rs`): only the standard library, so both can.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The database superuser the cluster is created with (trust authentication on its socket).
pub const SUPERUSER: &str = "stsbridge";

/// Where the Debian/Ubuntu packages put each major version's server binaries.
const PACKAGED_BINARIES: &str = "/usr/lib/postgresql";

/// How to reach the shared cluster.
pub struct TestCluster {
    /// The directory of the server's Unix socket.
    pub socket_dir: PathBuf,
    /// The port (in the socket's name; on `127.0.0.1` too for a TLS cluster).
    pub port: u16,
    bin_dir: PathBuf,
    /// The shell that stops the server when this process ends (its stdin is the pipe).
    _guard: Mutex<Child>,
}

impl TestCluster {
    /// The connection string (libpq key/value) of database `dbname`.
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "host={} port={} user={SUPERUSER} dbname={dbname}",
            self.socket_dir.display(),
            self.port
        )
    }

    /// The path of a server-side tool (`createdb`, `psql` when packaged there, ...).
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

/// The cluster of this test process, started on first use. Panics (the test fails, it never
/// skips) when the PostgreSQL server binaries are not installed or the cluster does not start.
pub fn cluster() -> &'static TestCluster {
    static CLUSTER: OnceLock<Result<TestCluster, String>> = OnceLock::new();
    match CLUSTER.get_or_init(|| start(None)) {
        Ok(cluster) => cluster,
        Err(e) => panic!("{e}"),
    }
}

/// A cluster of its own that also listens on `127.0.0.1` (the returned port) with TLS, serving
/// `cert_pem` (a chain for `127.0.0.1`/`localhost`) and `key_pem`. Stopped when the process
/// ends, as the shared one.
#[allow(dead_code)] // the integration tests' (the store's unit tests use the socket only)
pub fn tls_cluster(cert_pem: &str, key_pem: &str) -> (TestCluster, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let tls = Tls {
        cert_pem: cert_pem.to_owned(),
        key_pem: key_pem.to_owned(),
        port,
    };
    match start(Some(tls)) {
        Ok(cluster) => (cluster, port),
        Err(e) => panic!("{e}"),
    }
}

/// What a TLS cluster serves, and where.
struct Tls {
    cert_pem: String,
    key_pem: String,
    port: u16,
}

/// A new, empty database on the shared cluster; returns its connection string.
pub fn fresh_database() -> String {
    let cluster = cluster();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let out = Command::new(cluster.tool("createdb"))
        .args(["-h"])
        .arg(&cluster.socket_dir)
        .args(["-p", &cluster.port.to_string()])
        .args(["-U", SUPERUSER, &name])
        .output()
        .expect("running createdb");
    assert!(
        out.status.success(),
        "createdb {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    cluster.url(&name)
}

/// The directory holding `initdb` and `postgres`: `STSBRIDGE_TEST_PG_BINDIR` if set, else the
/// newest packaged major version, else what `pg_config --bindir` says.
fn find_binaries() -> Result<PathBuf, String> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("STSBRIDGE_TEST_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        return if has_server(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "STSBRIDGE_TEST_PG_BINDIR={} holds no initdb and postgres",
                dir.display()
            ))
        };
    }
    let mut packaged: Vec<(u32, PathBuf)> = std::fs::read_dir(PACKAGED_BINARIES)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    packaged.sort();
    if let Some((_, bin)) = packaged.pop() {
        return Ok(bin);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_server(&dir) {
            return Ok(dir);
        }
    }
    Err(format!(
        "the PostgreSQL tests need the PostgreSQL server binaries (initdb, postgres): none in \
         {PACKAGED_BINARIES}/*/bin, nor where pg_config says, nor STSBRIDGE_TEST_PG_BINDIR; \
         install them (the `postgresql` package: the README's first command){}",
        if std::env::var_os("CI").is_some() {
            " (CI is set: the tests fail rather than skip)"
        } else {
            ""
        }
    ))
}

/// The uid and gid of `nobody`, from /etc/passwd.
fn nobody() -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| format!("/etc/passwd: {e}"))?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"nobody"))
                .then(|| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
                .flatten()
        })
        .ok_or_else(|| "running as root, and no user nobody to run PostgreSQL as".to_owned())
}

fn start(tls: Option<Tls>) -> Result<TestCluster, String> {
    static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let bin_dir = find_binaries()?;
    let nth = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("stsbridge-pg-{}-{nth}", std::process::id()));
    // A directory left by an earlier process of the same pid (its server stopped with it).
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let as_root = rustix::process::geteuid().is_root();
    let mut owned = vec![dir.clone()];
    let mut listen = String::new();
    let mut ssl: Vec<String> = Vec::new();
    if let Some(tls) = &tls {
        let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
        std::fs::write(&cert, &tls.cert_pem).map_err(|e| format!("writing the cert: {e}"))?;
        std::fs::write(&key, &tls.key_pem).map_err(|e| format!("writing the key: {e}"))?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("chmod the key: {e}"))?;
        listen = "127.0.0.1".to_owned();
        for setting in [
            "ssl=on".to_owned(),
            format!("ssl_cert_file={}", cert.display()),
            format!("ssl_key_file={}", key.display()),
            format!("port={}", tls.port),
        ] {
            ssl.push("-c".to_owned());
            ssl.push(setting);
        }
        owned.extend([cert, key]);
    }
    // The command prefix that runs a server binary as the cluster's owner.
    let mut run_as: Vec<String> = Vec::new();
    if as_root {
        let (uid, gid) = nobody()?;
        for path in &owned {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", path.display()))?;
        }
        run_as = vec![
            "setpriv".into(),
            format!("--reuid={uid}"),
            format!("--regid={gid}"),
            "--clear-groups".into(),
            "--".into(),
        ];
    }
    let data = dir.join("data");
    let log = dir.join("server.log");
    let command = |program: &Path| {
        let mut words = run_as.clone();
        words.push(program.display().to_string());
        let mut cmd = Command::new(&words[0]);
        cmd.args(&words[1..]);
        cmd
    };
    let out = command(&bin_dir.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        ])
        .args(["--no-instructions"])
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| format!("running initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // fsync off: the tests share two cores and create a database each; durability across a
    // crash of the machine is not what they test (the store still asks for synchronous commit).
    let server = command(&bin_dir.join("postgres"));
    let mut words: Vec<String> = std::iter::once(server.get_program())
        .chain(server.get_args())
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    words.extend(
        [
            "-D",
            &data.display().to_string(),
            "-k",
            &dir.display().to_string(),
            "-c",
            &format!("listen_addresses={listen}"),
            "-c",
            "fsync=off",
            "-c",
            "max_connections=400",
            "-c",
            "shared_buffers=32MB",
        ]
        .map(str::to_owned),
    );
    words.extend(ssl);
    // $1: the directory to remove; the rest: the server's command line. The server's own
    // output goes to the log; the shell waits on its stdin (the pipe) and stops the server when
    // it closes.
    let script = r#"dir="$1"; shift
trap '' INT TERM HUP
"$@" </dev/null >"$dir/server.log" 2>&1 &
pid=$!
read -r _ || true
kill -INT "$pid" 2>/dev/null
wait "$pid"
rm -rf "$dir""#;
    let guard = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("stsbridge-test-postgres")
        .arg(&dir)
        .args(&words)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the server: {e}"))?;
    let cluster = TestCluster {
        socket_dir: dir.clone(),
        port: tls.as_ref().map_or(5432, |t| t.port),
        bin_dir,
        _guard: Mutex::new(guard),
    };
    for _ in 0..300 {
        let ready = Command::new(cluster.tool("pg_isready"))
            .arg("-h")
            .arg(&dir)
            .args(["-p", &cluster.port.to_string()])
            .args(["-U", SUPERUSER, "-d", "postgres", "-q"])
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            return Ok(cluster);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "the test PostgreSQL server did not become ready within 30 s: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    ))
}
