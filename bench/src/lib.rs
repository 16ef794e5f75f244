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
    /// Starts `target/<profile>/crm` next to the running benchmark binary on a fresh data dir,
    /// on SQLite and in-process caches.
    pub fn start(port: u16) -> anyhow::Result<Self> {
        Self::start_with(port, &[])
    }

    /// Like [`Server::start`], with extra environment (`CRM_...` settings, `REDIS_URL`).
    pub fn start_with(port: u16, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let bin = exe.parent().context("exe dir")?.join("crm");
        if !bin.exists() {
            bail!(
                "{} is missing: build it first (cargo build --release -p crm-stack)",
                bin.display()
            );
        }
        let data = std::env::temp_dir().join(format!("crm-bench-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let service_secret = "bench-service-secret-0123456789abcdef".to_owned();
        let mut command = Command::new(bin);
        command.env_remove("DATABASE_URL").env_remove("REDIS_URL");
        // Benches mint keys whose own limits are out of reach, and up to 1 000 keys for one
        // owner: both above the shipped ceilings, so raised here.
        command
            .env("CRM_KEY_LIMITS__MAX_PER_MINUTE", "10000000")
            .env("CRM_KEY_LIMITS__MAX_KEYS_PER_USER", "100000");
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .env("CRM_DATA_DIR", &data)
            .env("CRM_LISTEN", format!("127.0.0.1:{port}"))
            .env("CRM_SERVICE_SECRET", &service_secret)
            .env("CRM_JWT_SECRET", "bench-jwt-secret-0123456789abcdef0123")
            .env("RUST_LOG", "warn")
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

    /// Logs in and mints a key with `scopes` and a per-minute limit the load cannot reach,
    /// so a benchmark measures every limit check but never a refusal; returns (jwt, key).
    pub async fn key(&self, scopes: &[&str]) -> anyhow::Result<(String, String)> {
        let (token, mut keys) = self.keys(scopes, 1).await?;
        Ok((token, keys.pop().context("key")?))
    }

    /// Like [`Server::key`], `n` keys at one login; returns (jwt, keys).
    pub async fn keys(&self, scopes: &[&str], n: usize) -> anyhow::Result<(String, Vec<String>)> {
        let token = self.login().await?;
        let mut keys = Vec::with_capacity(n);
        for i in 0..n {
            let body = json!({"name": format!("bench {i}"), "scopes": scopes, "rate_limit_override": 10_000_000});
            keys.push(self.mint(&token, &body).await?);
        }
        Ok((token, keys))
    }

    /// Logs in and mints a key from a create-key body; returns (jwt, key).
    pub async fn key_with(&self, body: Value) -> anyhow::Result<(String, String)> {
        let token = self.login().await?;
        let key = self.mint(&token, &body).await?;
        Ok((token, key))
    }

    async fn login(&self) -> anyhow::Result<String> {
        let login: Value = reqwest::Client::new()
            .post(format!("{}/api/auth/login", self.base))
            .json(&json!({"email": self.email, "password": self.password}))
            .send()
            .await?
            .json()
            .await?;
        Ok(login["token"].as_str().context("token")?.to_owned())
    }

    async fn mint(&self, token: &str, body: &Value) -> anyhow::Result<String> {
        let created: Value = reqwest::Client::new()
            .post(format!("{}/api/api-keys", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await?
            .json()
            .await?;
        Ok(created["data"]["key"].as_str().context("key")?.to_owned())
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
    stat_cpu(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
}

/// CPU time so far of a process's threads whose name starts with `prefix` (e.g. SQLite's
/// connection threads, `sqlx-sqlite-worker`, named `sqlx-sqlite-wor` by the kernel's 15-byte
/// limit), from /proc/PID/task/*/stat.
pub fn threads_cpu_time(pid: u32, prefix: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|name| name.trim_end().starts_with(prefix))
        })
        .map(|t| stat_cpu(&std::fs::read_to_string(t.path().join("stat")).unwrap_or_default()))
        .sum()
}

/// utime + stime of a /proc `stat` line.
fn stat_cpu(stat: &str) -> Duration {
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

/// A counter from the gateway's `/metrics`.
pub async fn metric(base: &str, name: &str) -> anyhow::Result<u64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await?
        .text()
        .await?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .with_context(|| format!("{name} missing from /metrics"))
}

/// One measured load phase.
pub struct Run {
    /// Latencies and rate.
    pub summary: Summary,
    /// Server CPU time per request, µs.
    pub cpu_per_request_us: f64,
    /// Requests made during the warm-up second (not in `summary`).
    pub warmup_requests: usize,
}

/// Runs `call` from `concurrency` tasks for a 1 s warm-up, then `seconds` measured; reads the
/// server's CPU time from /proc before and after.
pub async fn measure<F, Fut>(pid: u32, concurrency: usize, seconds: u64, call: F) -> Run
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    use std::time::Instant;
    let warm_until = Instant::now() + Duration::from_secs(1);
    let mut warm = Vec::new();
    for _ in 0..concurrency {
        let call = call.clone();
        warm.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < warm_until {
                call().await;
                n += 1;
            }
            n
        }));
    }
    let mut warmup_requests = 0;
    for w in warm {
        warmup_requests += w.await.unwrap_or(0);
    }
    let cpu_before = cpu_time(pid);
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let t = Instant::now();
                assert!(call().await, "request failed");
                latencies.push(t.elapsed().as_micros() as u64);
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("load task"));
    }
    let elapsed = start.elapsed();
    let cpu = cpu_time(pid).saturating_sub(cpu_before);
    let summary = summarize(all, elapsed);
    let cpu_per_request_us = cpu.as_secs_f64() * 1e6 / summary.count.max(1) as f64;
    Run {
        summary,
        cpu_per_request_us,
        warmup_requests,
    }
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

