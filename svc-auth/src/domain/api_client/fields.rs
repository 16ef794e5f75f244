//! A client's fields as sent, checked and normalized: URLs that name a host, the contact
//! email, name, status and tier, the redirect URIs.

use crate::domain::key_policy;
use crm_platform::error::ApiError;

const STATUSES: [&str; 3] = ["active", "suspended", "inactive"];
const MAX_TEXT: usize = 2048;

pub(super) fn url(value: &str, field: &str) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(String::new());
    }
    if !(v.starts_with("https://") || v.starts_with("http://"))
        || v.len() > MAX_TEXT
        || v.contains(char::is_whitespace)
        || !has_host(v)
    {
        return Err(ApiError::invalid_field(
            field,
            "must be an http(s) URL, e.g. https://example.com/callback",
        ));
    }
    Ok(v.to_owned())
}

/// Whether an http(s) URL names a host: a name without brackets, or a bracketed IPv6
/// address (`http://[` is no URL; a receiver, or a client parsing the answer, would choke).
fn has_host(url: &str) -> bool {
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']').is_some_and(|(ip, port)| {
            ip.parse::<std::net::Ipv6Addr>().is_ok() && (port.is_empty() || port.starts_with(':'))
        }),
        None => {
            let host = host_port.split(':').next().unwrap_or("");
            !host.is_empty() && !host_port.contains(['[', ']'])
        }
    }
}

pub(super) fn email(value: &str) -> Result<String, ApiError> {
    let v = value.trim().to_ascii_lowercase();
    let ok = v
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && v.len() <= 255;
    if !ok {
        return Err(ApiError::invalid_field(
            "contactEmail",
            "must be an email address, e.g. tech@example.com",
        ));
    }
    Ok(v)
}

pub(super) fn name(value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > 255 {
        return Err(ApiError::invalid_field(
            "name",
            "is required, at most 255 characters",
        ));
    }
    Ok(v.to_owned())
}

pub(super) fn status(value: &str) -> Result<String, ApiError> {
    let v = value.trim().to_ascii_lowercase();
    STATUSES.contains(&v.as_str()).then_some(v).ok_or_else(|| {
        ApiError::invalid_field("status", "must be one of active, suspended, inactive")
    })
}

pub(super) fn tier(value: &str) -> Result<String, ApiError> {
    let tier = key_policy::tier(value).map_err(|_| {
        ApiError::invalid_field(
            "rateLimitTier",
            "must be one of basic, standard, premium, enterprise",
        )
    })?;
    Ok(tier.unwrap_or_else(|| "basic".into()))
}

/// Every redirect URI, newline-separated for storage.
pub(super) fn redirect_uris(values: &[String]) -> Result<String, ApiError> {
    let uris = values
        .iter()
        .enumerate()
        .map(|(i, u)| url(u, &format!("redirectUris[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(uris
        .into_iter()
        .filter(|u| !u.is_empty())
        .collect::<Vec<_>>()
        .join("\n"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_name_a_host() {
        for ok in [
            "https://example.com/callback",
            "http://localhost:8080",
            "https://[2001:db8::1]:443/hook",
            "https://user@example.com/x?a=[1]",
        ] {
            assert!(super::url(ok, "u").is_ok(), "{ok}");
        }
        for bad in [
            "http://[",
            "https://",
            "http:///path",
            "http://[::1/x",
            "http://a]b",
        ] {
            assert!(super::url(bad, "u").is_err(), "{bad}");
        }
    }
}
