//! A service started from a command line, so CI can compare two builds
//! (`--baseline-cmd 'old/service --listen 127.0.0.1:{port} --data-dir {dir}'`).
//!
//! `{port}` becomes a free loopback port and the URL is `http://127.0.0.1:{port}`; without
//! it, the first `http://…` printed on the command's stdout is the URL (the reference
//! service prints `listening on http://…`). `{dir}` becomes a fresh temporary directory,
//! removed afterwards. The command runs under `sh -c` in its own process group, which is what
//! is measured (CPU) and what is stopped (SIGTERM to the group, SIGKILL after 10 s).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::GateError;

/// How long a command gets to print its URL and answer `/healthz`.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running service command.
#[derive(Debug)]
pub struct ServiceProcess {
    pub url: String,
    /// Its process group (= the shell's pid).
    pub pgid: u32,
    child: Child,
    _dir: tempfile::TempDir,
}

/// Substitutes `{port}` and `{dir}` in `template`.
pub fn expand(template: &str, port: u16, dir: &str) -> String {
    template.replace("{port}", &port.to_string()).replace("{dir}", dir)
}

/// The first `http://…` or `https://…` URL in `line`, without trailing punctuation.
pub fn url_in(line: &str) -> Option<String> {
    let start = line.find("http://").or_else(|| line.find("https://"))?;
    let url: String =
        line[start..].chars().take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | ',' | ')')).collect();
    Some(url.trim_end_matches(['.', '/']).to_owned())
}

fn failed(command: &str, reason: impl std::fmt::Display) -> GateError {
    GateError::Command { command: command.to_owned(), reason: reason.to_string() }
}

impl ServiceProcess {
    /// Starts `template` and waits (up to [`START_TIMEOUT`]) for its URL to answer `/healthz`.
    pub async fn start(template: &str, client: &reqwest::Client) -> Result<Self, GateError> {
        let dir = tempfile::Builder::new().prefix("loadgen-gate-").tempdir().map_err(|e| failed(template, e))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| failed(template, format!("no free port: {e}")))?
            .port();
        let command = expand(template, port, &dir.path().to_string_lossy());
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).map_err(|e| failed(template, e))?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failed(&command, e))?;
        let pgid = child.id().ok_or_else(|| failed(&command, "exited at once"))?;
        let stdout = child.stdout.take().ok_or_else(|| failed(&command, "no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let printed = if template.contains("{port}") {
            None
        } else {
            let found = tokio::time::timeout(START_TIMEOUT, async {
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(url) = url_in(&line) {
                        return Some(url);
                    }
                }
                None
            })
            .await;
            match found {
                Ok(Some(url)) => Some(url),
                Ok(None) => return Err(failed(&command, "ended without printing a URL")),
                Err(_) => return Err(failed(&command, format!("printed no URL within {START_TIMEOUT:?}"))),
            }
        };
        // Keep reading stdout so a chatty service never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let url = printed.unwrap_or_else(|| format!("http://127.0.0.1:{port}"));
        let mut process = Self { url, pgid, child, _dir: dir };
        if let Err(reason) = crate::requests::wait_healthy(client, &process.url, START_TIMEOUT).await {
            let log = std::fs::read_to_string(process._dir.path().join("stderr.log")).unwrap_or_default();
            let tail: String =
                log.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" | ");
            process.stop().await;
            return Err(failed(&command, format!("{} did not become healthy: {reason}; stderr: {tail}", process.url)));
        }
        Ok(process)
    }

    /// SIGTERM to the process group, then SIGKILL if it is still there after 10 s.
    pub async fn stop(&mut self) {
        signal_group(self.pgid, "TERM").await;
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_err() {
            signal_group(self.pgid, "KILL").await;
            let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        }
        // The shell may be gone while a child it started lingers: make sure of the group.
        signal_group(self.pgid, "KILL").await;
    }
}

/// `kill -SIG -PGID` (the `kill` utility, so no unsafe code is needed here).
async fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_printed_urls() {
        assert_eq!(
            expand("svc --listen 127.0.0.1:{port} --data-dir {dir}", 8123, "/tmp/x"),
            "svc --listen 127.0.0.1:8123 --data-dir /tmp/x"
        );
        assert_eq!(url_in("INFO listening on http://127.0.0.1:41234").as_deref(), Some("http://127.0.0.1:41234"));
        assert_eq!(url_in("ready at \"http://[::1]:80/\".").as_deref(), Some("http://[::1]:80"));
        assert_eq!(url_in("no url here"), None);
    }
}
