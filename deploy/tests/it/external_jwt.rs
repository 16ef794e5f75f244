//! Tokens of an external issuer (Supabase-style claims), by shared secret and by JWKS.

use crate::helpers::{Options, TestApp};
use crm_gateway::auth::jwt::ExternalIssuer;
use crm_platform::Secret;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const SHARED_SECRET: &str = "external-issuer-shared-secret-0123456789";

// A P-256 key made for this test only (PKCS#8 DER, hex), and its public half as a JWK.
const TEST_EC_KEY_DER: &str = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b02010104202ed10e3d3ef5094046f9d03db26701c7cd323e274a9d7f4871593feb0c901176a14403420004b37ff7089e9953aee70a90c64672efdf705b2558aefd47367195045d1645f9dfbeb0b6e14124eb2720e819d1e6a11cb15dcfce34fb1e8d39f866df26ad083a05";
const TEST_JWK_X: &str = "s3_3CJ6ZU67nCpDGRnLv33BbJViu_Uc2cZUEXRZF-d8";
const TEST_JWK_Y: &str = "vrC24UEk6ycg6BnR5qEcsV3PzjT7Ho05-GbfJq0IOgU";

async fn serve_jwks() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": TEST_JWK_X, "y": TEST_JWK_Y, "kid": "test-key", "alg": "ES256", "use": "sig"}]});
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || async move { axum::Json(jwks) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/jwks.json")
}

const ISSUER: &str = "https://project.supabase.test/auth/v1";

/// An external issuer's claims: its own subject, not our user id.
fn claims(sub: &str, email: &str) -> Value {
    claims_verified(sub, email, true)
}

fn claims_verified(sub: &str, email: &str, email_verified: bool) -> Value {
    json!({"iss": ISSUER, "sub": sub, "email": email, "email_verified": email_verified, "aud": "authenticated", "role": "authenticated", "exp": chrono::Utc::now().timestamp() + 600})
}

fn hs256(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SHARED_SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn external_tokens_by_secret_and_jwks_act_in_a_workspace_the_user_belongs_to() {
    let jwks_url = serve_jwks().await;
    let external = ExternalIssuer {
        secret: Secret::new(SHARED_SECRET),
        jwks_url,
        issuer: ISSUER.into(),
        audience: "authenticated".into(),
    };
    let app = TestApp::spawn_with(Options {
        external_jwt: Some(external),
        ..Options::default()
    })
    .await;
    let owner = app.owner("Acme").await;
    let stranger = app.owner("Elsewhere").await;

    let hs = hs256(&claims("ext-owner", &owner.email));
    let mut es_header = Header::new(Algorithm::ES256);
    es_header.kid = Some("test-key".into());
    let es = jsonwebtoken::encode(
        &es_header,
        &claims("ext-owner", &owner.email),
        &EncodingKey::from_ec_der(&hex::decode(TEST_EC_KEY_DER).unwrap()),
    )
    .unwrap();

    for token in [&hs, &es] {
        let (s, me) = app
            .send(
                app.get_as(token, "/api/auth/me")
                    .header("X-Workspace-ID", &owner.workspace_id),
            )
            .await;
        assert_eq!(s, 200, "{me}");
        assert_eq!(me["kind"], "user");
        assert_eq!(me["workspace_id"], owner.workspace_id.as_str());
        assert_eq!(me["subject"], owner.user_id.as_str());
        assert_eq!(me["role"], "owner");
    }
    // Once linked, the (issuer, subject) pair names the user, verified email or not.
    let linked = hs256(&claims_verified(
        "ext-owner",
        "changed@elsewhere.test",
        false,
    ));
    let (s, me) = app
        .send(
            app.get_as(&linked, "/api/auth/me")
                .header("X-Workspace-ID", &owner.workspace_id),
        )
        .await;
    assert_eq!(
        (s, me["subject"].as_str()),
        (200, Some(owner.user_id.as_str())),
        "{me}"
    );
    // An unverified email never links a new subject to an account.
    let unverified = hs256(&claims_verified("ext-someone", &stranger.email, false));
    let (s, b) = app
        .send(
            app.get_as(&unverified, "/api/auth/me")
                .header("X-Workspace-ID", &stranger.workspace_id),
        )
        .await;
    assert_eq!((s, b["code"].as_str()), (403, Some("NOT_A_MEMBER")), "{b}");
    // A token of another issuer is refused.
    let mut foreign = claims("ext-owner", &owner.email);
    foreign["iss"] = json!("https://other.example/auth");
    let (s, _) = app
        .send(
            app.get_as(&hs256(&foreign), "/api/auth/me")
                .header("X-Workspace-ID", &owner.workspace_id),
        )
        .await;
    assert_eq!(s, 401);
    let (s, b) = app.send(app.get_as(&hs, "/api/auth/me")).await;
    assert_eq!(s, 400);
    assert_eq!(b["details"]["field"], "X-Workspace-ID");
    let (s, b) = app
        .send(
            app.get_as(&es, "/api/auth/me")
                .header("X-Workspace-ID", &stranger.workspace_id),
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(b["code"], "NOT_A_MEMBER");
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("ext-owner", &owner.email),
        &EncodingKey::from_secret(b"not-the-issuer-secret-0123456789abcdef"),
    )
    .unwrap();
    let (s, _) = app
        .send(
            app.get_as(&forged, "/api/auth/me")
                .header("X-Workspace-ID", &owner.workspace_id),
        )
        .await;
    assert_eq!(s, 401);
    app.stack.stop().await;
}
