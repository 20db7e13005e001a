//! [`PrivateMariaDb`]: a MariaDB server of the tests' own — its own temporary data directory, a free
//! loopback port, its own socket — that a test may stop and start again (fault tests: the source
//! database goes away and comes back) without disturbing the shared server other tests use. Removed
//! when dropped.
//!
//! The binaries are `$PINTA_MARIADBD` (else `mariadbd` on `PATH`, else `/usr/sbin/mariadbd`) and
//! `$PINTA_MARIADB_INSTALL_DB` (else `mariadb-install-db`). If the server cannot be set up or does not
//! answer, [`PrivateMariaDb::start`] returns an error saying so — tests fail with that message rather
//! than skip. `root` has no password and is reached over TCP on 127.0.0.1.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum MariaDbError {
    #[error("could not run {binary}: {source}. Install MariaDB's server package or set {variable}")]
    Spawn { binary: String, variable: &'static str, source: std::io::Error },
    #[error("{binary} failed ({status}); its output is in {log}")]
    Install { binary: String, status: std::process::ExitStatus, log: String },
    #[error("mariadbd exited before answering on port {port} ({status}); its log is {log}")]
    Exited { port: u16, status: std::process::ExitStatus, log: String },
    #[error("mariadbd did not answer on port {port} within {waited:?}; its log is {log}")]
    Timeout { port: u16, waited: Duration, log: String },
    #[error("preparing the data directory {dir}: {source}")]
    Dir { dir: String, source: std::io::Error },
    #[error("no free loopback port: {0}")]
    Port(std::io::Error),
}

/// A private `mariadbd`, stopped and its data directory removed on drop.
#[derive(Debug)]
pub struct PrivateMariaDb {
    root: PathBuf,
    port: u16,
    child: Option<Child>,
}

fn binary(variable: &str, names: &[&str]) -> PathBuf {
    if let Some(p) = std::env::var_os(variable).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    for name in names {
        let p = Path::new(name);
        if p.is_absolute() {
            if p.exists() {
                return p.to_owned();
            }
        } else if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                if dir.join(name).exists() {
                    return dir.join(name);
                }
            }
        }
    }
    PathBuf::from(names[0])
}

/// The user the server runs as: the current one (`mariadbd` refuses to run as root unless told to).
fn current_user() -> Option<String> {
    let out = Command::new("id").arg("-un").output().ok()?;
    let name = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!name.is_empty()).then_some(name)
}

impl PrivateMariaDb {
    /// Creates a fresh data directory, starts the server on a free loopback port and waits until it
    /// accepts connections.
    pub fn start() -> Result<PrivateMariaDb, MariaDbError> {
        let unique = format!(
            "pinta-mariadb-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default()
        );
        let root = std::env::temp_dir().join(unique);
        let dir_err = |source| MariaDbError::Dir { dir: root.display().to_string(), source };
        std::fs::create_dir_all(&root).map_err(dir_err)?;
        let install = binary("PINTA_MARIADB_INSTALL_DB", &["mariadb-install-db", "/usr/bin/mariadb-install-db"]);
        let log = root.join("install.log");
        let log_file = std::fs::File::create(&log).map_err(dir_err)?;
        let log_err = log_file.try_clone().map_err(dir_err)?;
        let mut cmd = Command::new(&install);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", root.join("data").display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err);
        if let Some(user) = current_user() {
            cmd.arg(format!("--user={user}"));
        }
        let status = cmd.status().map_err(|source| MariaDbError::Spawn {
            binary: install.display().to_string(),
            variable: "PINTA_MARIADB_INSTALL_DB",
            source,
        })?;
        if !status.success() {
            return Err(MariaDbError::Install {
                binary: install.display().to_string(),
                status,
                log: log.display().to_string(),
            });
        }
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(MariaDbError::Port)?.port();
        let mut db = PrivateMariaDb { root, port, child: None };
        db.start_again()?;
        Ok(db)
    }

    /// Starts the server again (same data, same port) after [`Self::stop`]; waits until it answers.
    pub fn start_again(&mut self) -> Result<(), MariaDbError> {
        if self.child.is_some() {
            return Ok(());
        }
        let server = binary("PINTA_MARIADBD", &["mariadbd", "/usr/sbin/mariadbd"]);
        let log = self.root.join("server.log");
        let mut cmd = Command::new(&server);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", self.root.join("data").display()))
            .arg("--skip-networking=0")
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--port={}", self.port))
            .arg(format!("--socket={}", self.root.join("mysqld.sock").display()))
            .arg(format!("--pid-file={}", self.root.join("mysqld.pid").display()))
            .arg(format!("--log-error={}", log.display()))
            .arg("--innodb-buffer-pool-size=16M")
            .arg("--skip-name-resolve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(user) = current_user() {
            cmd.arg(format!("--user={user}"));
        }
        let mut child = cmd.spawn().map_err(|source| MariaDbError::Spawn {
            binary: server.display().to_string(),
            variable: "PINTA_MARIADBD",
            source,
        })?;
        let waited = Duration::from_secs(60);
        let deadline = Instant::now() + waited;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(MariaDbError::Exited { port: self.port, status, log: log.display().to_string() });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(MariaDbError::Timeout { port: self.port, waited, log: log.display().to_string() });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (a clean shutdown, data kept); connections are refused until
    /// [`Self::start_again`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM is a clean shutdown for mariadbd; fall back to SIGKILL if it lingers.
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mysql://root@127.0.0.1:PORT` (append `/DATABASE`).
    pub fn base_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// Creates `name` (if missing) and returns its URL.
    pub async fn create_database(&self, name: &str) -> Result<String, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&format!("{}/mysql", self.base_url())).await?;
        let safe: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE IF NOT EXISTS {safe}"))).execute(&admin).await?;
        admin.close().await;
        Ok(format!("{}/{safe}", self.base_url()))
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
