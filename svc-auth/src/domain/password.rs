//! Passwords: what a new one must be, and argon2id hashing on a bounded pool. argon2 takes
//! ~19 MiB and tens of milliseconds of a core per hash, so a flood of logins run all at once
//! would exhaust memory and starve every other request; instead at most one hash per core
//! runs, a bounded queue waits, and beyond it callers are told to retry.

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use crm_platform::error::ApiError;
use std::sync::{
    OnceLock,
    atomic::{AtomicUsize, Ordering},
};
use tokio::sync::Semaphore;
use tonic::Status;

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 10;
/// Longest password accepted (argon2 takes any length; this bounds the work per request).
pub const MAX_LENGTH: usize = 256;
/// Hashes waiting for a core beyond which callers are refused at once.
const MAX_WAITING: usize = 64;

/// Checks a new password: 10 to 256 characters, and not the email.
pub fn check_new(password: &str, email: &str, field: &str) -> Result<(), ApiError> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(ApiError::invalid_field(
            field,
            format!("must be at least {MIN_LENGTH} characters"),
        ));
    }
    if length > MAX_LENGTH {
        return Err(ApiError::invalid_field(
            field,
            format!("must be at most {MAX_LENGTH} characters"),
        ));
    }
    let email = email.trim().to_lowercase();
    let lowered = password.trim().to_lowercase();
    if !email.is_empty() && (lowered == email || Some(lowered.as_str()) == email.split('@').next())
    {
        return Err(ApiError::invalid_field(field, "must not be your email"));
    }
    Ok(())
}

/// A bounded pool of cores for password work: `cores` hashes at once, at most
/// `max_waiting` queued, the rest refused.
struct Pool {
    cores: Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl Pool {
    fn new(cores: usize, max_waiting: usize) -> Self {
        Self {
            cores: Semaphore::new(cores),
            waiting: AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// Runs `work` on a blocking thread once a core of the pool is free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Status> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::new(
                tonic::Code::ResourceExhausted,
                "BUSY",
                "too many sign-ins at once; retry in a second",
            )
            .into());
        }
        let permit = self.cores.acquire().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let _permit = permit.map_err(|e| crm_platform::error::internal("password pool", e))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| crm_platform::error::internal("password task", e))
    }
}

/// The process-wide pool: it bounds this process's cores and memory, which are per process
/// whatever the number of services in it.
fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        Pool::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
            MAX_WAITING,
        )
    })
}

async fn on_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Status> {
    pool().run(work).await
}

/// Hashes a password with argon2id.
pub async fn hash(password: String) -> Result<String, Status> {
    on_pool(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| crm_platform::error::internal("hash password", e))
    })
    .await?
}

/// Whether `password` matches `hash` (false for a hash that does not parse).
pub async fn verify(password: String, hash: String) -> Result<bool, Status> {
    on_pool(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
}

/// A hash that matches no password, verified when the email is unknown so that an unknown
/// email and a wrong password take the same time.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_verifies_only_the_password() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(verify("correct horse".into(), h.clone()).await.unwrap());
        assert!(!verify("wrong".into(), h).await.unwrap());
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify("anything".into(), DUMMY_HASH.into()).await.unwrap());
    }

    #[test]
    fn new_passwords_are_long_enough_and_not_the_email() {
        assert!(check_new("short", "a@b.test", "password").is_err());
        assert!(check_new("ann@acme.test", "ann@acme.test", "password").is_err());
        assert!(check_new("ANN@ACME.TEST", "ann@acme.test", "password").is_err());
        assert!(check_new("annsmith01", "annsmith01@acme.test", "password").is_err());
        assert!(check_new("correct horse battery", "ann@acme.test", "password").is_ok());
        assert!(check_new(&"x".repeat(300), "a@b.test", "password").is_err());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_flood_of_hashes_is_bounded() {
        // More concurrent verifications than the queue holds: some are refused with
        // RESOURCE_EXHAUSTED, none fails otherwise, and the rest complete.
        let pool = std::sync::Arc::new(Pool::new(1, 4));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    pool.run(|| {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        false
                    })
                    .await
                })
            })
            .collect();
        let mut refused = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(matched) => assert!(!matched),
                Err(s) => {
                    assert_eq!(s.code(), tonic::Code::ResourceExhausted);
                    refused += 1;
                }
            }
        }
        assert!(refused > 0, "the queue never filled");
    }
}
