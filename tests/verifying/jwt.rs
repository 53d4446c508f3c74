//! The JWT form of dynamic webhooks against a static JWKS (RS256, ES256,
//! EdDSA and every attack on them), and lenient JWKS parsing.

#![cfg(feature = "jwt")]

use std::time::{SystemTime, UNIX_EPOCH};

use gemini_webhooks::keys::jwks::{JwksError, JwksKeys};
use gemini_webhooks::testing::{Ed25519KeyPair, Signer, generate_ed25519_key, generate_secret};
use gemini_webhooks::{VerifiedBy, Verifier, VerifyError};
use http::HeaderMap;
use serde_json::json;

const BODY: &[u8] =
    br#"{"type":"interaction.completed","timestamp":"2026-11-26T00:00:00Z","data":{"id":"i/1"}}"#;

fn signed_by(key: &Ed25519KeyPair) -> HeaderMap {
    Signer::ed25519(&key.private_key).unwrap().sign(BODY)
}

#[test]
fn one_bad_jwk_among_good_ones_is_skipped() {
    let good = generate_ed25519_key();
    let document = json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "x": "not-a-key", "kid": "broken"},
        {"kty": "oct", "k": "c2VjcmV0", "kid": "symmetric"},
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA", "kid": "p384"},
        {"kty": "RSA", "kid": "rsa-wrong-alg", "alg": "ES256", "n": "AQAB", "e": "AQAB"},
        {"kty": "mystery", "kid": "future"},
        good.jwk(Some("good")),
    ]});
    let keys = JwksKeys::from_json(document.to_string().as_bytes()).unwrap();
    assert_eq!(keys.len(), 1);
    let set: gemini_webhooks::keys::jwks::JwkSet =
        serde_json::from_value(json!({"keys": [good.jwk(None)]})).unwrap();
    let verifier = Verifier::builder().jwks(&set).build().unwrap();
    let delivery = verifier.verify(&signed_by(&good), BODY).unwrap();
    assert_eq!(*delivery.verified_by(), VerifiedBy::JwksKey { kid: None });
    assert!(matches!(
        JwksKeys::from_json(b"[1,2]"),
        Err(JwksError::NotAJwks)
    ));
}

// ---- The JWT form, against a static set --------------------------------

const AUDIENCE: &str = "https://receiver.example/webhooks/gemini";

struct JwtFixture {
    verifier: Verifier,
    ed25519: Ed25519KeyPair,
}

fn jwt_fixture() -> JwtFixture {
    let ed25519 = generate_ed25519_key();
    let mut document: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/jwks_rsa_ec.json")).unwrap();
    document["keys"]
        .as_array_mut()
        .unwrap()
        .push(ed25519.jwk(Some("ed-1")));
    let set: gemini_webhooks::keys::jwks::JwkSet = serde_json::from_value(document).unwrap();
    let verifier = Verifier::builder()
        .jwks(&set)
        .secret(&generate_secret())
        .unwrap()
        .jwt_audience(AUDIENCE)
        .build()
        .unwrap();
    JwtFixture { verifier, ed25519 }
}

/// A builder with the RSA/EC fixture set and JWTs on for [`AUDIENCE`].
fn jwt_builder() -> gemini_webhooks::VerifierBuilder {
    let set: gemini_webhooks::keys::jwks::JwkSet =
        serde_json::from_str(include_str!("../fixtures/jwks_rsa_ec.json")).unwrap();
    Verifier::builder().jwks(&set).jwt_audience(AUDIENCE)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims a genuine token carries: audience, issuer, times, and the body's hash.
fn claims() -> serde_json::Value {
    use sha2::Digest;
    json!({
        "aud": AUDIENCE,
        "iat": now(),
        "exp": now() + 300,
        "iss": "https://accounts.google.com",
        "body_sha256": hex(&sha2::Sha256::digest(BODY)),
    })
}

fn ed25519_encoding_key(pair: &Ed25519KeyPair) -> jsonwebtoken::EncodingKey {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&pair.private_key["whsk_".len()..])
        .unwrap();
    // PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410).
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&raw[..32]);
    jsonwebtoken::EncodingKey::from_ed_der(&der)
}

