//! Shared pieces of the benchmarks: start the real `crm` binary as a child process (so its
//! CPU time can be read from /proc apart from the load generator's), log in, mint a key, and
//! summarize latencies.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

/// A running `crm` child process.
pub struct Server {
    child: Child,
    /// Gateway base URL.
    pub base: String,
    /// svc-auth's gRPC URL.
    pub auth_url: String,
    /// Owner credentials printed on first start.
    pub email: String,
    /// One-time password printed on first start.
    pub password: String,
    /// Principal-signing secret given to the child.
    pub service_secret: String,
}

impl Server {
    /// Starts `target/<profile>/crm` next to the running benchmark binary on a fresh data dir.
    pub fn start(port: u16) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let bin = exe.parent().context("exe dir")?.join("crm");
        if !bin.exists() {
            bail!(
                "{} is missing: build it first (cargo build --release -p crm-stack)",
                bin.display()
            );
        }
        let data = std::env::temp_dir().join(format!("crm-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let service_secret = "bench-service-secret-0123456789abcdef".to_owned();
        let mut child = Command::new(bin)
            .env("CRM_DATA_DIR", &data)
            .env("CRM_LISTEN", format!("127.0.0.1:{port}"))
            .env("CRM_SERVICE_SECRET", &service_secret)
            .env("CRM_JWT_SECRET", "bench-jwt-secret-0123456789abcdef0123")
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().context("stdout")?;
        let (mut email, mut password, mut auth_url, mut base) =
            (String::new(), String::new(), String::new(), String::new());
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            let t = line.trim();
            if let Some(v) = t.strip_prefix("email:") {
                email = v.trim().to_owned();
            } else if let Some(v) = t.strip_prefix("password:") {
                password = v.trim().to_owned();
            } else if let Some(v) = t.strip_prefix("svc-auth on ") {
                auth_url = v.trim().to_owned();
            } else if let Some(v) = t.strip_prefix("CRM API on ") {
                base = v.split_whitespace().next().unwrap_or_default().to_owned();
                break;
            }
        }
        if base.is_empty() || password.is_empty() {
            bail!("crm did not start");
        }
        Ok(Self {
            child,
            base,
            auth_url,
            email,
            password,
            service_secret,
        })
    }

    /// Process id, for /proc/PID/stat.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Logs in and mints a key with `scopes`; returns (jwt, key).
    pub async fn key(&self, scopes: &[&str]) -> anyhow::Result<(String, String)> {
        let http = reqwest::Client::new();
        let login: Value = http
            .post(format!("{}/api/auth/login", self.base))
            .json(&json!({"email": self.email, "password": self.password}))
            .send()
            .await?
            .json()
            .await?;
        let token = login["token"].as_str().context("token")?.to_owned();
        let created: Value = http
            .post(format!("{}/api/api-keys", self.base))
            .bearer_auth(&token)
            .json(&json!({"name": "bench", "scopes": scopes}))
            .send()
            .await?
            .json()
            .await?;
        Ok((
            token,
            created["data"]["key"].as_str().context("key")?.to_owned(),
        ))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) of a process so far, from /proc/PID/stat.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after the name.
    let clk = 100; // USER_HZ on Linux
    Duration::from_millis((ticks(11) + ticks(12)) * 1000 / clk)
}

/// Latency summary.
pub struct Summary {
    /// Requests completed.
    pub count: usize,
    /// Requests per second.
    pub rps: f64,
    /// Median, microseconds.
    pub p50_us: u64,
    /// 99th percentile, microseconds.
    pub p99_us: u64,
}

/// Summarizes latencies (µs) over a wall-clock window.
pub fn summarize(mut latencies: Vec<u64>, elapsed: Duration) -> Summary {
    latencies.sort_unstable();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    Summary {
        count: latencies.len(),
        rps: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_us: pick(0.50),
        p99_us: pick(0.99),
    }
}
