//! Helpers shared by the tests that run `pinta` against `moto_server`: bootstrapping through the
//! command line, child processes with log files (SIGINT, SIGKILL, waiting for a log line), a test
//! queue watching a topic, a plain HTTP GET against the gateway, and a fresh MariaDB database.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use pinta_contracts::Envelope;
use pinta_platform::aws::SqsReceiver;
use pinta_platform::aws::moto::MotoServer;
use pinta_platform::ports::EventReceiver;

/// A name no other test run uses (lowercase, valid for buckets and queues).
pub fn unique(prefix: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{:08x}", std::process::id(), nanos)
}

pub fn pinta_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pinta"))
}

/// `target/<profile>` of this test binary.
pub fn bin_dir() -> PathBuf {
    pinta_bin().parent().expect("target/<profile>").to_path_buf()
}

/// Builds the stage binaries (cargo is a no-op when they are fresh) and returns their folder.
pub fn service_bins() -> PathBuf {
    let dir = bin_dir();
    let target = dir.parent().expect("target dir").to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "--bins", "-p", "pinta-extractor", "-p", "pinta-transformer"])
        .args(["-p", "pinta-validator", "-p", "pinta-notifier"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("running cargo build for the service binaries");
    assert!(status.success(), "building the service binaries failed");
    dir
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// A command with only the variables given (plus `PATH` and `HOME`): nothing leaks in from the
/// environment the tests run in.
pub fn clean_command(bin: &Path, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null());
    cmd
}

/// `pinta aws bootstrap --only up` against the emulator: the variables of `pinta up --aws`.
pub fn bootstrap_up_vars(moto: &MotoServer, prefix: &str, visibility_secs: u64) -> BTreeMap<String, String> {
    let out = clean_command(&pinta_bin(), &moto.env())
        .args(["aws", "bootstrap", "--prefix", prefix, "--only", "up", "--visibility-timeout"])
        .arg(visibility_secs.to_string())
        .output()
        .expect("running pinta aws bootstrap");
    assert!(out.status.success(), "pinta aws bootstrap failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let vars: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert!(text.starts_with("# pinta up --aws"), "only the up section is printed: {text}");
    vars
}

/// Environment of a `pinta` process against the emulator with the given `PINTA_*` variables.
pub fn aws_env(moto: &MotoServer, vars: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut env = moto.env();
    env.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// A child process whose stdout and stderr go to files; killed (SIGKILL) on drop.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Proc {
    pub fn spawn(name: &str, mut cmd: Command, dir: &Path) -> Proc {
        let stdout = dir.join(format!("{name}.out"));
        let stderr = dir.join(format!("{name}.err"));
        let child = cmd
            .stdout(Stdio::from(std::fs::File::create(&stdout).expect("stdout file")))
            .stderr(Stdio::from(std::fs::File::create(&stderr).expect("stderr file")))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Proc { name: name.to_owned(), child, stdout, stderr }
    }

    pub fn out(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn err(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The last lines of both streams, for failure messages.
    pub fn logs(&self) -> String {
        let tail =
            |t: String| t.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        format!(
            "\n--- {} stdout ---\n{}\n--- {} stderr ---\n{}\n",
            self.name,
            tail(self.out()),
            self.name,
            tail(self.err())
        )
    }

    /// Panics (with the logs) if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited: {status}{}", self.name, self.logs());
        }
    }

    /// Waits until a line of stdout or stderr satisfies `pred`; returns it.
    pub fn wait_line(&mut self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = format!("{}\n{}", self.out(), self.err());
            if let Some(l) = text.lines().find(|l| pred(l)) {
                return l.to_owned();
            }
            self.assert_running();
            assert!(Instant::now() < deadline, "{}: no log line {what} within {timeout:?}{}", self.name, self.logs());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill").args([sig, &self.child.id().to_string()]).status().expect("running kill");
        assert!(status.success(), "kill {sig} {} failed", self.child.id());
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "{} did not exit within {timeout:?}{}", self.name, self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Receives what arrived on a watch queue within `wait`, acking it.
pub async fn drain(watch: &SqsReceiver, wait: Duration) -> Vec<Envelope> {
    let mut out = Vec::new();
    for m in watch.receive(10, wait).await.expect("receive from the watch queue") {
        out.push(Envelope::from_json(&m.body).expect("events on the topics are CloudEvents JSON"));
        watch.ack(&m).await.expect("ack");
    }
    out
}

/// `GET path` on the loopback gateway: (status, body). `None` while nothing listens.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { unchunk(body) } else { body.to_owned() };
    Some((status, body))
}

/// `POST path` with a JSON body on a loopback port: (status, body).
pub fn http_post(port: u16, path: &str, body: &str, timeout: Duration) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { unchunk(body) } else { body.to_owned() };
    Some((status, body))
}

/// Waits until something accepts connections on the loopback port.
pub fn wait_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub fn mysql_base() -> String {
    std::env::var("PINTA_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

/// A new, empty MariaDB database; its URL.
pub async fn fresh_mysql_db() -> String {
    sqlx::any::install_default_drivers();
    let base = mysql_base();
    let admin = sqlx::AnyPool::connect(&format!("{base}/mysql"))
        .await
        .unwrap_or_else(|e| panic!("MariaDB is required at {base} (start it with scripts/ensure-mariadb): {e}"));
    let name = unique("pinta_up").replace('-', "_");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&admin).await.expect("create database");
    admin.close().await;
    format!("{base}/{name}")
}

/// `pinta seed` into `source`.
pub fn seed(source: &str, data_dir: &Path, days: u32, until: &str, rows_per_day: u32) {
    let out = clean_command(&pinta_bin(), &[])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--source", source, "seed", "--days", &days.to_string(), "--until", until])
        .args(["--rows-per-day", &rows_per_day.to_string(), "--defect-rate", "0.1"])
        .output()
        .expect("running pinta seed");
    assert!(out.status.success(), "pinta seed failed: {}", String::from_utf8_lossy(&out.stderr));
}
