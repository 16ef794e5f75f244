//! `/docs`: an API reference page that renders `/openapi.json` with Swagger UI. Every file is
//! embedded in the binary (no CDN) and served with a Content-Security-Policy that allows
//! this origin only.

use axum::response::{IntoResponse, Response};
use http::{
    HeaderValue, StatusCode,
    header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS},
};

/// Scripts, styles, fetches and images from this origin only (Swagger UI's icons are `data:`
/// SVGs in its stylesheet); no frames, forms or plugins.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const PAGE: &[u8] = include_bytes!("../../assets/docs.html");

const ASSETS: &[Asset] = &[
    Asset {
        name: "swagger-ui-bundle.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    },
    Asset {
        name: "swagger-ui.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
    },
    Asset {
        name: "docs.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../assets/docs.js"),
    },
    Asset {
        name: "docs.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../assets/docs.css"),
    },
    Asset {
        name: "LICENSE",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("../../assets/swagger-ui/LICENSE"),
    },
    Asset {
        name: "NOTICE",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("../../assets/swagger-ui/NOTICE"),
    },
    Asset {
        name: "swagger-ui-bundle.js.LICENSE.txt",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js.LICENSE.txt"),
    },
];

/// The page.
pub fn page() -> Response {
    respond(PAGE, "text/html; charset=utf-8", "no-cache")
}

/// An asset by file name; `None` when there is no such file.
pub fn asset(name: &str) -> Option<Response> {
    let asset = ASSETS.iter().find(|a| a.name == name)?;
    // Assets change only with the binary; an hour keeps reloads cheap and upgrades quick.
    Some(respond(
        asset.body,
        asset.content_type,
        "public, max-age=3600",
    ))
}

fn respond(body: &'static [u8], content_type: &'static str, cache: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_embedded_files() {
        let page = std::str::from_utf8(PAGE).unwrap();
        for src in page.split("\"/docs/assets/").skip(1) {
            let name = src.split('"').next().unwrap();
            assert!(asset(name).is_some(), "{name} is not embedded");
        }
        assert!(!page.contains("http://") && !page.contains("https://"));
        assert!(
            !page.contains("<script>"),
            "no inline scripts: the CSP forbids them"
        );
        assert!(asset("../Cargo.toml").is_none());
        let r = asset("swagger-ui.css").unwrap();
        assert_eq!(r.headers()[CONTENT_TYPE], "text/css; charset=utf-8");
        assert!(
            r.headers()[CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("script-src 'self'")
        );
    }
}