fn sign(
    alg: jsonwebtoken::Algorithm,
    kid: &str,
    claims: &serde_json::Value,
    fixture: &JwtFixture,
) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let key = match alg {
        Algorithm::RS256 => {
            EncodingKey::from_rsa_pem(include_bytes!("../fixtures/rsa_private.pem")).unwrap()
        }
        Algorithm::ES256 => {
            EncodingKey::from_ec_pem(include_bytes!("../fixtures/ec_private.pem")).unwrap()
        }
        Algorithm::EdDSA => ed25519_encoding_key(&fixture.ed25519),
        _ => unreachable!(),
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn with_token(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("webhook-id", "msg_jwt".parse().unwrap());
    headers.insert("webhook-timestamp", now().to_string().parse().unwrap());
    headers.insert("webhook-signature", token.parse().unwrap());
    headers
}

fn b64(value: &serde_json::Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[test]
fn jwts_signed_with_rs256_es256_and_eddsa_verify() {
    use jsonwebtoken::Algorithm::*;
    let f = jwt_fixture();
    for (alg, kid) in [(RS256, "rsa-1"), (ES256, "ec-1"), (EdDSA, "ed-1")] {
        let token = sign(alg, kid, &claims(), &f);
        let delivery = f.verifier.verify(&with_token(&token), BODY).unwrap();
        assert_eq!(*delivery.verified_by(), VerifiedBy::Jwt { kid: kid.into() });
    }
}

#[test]
fn jwt_attacks_are_rejected() {
    use jsonwebtoken::Algorithm::*;
    let f = jwt_fixture();
    let reject = |token: &str, reason: &str| {
        let Err(err) = f.verifier.verify(&with_token(token), BODY) else {
            panic!("accepted a token that should fail with `{reason}`")
        };
        assert_eq!(
            err,
            VerifyError::InvalidToken {
                reason: match reason {
                    "header" => "malformed or unsupported token header",
                    "alg" => "algorithm not allowed",
                    "mismatch" => "algorithm does not match its key",
                    "aud" => "wrong audience",
                    "exp" => "expired",
                    "noexp" => "no expiry (`exp`)",
                    "noiat" => "no issue time (`iat`)",
                    "old" => "issued too long ago",
                    "lifetime" => "lifetime longer than allowed",
                    "nbf" => "not yet valid",
                    "iat" => "issued in the future",
                    "timetype" => "a time claim is not a whole number",
                    "nohash" => "no body hash claim",
                    "sig" => "signature does not verify",
                    "kid" => "unknown key id",
                    "nokid" => "no key id (`kid`)",
                    _ => "body hash does not match",
                }
            },
            "{reason}"
        );
        assert_eq!(err.status(), 401);
    };

    // alg: none, with and without a signature part.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": "rsa-1"})),
        b64(&claims())
    );
    reject(&none, "header");
    // HS256 "signed" with the RSA public key as the shared secret.
    let public_pem = include_str!("../fixtures/jwks_rsa_ec.json");
    let mut header = jsonwebtoken::Header::new(HS256);
    header.kid = Some("rsa-1".into());
    let hs256 = jsonwebtoken::encode(
        &header,
        &claims(),
        &jsonwebtoken::EncodingKey::from_secret(public_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    reject(&hs256, "alg");
    // A header that names another algorithm than its key.
    reject(&sign(ES256, "rsa-1", &claims(), &f), "mismatch");
    reject(&sign(RS256, "ec-1", &claims(), &f), "mismatch");

    let mut wrong_aud = claims();
    wrong_aud["aud"] = "https://attacker.example".into();
    reject(&sign(RS256, "rsa-1", &wrong_aud, &f), "aud");
    let mut no_aud = claims();
    no_aud.as_object_mut().unwrap().remove("aud");
    reject(&sign(RS256, "rsa-1", &no_aud, &f), "aud");
    let mut expired = claims();
    expired["exp"] = (now() - 301).into();
    reject(&sign(RS256, "rsa-1", &expired, &f), "exp");
    let mut no_exp = claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    reject(&sign(RS256, "rsa-1", &no_exp, &f), "noexp");
    let mut no_iat = claims();
    no_iat.as_object_mut().unwrap().remove("iat");
    reject(&sign(RS256, "rsa-1", &no_iat, &f), "noiat");
    // A ten-year token issued an hour ago: the old bearer pass.
    let mut old = claims();
    old["iat"] = (now() - 3600).into();
    old["exp"] = (now() + 315_360_000).into();
    reject(&sign(RS256, "rsa-1", &old, &f), "old");
    let mut long = claims();
    long["exp"] = (now() + 15 * 60 + 1).into();
    reject(&sign(RS256, "rsa-1", &long, &f), "lifetime");
    let mut fractional = claims();
    fractional["iat"] = (now() as f64 + 0.5).into();
    reject(&sign(RS256, "rsa-1", &fractional, &f), "timetype");
    let mut unbound = claims();
    unbound.as_object_mut().unwrap().remove("body_sha256");
    reject(&sign(RS256, "rsa-1", &unbound, &f), "nohash");
    let mut early = claims();
    early["nbf"] = (now() + 600).into();
    reject(&sign(RS256, "rsa-1", &early, &f), "nbf");
    let mut future = claims();
    future["iat"] = (now() + 600).into();
    reject(&sign(RS256, "rsa-1", &future, &f), "iat");

    let token = sign(RS256, "rsa-1", &claims(), &f);
    let (head, rest) = token.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let mut tampered_claims = claims();
    tampered_claims["aud"] = AUDIENCE.into();
    tampered_claims["extra"] = "x".into();
    reject(
        &format!("{head}.{}.{signature}", b64(&tampered_claims)),
        "sig",
    );

    reject(&sign(RS256, "rsa-9", &claims(), &f), "kid");
    let mut header = jsonwebtoken::Header::new(RS256);
    header.kid = None;
    let no_kid = jsonwebtoken::encode(
        &header,
        &claims(),
        &jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!("../fixtures/rsa_private.pem"))
            .unwrap(),
    )
    .unwrap();
    reject(&no_kid, "nokid");

    let mut bound = claims();
    bound["body_sha256"] = "00".repeat(32).into();
    reject(&sign(EdDSA, "ed-1", &bound, &f), "body");
}

#[test]
fn the_time_window_is_inclusive_at_its_edges() {
    use jsonwebtoken::Algorithm::RS256;
    let f = jwt_fixture();
    let at = |iat: i64, exp: i64, nbf: Option<i64>| {
        let mut c = claims();
        c["iat"] = iat.into();
        c["exp"] = exp.into();
        if let Some(nbf) = nbf {
            c["nbf"] = nbf.into();
        }
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let mut headers = with_token(&sign(RS256, "rsa-1", &c, &f));
        headers.insert("webhook-timestamp", "1800000000".parse().unwrap());
        f.verifier.verify_at(&headers, BODY, now)
    };
    let t = 1_800_000_000;
    // Tolerance 300 s both ways; lifetime up to 900 s.
    assert!(at(t - 300, t + 600, None).is_ok());
    assert!(at(t - 301, t + 599, None).is_err());
    assert!(at(t + 300, t + 1200, None).is_ok());
    assert!(at(t + 301, t + 1201, None).is_err());
    assert!(at(t - 300, t - 300, None).is_ok());
    assert!(at(t - 300, t - 301, None).is_err());
    assert!(at(t, t + 900, None).is_ok());
    assert!(at(t, t + 901, None).is_err());
    assert!(at(t, t + 60, Some(t + 300)).is_ok());
    assert!(at(t, t + 60, Some(t + 301)).is_err());
    let delivery = at(t - 10, t + 60, None).unwrap();
    assert_eq!(
        delivery.unix_timestamp(),
        (t - 10) as u64,
        "timestamp is iat"
    );
}

#[test]
fn the_maximum_lifetime_is_configurable() {
    use jsonwebtoken::Algorithm::RS256;
    let f = jwt_fixture();
    let verifier = jwt_builder()
        .jwt_max_lifetime(std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    let mut c = claims();
    c["exp"] = (now() + 60).into();
    assert!(
        verifier
            .verify(&with_token(&sign(RS256, "rsa-1", &c, &f)), BODY)
            .is_ok()
    );
    c["exp"] = (now() + 61).into();
    assert_eq!(
        verifier
            .verify(&with_token(&sign(RS256, "rsa-1", &c, &f)), BODY)
            .unwrap_err(),
        VerifyError::InvalidToken {
            reason: "lifetime longer than allowed"
        }
    );
}

#[test]
fn an_issuer_can_be_required() {
    use jsonwebtoken::Algorithm::RS256;
    let f = jwt_fixture();
    let verifier = jwt_builder()
        .jwt_issuer("https://accounts.google.com")
        .build()
        .unwrap();
    let genuine = sign(RS256, "rsa-1", &claims(), &f);
    assert!(verifier.verify(&with_token(&genuine), BODY).is_ok());
    let wrong_issuer = VerifyError::InvalidToken {
        reason: "wrong issuer",
    };
    let mut other = claims();
    other["iss"] = "https://attacker.example".into();
    let token = sign(RS256, "rsa-1", &other, &f);
    assert_eq!(
        verifier.verify(&with_token(&token), BODY).unwrap_err(),
        wrong_issuer
    );
    other.as_object_mut().unwrap().remove("iss");
    let token = sign(RS256, "rsa-1", &other, &f);
    assert_eq!(
        verifier.verify(&with_token(&token), BODY).unwrap_err(),
        wrong_issuer
    );
    // Without `jwt_issuer`, any issuer is accepted.
    assert!(f.verifier.verify(&with_token(&token), BODY).is_ok());
}

#[test]
fn verified_claims_and_a_token_derived_replay_key_reach_the_handler() {
    use jsonwebtoken::Algorithm::RS256;
    let f = jwt_fixture();
    let mut with_jti = claims();
    with_jti["jti"] = "delivery-42".into();
    let delivery = f
        .verifier
        .verify(&with_token(&sign(RS256, "rsa-1", &with_jti, &f)), BODY)
        .unwrap();
    assert_eq!(delivery.id(), "msg_jwt");
    assert_eq!(delivery.replay_key(), "jwt:delivery-42");
    let claims = delivery.jwt_claims().unwrap();
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["jti"], "delivery-42");

    let token = sign(RS256, "rsa-1", &self::claims(), &f);
    let delivery = f.verifier.verify(&with_token(&token), BODY).unwrap();
    use base64::Engine as _;
    use sha2::Digest;
    let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(token.as_bytes()));
    assert_eq!(delivery.replay_key(), format!("jwt:sha256:{digest}"));

    // A `jti` too long to be a key is hashed like a token without one.
    let mut long_jti = self::claims();
    long_jti["jti"] = "j".repeat(201).into();
    let token = sign(RS256, "rsa-1", &long_jti, &f);
    let key = f.verifier.verify(&with_token(&token), BODY).unwrap();
    assert!(
        key.replay_key().starts_with("jwt:sha256:"),
        "{}",
        key.replay_key()
    );

    // `v1` deliveries keep their id as the key, and carry no claims.
    let secret = generate_secret();
    let v1 = Verifier::builder()
        .secret(&secret)
        .unwrap()
        .build()
        .unwrap();
    let headers = Signer::hmac(&secret).unwrap().id("msg_v1").sign(BODY);
    let delivery = v1.verify(&headers, BODY).unwrap();
    assert_eq!(delivery.replay_key(), "msg_v1");
    assert!(delivery.jwt_claims().is_none());
}

#[tokio::test]
async fn one_token_runs_the_handler_once_whatever_ids_and_bodies_it_comes_with() {
    use jsonwebtoken::Algorithm::RS256;
    let f = jwt_fixture();
    let set: gemini_webhooks::keys::jwks::JwkSet =
        serde_json::from_str(include_str!("../fixtures/jwks_rsa_ec.json")).unwrap();
    // The riskiest setting: bodies not bound, so only the token ties copies.
    let verifier = Verifier::builder()
        .jwks(&set)
        .jwt_audience(AUDIENCE)
        .danger_accept_jwt_without_body_hash()
        .build()
        .unwrap();
    let receiver = gemini_webhooks::Receiver::new(verifier);
    let mut unbound = claims();
    unbound.as_object_mut().unwrap().remove("body_sha256");
    let token = sign(RS256, "rsa-1", &unbound, &f);
    let runs = std::sync::atomic::AtomicUsize::new(0);
    let mut answers = Vec::new();
    for (id, body) in [("msg_a", "{}"), ("msg_b", "{\"x\":1}"), ("msg_c", "[]")] {
        let mut headers = with_token(&token);
        headers.insert("webhook-id", id.parse().unwrap());
        let answer = receiver
            .receive(
                &headers,
                bytes::Bytes::from(body),
                |_| async {
                    runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    200u16
                },
                |s| *s == 200,
            )
            .await;
        answers.push(answer.map_err(|rejection| rejection.kind()));
    }
    assert_eq!(answers, vec![Ok(200), Err("duplicate"), Err("duplicate")]);
    assert_eq!(runs.into_inner(), 1);

    // By default the same unbound token is refused outright.
    assert_eq!(
        f.verifier.verify(&with_token(&token), BODY).unwrap_err(),
        VerifyError::InvalidToken {
            reason: "no body hash claim"
        }
    );
}

#[test]
fn jwt_settings_that_cannot_work_fail_at_build() {
    use gemini_webhooks::KeyError;
    let secret = generate_secret();
    let err = Verifier::builder()
        .secret(&secret)
        .unwrap()
        .jwt_audience(AUDIENCE)
        .build()
        .unwrap_err();
    assert!(matches!(err, KeyError::Jwt { .. }), "{err}");
    assert!(err.to_string().contains("needs a JWKS"), "{err}");
    for builder in [
        Verifier::builder().jwt_issuer("https://accounts.google.com"),
        Verifier::builder().jwt_max_lifetime(std::time::Duration::from_secs(60)),
        Verifier::builder().danger_accept_jwt_without_body_hash(),
    ] {
        let err = builder.secret(&secret).unwrap().build().unwrap_err();
        assert!(err.to_string().contains("without `jwt_audience`"), "{err}");
    }
}

#[test]
fn a_static_jwks_can_be_given_as_lenient_json() {
    use gemini_webhooks::KeyError;
    let good = generate_ed25519_key();
    let document = json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "x": "not-a-key", "kid": "broken"},
        {"kty": "mystery", "kid": "future"},
        {"kid": 7},
        good.jwk(Some("good")),
    ]});
    let verifier = Verifier::builder()
        .jwks_json(document.to_string().as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let delivery = verifier.verify(&signed_by(&good), BODY).unwrap();
    assert_eq!(
        *delivery.verified_by(),
        VerifiedBy::JwksKey {
            kid: Some("good".into())
        }
    );
    let not_a_set = Verifier::builder().jwks_json(b"[1, 2]").unwrap_err();
    assert_eq!(
        not_a_set,
        KeyError::Jwks {
            reason: "is not a JSON Web Key Set"
        }
    );
    let nothing_usable = Verifier::builder()
        .jwks_json(br#"{"keys": [{"kty": "mystery"}]}"#)
        .unwrap_err();
    assert_eq!(
        nothing_usable,
        KeyError::Jwks {
            reason: "holds no usable key"
        }
    );
}

#[test]
fn a_body_hash_claim_binds_the_token_to_the_body() {
    let f = jwt_fixture();
    let headers = with_token(&sign(
        jsonwebtoken::Algorithm::RS256,
        "rsa-1",
        &claims(),
        &f,
    ));
    assert!(f.verifier.verify(&headers, BODY).is_ok());
    assert_eq!(
        f.verifier.verify(&headers, &b"{}"[..]).unwrap_err(),
        VerifyError::InvalidToken {
            reason: "body hash does not match"
        }
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn without_an_audience_a_jwt_is_not_accepted() {
    let f = jwt_fixture();
    let token = sign(jsonwebtoken::Algorithm::RS256, "rsa-1", &claims(), &f);
    let set: gemini_webhooks::keys::jwks::JwkSet =
        serde_json::from_str(include_str!("../fixtures/jwks_rsa_ec.json")).unwrap();
    let verifier = Verifier::builder().jwks(&set).build().unwrap();
    let err = verifier.verify(&with_token(&token), BODY).unwrap_err();
    assert_eq!(err.status(), 400);
}

#[test]
fn jti_edges_and_body_hash_encodings() {
    use base64::Engine as _;
    use jsonwebtoken::Algorithm::RS256;
    use sha2::Digest;
    let f = jwt_fixture();
    let key_of = |claims: &serde_json::Value| {
        f.verifier
            .verify(&with_token(&sign(RS256, "rsa-1", claims, &f)), BODY)
            .map(|d| d.replay_key().to_owned())
    };
    let mut c = claims();
    c["jti"] = "j".repeat(200).into();
    assert_eq!(key_of(&c).unwrap(), format!("jwt:{}", "j".repeat(200)));
    c["jti"] = "".into();
    assert!(
        key_of(&c).unwrap().starts_with("jwt:sha256:"),
        "an empty jti is no key"
    );
    c["jti"] = 42.into();
    assert!(
        key_of(&c).unwrap().starts_with("jwt:sha256:"),
        "nor is a number"
    );

    let digest = sha2::Sha256::digest(BODY);
    let engines = [
        base64::engine::general_purpose::STANDARD.encode(digest),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest),
        base64::engine::general_purpose::URL_SAFE.encode(digest),
        hex(&digest).to_uppercase(),
    ];
    for (claim, encoded) in ["sha256", "payload_sha256", "body_sha256", "body_sha256"]
        .iter()
        .zip(engines)
    {
        let mut c = claims();
        c.as_object_mut().unwrap().remove("body_sha256");
        c[*claim] = encoded.clone().into();
        assert!(key_of(&c).is_ok(), "{claim} = {encoded}");
    }
    let mut short = claims();
    short["body_sha256"] = hex(&digest[..31]).into();
    assert_eq!(
        key_of(&short).unwrap_err(),
        VerifyError::InvalidToken {
            reason: "body hash is not a SHA-256"
        }
    );
}
