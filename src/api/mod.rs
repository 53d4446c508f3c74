//! A typed client of the Gemini API (feature `api`): the webhooks calls
//! (create, list, get, update, delete, ping, rotate the signing secret) and
//! the status of the jobs webhooks report on (batches, video operations,
//! interactions), for deploy code, the `gemini-webhooks` CLI, and a check
//! on a job whose webhook did not come.
//!
//! Paths, fields and enum values follow the API reference
//! (ai.google.dev/api) and Google's generated SDKs, under `/v1beta`. The
//! webhooks guide's snippets differ (`/v1/webhooks`,
//! `…/rotate_secret`, `REVOKE_PREVIOUS_SECRETS_AFTER_H24`): answers in the
//! guide's spellings are read too, but requests are sent as the reference
//! says. If a call fails where the guide's form works for you, try
//! [`GeminiClientBuilder::api_version`]`("v1")` and tell us.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use gemini_webhooks::api::{GeminiClient, JobName, NewWebhook};
//!
//! let client = GeminiClient::new(std::env::var("GEMINI_API_KEY")?)?;
//! let created = client
//!     .create_webhook(&NewWebhook::new("https://example.com/webhooks/gemini", ["batch.succeeded"]))
//!     .await?;
//! let secret = created.new_signing_secret.expect("shown on create"); // store it now
//! # let _ = secret;
//! let status = client.get_job(&JobName::parse("batches/batch_123")?).await?;
//! println!("{status}");
//! # Ok(()) }
//! ```

mod client;
mod download;
mod error;
mod jobs;
mod names;
mod webhook_config;
mod webhooks;

pub use client::{GEMINI_API_HOST, GEMINI_API_VERSION, GeminiClient, GeminiClientBuilder};
pub use download::Download;
pub use error::ApiError;
pub use jobs::{
    Batch, BatchState, Interaction, InteractionStatus, JobError, JobStatus, VideoOperation,
};
pub use names::JobName;
pub use webhook_config::WebhookConfig;
pub use webhooks::{
    NewWebhook, Revocation, SigningSecret, SigningSecretInfo, Webhook, WebhookPage, WebhookState,
    WebhookUpdate,
};
