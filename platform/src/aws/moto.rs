//! [`MotoServer`]: runs `moto_server` (an AWS-protocol emulator) on a free loopback port for tests, and
//! stops it when dropped. [`MotoServer::restart`] replaces it with a fresh one on the same port (fault
//! tests: the endpoint goes away and comes back, with its state lost).
//!
//! The binary is `$PINTA_MOTO_SERVER`, else `$PINTA_VENV/bin/moto_server`, else `moto_server` on `PATH`.
//! If it cannot be started or does not answer, [`MotoServer::start`] returns an error saying so — tests
//! fail with that message rather than skip.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::config::AwsSettings;

/// Region and dummy credentials used against the emulator.
pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY_ID: &str = "testing";
pub const SECRET_ACCESS_KEY: &str = "testing";

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error(
        "could not start moto_server ({binary}): {source}. Install it with `pip install 'moto[server]'` or set PINTA_MOTO_SERVER"
    )]
    Spawn { binary: String, source: std::io::Error },
    #[error("moto_server ({binary}) exited before answering on port {port}: {status}")]
    Exited { binary: String, port: u16, status: std::process::ExitStatus },
    #[error("moto_server ({binary}) did not answer on port {port} within {waited:?}")]
    Timeout { binary: String, port: u16, waited: Duration },
    #[error("no free loopback port: {0}")]
    Port(std::io::Error),
}

/// A running `moto_server`, killed on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
    endpoint: String,
}

/// The `moto_server` binary to run.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("PINTA_MOTO_SERVER").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(venv) = std::env::var_os("PINTA_VENV").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(venv).join("bin").join("moto_server");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("moto_server")
}

impl MotoServer {
    /// Starts a fresh emulator (empty state) and waits until it accepts connections.
    pub fn start() -> Result<MotoServer, MotoError> {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(MotoError::Port)?.port();
        let child = spawn_on(port)?;
        Ok(MotoServer { child, port, endpoint: format!("http://127.0.0.1:{port}") })
    }

    /// Stops the emulator (its state is lost); the endpoint refuses connections until [`Self::restart`].
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the emulator if it runs and starts a new one on the same port (with empty state: resources
    /// must be created again).
    pub fn restart(&mut self) -> Result<(), MotoError> {
        self.stop();
        self.child = spawn_on(self.port)?;
        Ok(())
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn settings(&self) -> AwsSettings {
        AwsSettings { endpoint_url: Some(self.endpoint.clone()), region: Some(REGION.to_owned()) }
    }

    /// An SDK configuration pointing at this emulator with dummy credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        super::sdk_config_with_keys(&self.settings(), ACCESS_KEY_ID, SECRET_ACCESS_KEY).await
    }

    /// The environment a child process needs to reach this emulator.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".to_owned(), self.endpoint.clone()),
            ("AWS_REGION".to_owned(), REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID".to_owned(), ACCESS_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), SECRET_ACCESS_KEY.to_owned()),
        ]
    }
}

/// Runs `moto_server` on `port` and waits until it accepts connections.
fn spawn_on(port: u16) -> Result<Child, MotoError> {
    let bin = binary();
    let shown = bin.display().to_string();
    let mut child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| MotoError::Spawn { binary: shown.clone(), source })?;
    let waited = Duration::from_secs(60);
    let started = Instant::now();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(MotoError::Exited { binary: shown, port, status });
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(child);
        }
        if started.elapsed() > waited {
            let _ = child.kill();
            let _ = child.wait();
            return Err(MotoError::Timeout { binary: shown, port, waited });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
