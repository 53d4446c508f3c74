//! `keys new`: fresh `whsec_` secrets and `whsk_`/`whpk_` key pairs.

use clap::{Subcommand, ValueEnum};
use gemini_webhooks::testing::{generate_ed25519_key, generate_secret};
use serde_json::json;

use crate::output::{self, Output};

use crate::Failure;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a new HMAC secret (default) or Ed25519 key pair.
    ///
    /// Examples:
    ///   gemini-webhooks keys new
    ///   gemini-webhooks keys new --kind ed25519 --json > key.json
    #[command(verbatim_doc_comment)]
    New {
        /// `hmac`: a `whsec_` secret for `v1` signatures; `ed25519`: a
        /// `whsk_` private and `whpk_` public key for `v1a`, with the public
        /// key as a JWK and as a one-key JWKS.
        #[arg(long, value_enum, default_value_t = Kind::Hmac)]
        kind: Kind,
        /// The key id of the JWK (ed25519 only).
        #[arg(long, default_value = "key-1")]
        kid: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Kind {
    Hmac,
    Ed25519,
}

pub fn run(command: KeysCommand, out: Output) -> Result<(), Failure> {
    let KeysCommand::New { kind, kid } = command;
    match kind {
        Kind::Hmac => {
            let secret = generate_secret();
            out.show(
                || secret.clone(),
                || json!({ "kind": "hmac", "secret": secret }),
            );
            if !out.is_json() {
                output::note(
                    "Keep it secret; give it to Verifier::builder().secret(…) and to the sender.",
                );
            }
        }
        Kind::Ed25519 => {
            let pair = generate_ed25519_key();
            let jwk = pair.jwk(Some(&kid));
            let jwks = json!({ "keys": [jwk.clone()] });
            out.show(
                || {
                    format!(
                        "private key (sign with it, keep it secret): {}\n\
                         public key (Verifier::builder().public_key(…)): {}\n\
                         JWKS (Verifier::builder().jwks_json(…)): {jwks}",
                        pair.private_key, pair.public_key
                    )
                },
                || {
                    json!({
                        "kind": "ed25519",
                        "private_key": pair.private_key,
                        "public_key": pair.public_key,
                        "jwk": jwk,
                        "jwks": jwks,
                    })
                },
            );
        }
    }
    Ok(())
}