/// Prints one run as a table row.
pub fn print(name: &str, r: &Run) {
    println!(
        "{name:<44} {:>9.0} req/s   p50 {:>6} µs   p99 {:>6} µs   server CPU {:>6.1} µs/req   ({} requests)",
        r.summary.rps, r.summary.p50_us, r.summary.p99_us, r.cpu_per_request_us, r.summary.count
    );
}

/// CPU time Redis at `url` (`redis://host:port`) has used so far, from `INFO cpu`; `None`
/// when it cannot be asked. Lets a benchmark count the Redis work its requests cause, which
/// runs on the same cores but outside the server process.
pub fn redis_cpu(url: &str) -> Option<Duration> {
    use std::io::{Read, Write};
    let address = url.strip_prefix("redis://")?.trim_end_matches('/');
    let address = address.rsplit_once('@').map_or(address, |(_, a)| a);
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(b"INFO cpu\r\n").ok()?;
    // A bulk string: `$<length>\r\n<text>\r\n`.
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        reply.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&reply);
        let (header, body) = text.split_once("\r\n")?;
        let length: usize = header.strip_prefix('$')?.parse().ok()?;
        if body.len() >= length {
            let seconds = |field: &str| {
                body.lines()
                    .find_map(|l| {
                        l.strip_prefix(field)?
                            .strip_prefix(':')?
                            .trim()
                            .parse()
                            .ok()
                    })
                    .unwrap_or(0.0f64)
            };
            return Some(Duration::from_secs_f64(
                seconds("used_cpu_sys") + seconds("used_cpu_user"),
            ));
        }
    }
}

/// CPU time of the Postgres backends connected to database `name`, by pid: a snapshot to
/// subtract from a later one with [`backends_spent`].
pub fn backends_cpu(name: &str) -> std::collections::HashMap<u32, Duration> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Default::default();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(name))
        })
        .map(|pid| (pid, cpu_time(pid)))
        .collect()
}

/// CPU the backends spent between two [`backends_cpu`] snapshots (backends that started in
/// between count from zero).
pub fn backends_spent(
    before: &std::collections::HashMap<u32, Duration>,
    after: &std::collections::HashMap<u32, Duration>,
) -> Duration {
    after
        .iter()
        .map(|(pid, t)| t.saturating_sub(before.get(pid).copied().unwrap_or_default()))
        .sum()
}

/// A fresh Postgres database named `<prefix>_<uuid>` on the server of `DATABASE_URL`
/// (default the local one): its URL and name. Queries run without parallel workers, so all
/// of a query's work is in the backend serving it, where [`backends_cpu`] reads it.
pub async fn fresh_database(prefix: &str) -> anyhow::Result<(String, String)> {
    use sea_orm::ConnectionTrait;
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = sea_orm::Database::connect(&base).await?;
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await?;
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{name}\" SET max_parallel_workers_per_gather = 0"
        ))
        .await?;
    admin.close().await?;
    let url = match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => bail!("DATABASE_URL '{base}' names no database"),
    };
    Ok((url, name))
}

/// The service secret the benches that start a service alone sign their calls with.
pub const SERVICE_SECRET: &str = "bench-service-secret-0123456789abcdef";

/// Starts the release `svc-metrics` binary beside this one on `port`, alone (no svc-auth:
/// every workspace on UTC with USD), with its own tables and svc-pipeline's in the database at
/// `url`, and nothing pruned while a bench runs.
pub fn start_svc_metrics(port: u16, url: &str) -> anyhow::Result<Child> {
    let exe = std::env::current_exe()?;
    let bin = exe.parent().context("exe dir")?.join("svc-metrics");
    if !bin.exists() {
        bail!(
            "{} is missing: build it first (cargo build --release -p svc-metrics)",
            bin.display()
        );
    }
    Ok(Command::new(bin)
        .env("CRM_LISTEN", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", url)
        .env("CRM_PIPELINE_DATABASE_URL", url)
        .env("CRM_SERVICE_SECRET", SERVICE_SECRET)
        .env("CRM_AUTH_URL", "")
        .env("CRM_REQUEST_LOG_RETENTION_DAYS", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?)
}
