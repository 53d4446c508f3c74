//! The JWT form of dynamic webhooks against a static JWKS (RS256, ES256,
//! EdDSA and every attack on them), and lenient JWKS parsing.

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
    let set: jsonwebtoken::jwk::JwkSet =
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
        serde_json::from_str(include_str!("fixtures/jwks_rsa_ec.json")).unwrap();
    document["keys"]
        .as_array_mut()
        .unwrap()
        .push(ed25519.jwk(Some("ed-1")));
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(document).unwrap();
    let verifier = Verifier::builder()
        .jwks(&set)
        .secret(&generate_secret())
        .unwrap()
        .jwt_audience(AUDIENCE)
        .build()
        .unwrap();
    JwtFixture { verifier, ed25519 }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims() -> serde_json::Value {
    json!({"aud": AUDIENCE, "iat": now(), "exp": now() + 300, "iss": "https://accounts.google.com"})
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
            EncodingKey::from_rsa_pem(include_bytes!("fixtures/rsa_private.pem")).unwrap()
        }
        Algorithm::ES256 => {
            EncodingKey::from_ec_pem(include_bytes!("fixtures/ec_private.pem")).unwrap()
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
                    "nbf" => "not yet valid",
                    "iat" => "issued in the future",
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
    let public_pem = include_str!("fixtures/jwks_rsa_ec.json");
    let mut header = jsonwebtoken::Header::new(HS256);
    header.kid = Some("rsa-1".into());
    let hs256 = jsonwebtoken::encode(
        &header,
        &claims(),
        &jsonwebtoken::EncodingKey::from_secret(public_pem.as_bytes()),
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
        &jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!("fixtures/rsa_private.pem"))
            .unwrap(),
    )
    .unwrap();
    reject(&no_kid, "nokid");

    let mut bound = claims();
    bound["body_sha256"] = "00".repeat(32).into();
    reject(&sign(EdDSA, "ed-1", &bound, &f), "body");
}

#[test]
fn a_body_hash_claim_binds_the_token_to_the_body() {
    use sha2::Digest;
    let f = jwt_fixture();
    let mut bound = claims();
    bound["body_sha256"] = hex(&sha2::Sha256::digest(BODY)).into();
    let headers = with_token(&sign(jsonwebtoken::Algorithm::RS256, "rsa-1", &bound, &f));
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
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(include_str!("fixtures/jwks_rsa_ec.json")).unwrap();
    let verifier = Verifier::builder().jwks(&set).build().unwrap();
    let err = verifier.verify(&with_token(&token), BODY).unwrap_err();
    assert_eq!(err.status(), 400);
}
