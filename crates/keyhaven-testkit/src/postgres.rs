//! A real PostgreSQL server per test: `initdb` into a temporary directory, a free port on 127.0.0.1, started with
//! `pg_ctl`, a `keyhaven` database created, stopped and removed on drop. Helpers make a streaming hot standby
//! (`pg_basebackup -R`), stop a server abruptly, restart and promote one.
//!
//! PostgreSQL refuses to run as root: when the tests run as root, every server command runs as the `postgres`
//! user (or `nobody`), with the temporary directory given to that user. The server binaries are looked for in
//! `$KEYHAVEN_PG_BIN`, `/usr/lib/postgresql/*/bin` (the newest) and `$PATH`; when they are missing, starting
//! fails with a message saying how to install them (tests are never skipped silently).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The database every test server has, named in [`TestPostgres::url`].
pub const DATABASE: &str = "keyhaven";
/// The superuser `initdb` creates (password-less: trust authentication on loopback).
pub const SUPERUSER: &str = "postgres";

/// A PostgreSQL server of the test's own.
pub struct TestPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    run_as: Option<User>,
    running: bool,
}

/// A non-root account to run the server as.
#[derive(Clone, Debug)]
struct User {
    name: String,
    uid: u32,
    gid: u32,
}

/// Server settings for tests. `fsync` off keeps test runs fast; the engine sees the same behaviour either way
/// (a killed server keeps what the operating system has, and these tests never crash the machine).
const TEST_SETTINGS: &[(&str, &str)] = &[
    ("listen_addresses", "'127.0.0.1'"),
    ("unix_socket_directories", "''"),
    ("max_connections", "60"),
    ("shared_buffers", "32MB"),
    ("fsync", "off"),
    ("full_page_writes", "off"),
    ("wal_level", "replica"),
    ("max_wal_senders", "5"),
    ("hot_standby", "on"),
    ("hot_standby_feedback", "on"),
    ("log_min_messages", "warning"),
];

impl TestPostgres {
    /// Starts a fresh server (fsync off) with a `keyhaven` database. Panics with the reason (and the server
    /// log) if it cannot.
    pub fn start() -> TestPostgres {
        Self::start_with(&[])
    }

    /// Like [`TestPostgres::start`], with fsync on: for measurements of durable commits.
    pub fn start_durable() -> TestPostgres {
        Self::start_with(&[("fsync", "on"), ("full_page_writes", "on")])
    }

    /// Starts a fresh server with extra `postgresql.conf` settings (later ones win).
    pub fn start_with(settings: &[(&str, &str)]) -> TestPostgres {
        let bin = find_bin();
        let run_as = non_root_user();
        let dir = private_dir(&run_as);
        let data = dir.path().join("data");
        let mut pg = TestPostgres {
            dir,
            bin,
            port: 0,
            run_as,
            running: false,
        };
        let out = pg.server_command(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        check(&out, "initdb", None);
        let mut conf: Vec<(&str, &str)> = TEST_SETTINGS.to_vec();
        conf.extend_from_slice(settings);
        pg.append_conf(&conf);
        pg.start_on_free_port();
        let out = Command::new(pg.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &pg.port.to_string(),
                "-U",
                SUPERUSER,
                DATABASE,
            ])
            .output()
            .unwrap_or_else(|e| panic!("running createdb: {e}"));
        check(&out, "createdb", Some(&pg.log_file()));
        pg
    }

    /// A hot standby of this server, streaming from it (`pg_basebackup -R -X stream`), on its own free port,
    /// started and accepting read-only connections.
    pub fn start_standby(&self) -> TestPostgres {
        let dir = private_dir(&self.run_as);
        let data = dir.path().join("data");
        let mut standby = TestPostgres {
            dir,
            bin: self.bin.clone(),
            port: 0,
            run_as: self.run_as.clone(),
            running: false,
        };
        let out = standby.server_command(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-D",
                path_str(&data),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        );
        check(&out, "pg_basebackup", Some(&self.log_file()));
        standby.start_on_free_port();
        standby.wait_until(
            "the standby accepts connections",
            "SELECT pg_is_in_recovery()",
            "t",
        );
        standby
    }

