//! Test support: every test gets databases and a Redis key prefix of its own, so tests run
//! in parallel against SQLite or against Postgres + Redis (`DATABASE_URL`, `REDIS_URL`).

use crate::config::env_nonempty;
use sea_orm::{ConnectionTrait, Database};
use std::path::PathBuf;

/// Storage handed to one test.
pub struct TestStorage {
    /// Base database URL: a fresh Postgres database, or `None` for SQLite files in `data_dir`.
    pub database_url: Option<String>,
    /// Directory for SQLite files.
    pub data_dir: PathBuf,
    /// Redis URL when the suite runs against Redis.
    pub redis_url: Option<String>,
    /// A key prefix no other test uses.
    pub redis_prefix: String,
}

impl TestStorage {
    /// Creates a fresh Postgres database when `DATABASE_URL` is set (else a temp directory
    /// for SQLite) and a unique Redis prefix.
    pub async fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let data_dir = std::env::temp_dir().join(format!("crm-test-{id}"));
        std::fs::create_dir_all(&data_dir).expect("create test data dir");
        let database_url = match env_nonempty("DATABASE_URL") {
            Some(base) => {
                let name = format!("crm_t_{id}");
                let admin = Database::connect(&base)
                    .await
                    .expect("connect to DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                Some(replace_db_name(&base, &name))
            }
            None => None,
        };
        Self {
            database_url,
            data_dir,
            redis_url: env_nonempty("REDIS_URL"),
            redis_prefix: format!("crmt:{id}:"),
        }
    }
}

/// `postgres://u@h:p/old?x` with the database name replaced.
fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..host_end], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_database_name() {
        assert_eq!(
            super::replace_db_name("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            super::replace_db_name("postgres://h", "t1"),
            "postgres://h/t1"
        );
        assert_eq!(
            super::replace_db_name("postgres://h/db?sslmode=disable", "t"),
            "postgres://h/t?sslmode=disable"
        );
    }
}
