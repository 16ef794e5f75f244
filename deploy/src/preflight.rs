//! Start-up checks of the stack's settings and resources, made before any service starts, so
//! that a failure names the setting at fault and what to do instead of surfacing as "a service
//! stopped". Services validate their own `Config` again; these checks only move the message
//! to where the operator reads it.

use crate::StackConfig;
use anyhow::anyhow;
use crm_platform::{Secret, db::is_postgres};
use std::time::Duration;

/// How long the database may take to answer the start-up probe.
const DATABASE_PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long Redis may take to answer the start-up probe.
const REDIS_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Settings that can be judged without I/O: secrets, URL shapes, the external issuer, proxies.
pub fn check_settings(config: &StackConfig) -> anyhow::Result<()> {
    for (secret, env, file, purpose) in [
        (
            &config.jwt_secret,
            "CRM_JWT_SECRET",
            "jwt.secret",
            "it signs user tokens",
        ),
        (
            &config.service_secret,
            "CRM_SERVICE_SECRET",
            "service.secret",
            "it signs calls between services",
        ),
        (
            &config.data_key,
            "CRM_DATA_KEY",
            "data.key",
            "it encrypts stored secrets",
        ),
    ] {
        check_secret(secret, env, &config.data_dir.join(file), purpose)?;
    }
    if let Some(url) = &config.database_url
        && !is_postgres(url)
        && !url.starts_with("sqlite:")
    {
        return Err(anyhow!(
            "DATABASE_URL is '{}': it must be a Postgres URL (postgres://user:password@host:5432/database); unset it to keep SQLite files in CRM_DATA_DIR",
            redact(url)
        ));
    }
    if let Some(url) = &config.redis_url {
        redis::Client::open(url.as_str()).map_err(|e| {
            anyhow!(
                "REDIS_URL is '{}', which is not a Redis URL ({e}): use redis://host:6379/0 (rediss:// for TLS), or unset it to cache in-process",
                redact(url)
            )
        })?;
    }
    config
        .gateway
        .external_jwt
        .check()
        .map_err(anyhow::Error::msg)?;
    if config.gateway_addr.trim().is_empty() {
        return Err(anyhow!(
            "CRM_LISTEN is empty: set it to the gateway's address, e.g. 127.0.0.1:8080"
        ));
    }
    Ok(())
}

fn check_secret(
    secret: &Secret,
    env: &str,
    generated: &std::path::Path,
    purpose: &str,
) -> anyhow::Result<()> {
    let len = secret.expose().chars().count();
    if len >= 32 {
        return Ok(());
    }
    Err(anyhow!(
        "{env} has {len} character(s); it needs at least 32 because {purpose}. Set it to a random value (e.g. `openssl rand -hex 32`), or unset it to have one generated into {}",
        generated.display()
    ))
}

/// Connects to the database once (creating svc-auth's schema or SQLite file, as svc-auth
/// would a moment later) and turns a failure into what to check.
pub async fn check_database(config: &StackConfig) -> anyhow::Result<()> {
    let url =
        crm_platform::db::service_url(config.database_url.as_deref(), &config.data_dir, "auth");
    let probe = tokio::time::timeout(
        DATABASE_PROBE_TIMEOUT,
        crm_platform::db::connect(&url, "auth"),
    )
    .await;
    let error = match probe {
        Ok(Ok(db)) => {
            db.close().await.ok();
            return Ok(());
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s", DATABASE_PROBE_TIMEOUT.as_secs()),
    };
    Err(match &config.database_url {
        Some(url) => anyhow!(
            "DATABASE_URL: cannot use the Postgres database at {} ({error}). Check that Postgres is running and reachable from here, and that the URL's host, port, user, password and database are right (postgres://user:password@host:5432/database); or unset DATABASE_URL to keep SQLite files in CRM_DATA_DIR",
            redact(url)
        ),
        None => anyhow!(
            "CRM_DATA_DIR: cannot open a SQLite database in {} ({error}). Make the directory writable by this user, or set CRM_DATA_DIR to one that is",
            config.data_dir.display()
        ),
    })
}

/// Redis is an accelerator, never a dependency (the gateway serves and limits without it), so
/// an unreachable Redis is a warning, not a failure; the warning says what it costs.
pub async fn warn_if_redis_unreachable(config: &StackConfig) {
    let Some(url) = &config.redis_url else {
        return;
    };
    let Ok(client) = redis::Client::open(url.as_str()) else {
        return;
    };
    let ping = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    let reason = match tokio::time::timeout(REDIS_PROBE_TIMEOUT, ping).await {
        Ok(Ok(_)) => return,
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s", REDIS_PROBE_TIMEOUT.as_secs()),
    };
    tracing::warn!(
        redis = %redact(url),
        %reason,
        "REDIS_URL: Redis is not reachable; starting without it (rate limits per process, key cache in-process, invalidations only within this process) until it answers. Start Redis, fix REDIS_URL, or unset it"
    );
}

/// Why the gateway cannot listen on `addr`, and what to do.
pub fn explain_bind(addr: &str, error: &std::io::Error) -> anyhow::Error {
    use std::io::ErrorKind;
    let what = match error.kind() {
        ErrorKind::AddrInUse => format!(
            "another process already listens on {addr}; stop it (e.g. find it with `ss -ltnp` or `lsof -i`) or set CRM_LISTEN to a free address such as 127.0.0.1:8081"
        ),
        ErrorKind::PermissionDenied => format!(
            "this user may not listen on {addr} (ports below 1024 need privileges); set CRM_LISTEN to a port above 1024, e.g. 127.0.0.1:8080"
        ),
        ErrorKind::AddrNotAvailable => format!(
            "{addr} is not an address of this machine; set CRM_LISTEN to one of its addresses, e.g. 127.0.0.1:8080 or 0.0.0.0:8080"
        ),
        _ => "set CRM_LISTEN to host:port, e.g. 127.0.0.1:8080".to_owned(),
    };
    anyhow!("CRM_LISTEN is '{addr}': cannot listen there ({error}): {what}")
}

/// `url` with any password replaced by `***`, fit for messages and logs.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _password)) => {
            format!("{}{user}:***{}", &url[..scheme_end], &rest[at..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://crm:hunter2@db:5432/crm"),
            "postgres://crm:***@db:5432/crm"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1:1/x"),
            "postgres://postgres@127.0.0.1:1/x"
        );
        assert_eq!(redact("redis://:pw@h:6379/0"), "redis://:***@h:6379/0");
        assert_eq!(redact("sqlite://data/a.db"), "sqlite://data/a.db");
    }
}
