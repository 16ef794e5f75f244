//! Layered configuration: defaults that run the embedded stack, then an optional TOML file
//! named by `CRM_CONFIG`, then `CRM_`-prefixed environment variables (`__` separates nested
//! keys). `DATABASE_URL` and `REDIS_URL` keep their usual, unprefixed names.

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Serialize, de::DeserializeOwned};

/// Loads `T` from its defaults, the optional file and the environment.
pub fn load<T: Serialize + DeserializeOwned + Default>() -> Result<T, Box<figment::Error>> {
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Ok(path) = std::env::var("CRM_CONFIG") {
        figment = figment.merge(Toml::file_exact(path));
    }
    figment
        .merge(Env::prefixed("CRM_").split("__"))
        .merge(
            Env::raw()
                .only(&["DATABASE_URL", "REDIS_URL"])
                .map(|k| k.as_str().to_ascii_lowercase().into()),
        )
        .extract()
        .map_err(Box::new)
}

/// Reads an environment variable, treating an empty value as unset.
pub fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