    /// A hot standby of this server (see [`TestPostgres::start_standby`]) made synchronous: once it streams, the
    /// primary waits for it to apply every commit before acknowledging it (`synchronous_standby_names = '*'`,
    /// `synchronous_commit = remote_apply`), so every acknowledged write is on the standby and visible there.
    pub fn start_synchronous_standby(&self) -> TestPostgres {
        let standby = self.start_standby();
        self.wait_for_standby();
        self.set("synchronous_standby_names", "*");
        self.set("synchronous_commit", "remote_apply");
        self.wait_until(
            "the standby to be synchronous",
            "SELECT count(*) > 0 FROM pg_stat_replication WHERE sync_state = 'sync'",
            "t",
        );
        standby
    }

    /// `postgres://postgres@127.0.0.1:{port}/keyhaven`.
    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// Creates another database on this server and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.psql(&format!("CREATE DATABASE \"{name}\""));
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{name}", self.port)
    }

    /// A libpq-style URL naming several servers in order: `postgres://postgres@h1:p1,h2:p2/keyhaven`.
    pub fn multi_host_url(servers: &[&TestPostgres]) -> String {
        let hosts: Vec<String> = servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        format!("postgres://{SUPERUSER}@{}/{DATABASE}", hosts.join(","))
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's data directory (inside the temporary directory).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Runs one SQL text with `psql` in the `keyhaven` database and returns its unaligned output, trimmed.
    pub fn psql(&self, sql: &str) -> String {
        let out = self.try_psql(sql);
        check(&out, &format!("psql -c {sql:?}"), Some(&self.log_file()));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn try_psql(&self, sql: &str) -> Output {
        Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                DATABASE,
                "-c",
                sql,
            ])
            .output()
            .unwrap_or_else(|e| panic!("running psql: {e}"))
    }

    /// Sets a server setting with `ALTER SYSTEM` and reloads the configuration.
    pub fn set(&self, name: &str, value: &str) {
        self.psql(&format!("ALTER SYSTEM SET {name} = '{value}'"));
        self.psql("SELECT pg_reload_conf()");
    }

    /// Waits (up to 30 s) until `sql` prints `expected`.
    pub fn wait_until(&self, what: &str, sql: &str, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.try_psql(sql);
            let got = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && got == expected {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "waiting for {what}: `{sql}` printed {got:?}, not {expected:?}; {}\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    log_tail(&self.log_file())
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until a standby streams from this server (it shows in `pg_stat_replication`).
    pub fn wait_for_standby(&self) {
        self.wait_until(
            "a standby to stream",
            "SELECT count(*) > 0 FROM pg_stat_replication WHERE state = 'streaming'",
            "t",
        );
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`).
    pub fn stop_immediate(&mut self) {
        self.stop_with("immediate");
    }

    /// Stops the server cleanly (`pg_ctl stop -m fast`).
    pub fn stop(&mut self) {
        self.stop_with("fast");
    }

    fn stop_with(&mut self, mode: &str) {
        if !self.running {
            return;
        }
        let data = self.data_dir();
        let out = self.server_command("pg_ctl", &["stop", "-w", "-m", mode, "-D", path_str(&data)]);
        check(&out, "pg_ctl stop", Some(&self.log_file()));
        self.running = false;
    }

    /// Starts a stopped server again, on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let started = self.pg_ctl_start();
        check(&started, "pg_ctl start", Some(&self.log_file()));
        self.running = true;
    }

    /// Promotes a standby to a primary and waits until it accepts writes.
    pub fn promote(&self) {
        let data = self.data_dir();
        let out = self.server_command("pg_ctl", &["promote", "-w", "-D", path_str(&data)]);
        check(&out, "pg_ctl promote", Some(&self.log_file()));
        self.wait_until("promotion", "SELECT pg_is_in_recovery()", "f");
    }

    fn append_conf(&self, settings: &[(&str, &str)]) {
        use std::io::Write;
        let path = self.data_dir().join("postgresql.conf");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
        let mut text = String::from("\n# keyhaven-testkit\n");
        for (k, v) in settings {
            text.push_str(&format!("{k} = {v}\n"));
        }
        f.write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// Picks a free port and starts the server on it; another process may take the port between the pick and
    /// the start, so a failed start is retried on a new port.
    fn start_on_free_port(&mut self) {
        let mut last = None;
        for _ in 0..5 {
            self.port = free_port();
            self.append_conf(&[("port", &self.port.to_string())]);
            let out = self.pg_ctl_start();
            if out.status.success() {
                self.running = true;
                return;
            }
            last = Some(out);
        }
        if let Some(out) = last {
            check(&out, "pg_ctl start", Some(&self.log_file()));
        }
    }

    fn pg_ctl_start(&self) -> Output {
        let data = self.data_dir();
        let log = self.log_file();
        self.server_command(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                path_str(&data),
                "-l",
                path_str(&log),
            ],
        )
    }

    /// Runs a server binary, as the non-root user when the tests run as root.
    fn server_command(&self, program: &str, args: &[&str]) -> Output {
        let exe = self.bin.join(program);
        let mut cmd = match &self.run_as {
            Some(u) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={}", u.uid))
                    .arg(format!("--regid={}", u.gid))
                    .arg("--clear-groups")
                    .arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("PGTZ", "UTC")
            .env_remove("PGDATA")
            .env_remove("PGHOST")
            .env_remove("PGPORT");
        cmd.output()
            .unwrap_or_else(|e| panic!("running {}: {e}", exe.display()))
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if self.running {
            let data = self.data_dir();
            let _ = self.server_command(
                "pg_ctl",
                &["stop", "-w", "-m", "immediate", "-D", path_str(&data)],
            );
        }
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn check(out: &Output, what: &str, log: Option<&Path>) {
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n{}{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            log.map(log_tail).unwrap_or_default()
        );
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(30);
    format!(
        "server log ({}):\n{}",
        log.display(),
        lines[from..].join("\n")
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("finding a free port: {e}"))
}

/// A temporary directory the server's user owns.
fn private_dir(run_as: &Option<User>) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("keyhaven-pg")
        .tempdir()
        .unwrap_or_else(|e| panic!("creating a temporary directory: {e}"));
    if let Some(u) = run_as {
        std::os::unix::fs::chown(dir.path(), Some(u.uid), Some(u.gid))
            .unwrap_or_else(|e| panic!("giving {} to {}: {e}", dir.path().display(), u.name));
    }
    dir
}

/// Where `initdb`, `pg_ctl`, `postgres` and `pg_basebackup` are.
fn find_bin() -> PathBuf {
    let has_all = |d: &Path| {
        [
            "initdb",
            "pg_ctl",
            "postgres",
            "pg_basebackup",
            "createdb",
            "psql",
        ]
        .iter()
        .all(|b| d.join(b).is_file())
    };
    if let Some(d) = std::env::var_os("KEYHAVEN_PG_BIN").map(PathBuf::from) {
        if has_all(&d) {
            return d;
        }
        panic!(
            "KEYHAVEN_PG_BIN={} does not hold initdb, pg_ctl, postgres, pg_basebackup, createdb and psql",
            d.display()
        );
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_all(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if has_all(&d) {
                return d;
            }
        }
    }
    panic!(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres, pg_basebackup) were not found in \
         $KEYHAVEN_PG_BIN, /usr/lib/postgresql/*/bin or $PATH. Install them (Debian: apt-get install -y \
         postgresql; .ci/run does) or point KEYHAVEN_PG_BIN at their directory."
    )
}

/// `None` when the tests do not run as root; otherwise the account to run the server as.
fn non_root_user() -> Option<User> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|u| u.parse::<u32>().ok());
    if euid != Some(0) {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for name in ["postgres", "nobody"] {
        for line in passwd.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() >= 4 && f[0] == name {
                if let (Ok(uid), Ok(gid)) = (f[2].parse(), f[3].parse()) {
                    return Some(User {
                        name: name.to_string(),
                        uid,
                        gid,
                    });
                }
            }
        }
    }
    panic!("the tests run as root and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_starts_takes_queries_and_a_standby_follows_it() {
        let mut primary = TestPostgres::start();
        primary.psql("CREATE TABLE t (x int)");
        primary.psql("INSERT INTO t VALUES (1)");
        let mut standby = primary.start_standby();
        primary.wait_for_standby();
        primary.psql("INSERT INTO t VALUES (2)");
        standby.wait_until("replay", "SELECT count(*) FROM t", "2");
        primary.stop_immediate();
        standby.promote();
        standby.psql("INSERT INTO t VALUES (3)");
        assert_eq!(standby.psql("SELECT sum(x) FROM t"), "6");
        standby.stop();
        standby.restart();
        assert_eq!(standby.psql("SELECT count(*) FROM t"), "3");
    }
}
