//! What the fuzz targets share.

use gemini_webhooks::Verifier;

/// The secret of the second Standard Webhooks test vector.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One HMAC secret and one Ed25519 key: both verification paths are live.
pub fn verifier() -> Verifier {
    Verifier::builder()
        .secret(SECRET)
        .and_then(|b| b.public_key("whpk_O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik="))
        .and_then(|b| b.build())
        .expect("fuzz verifier")
}
