#![doc = include_str!("../README.md")]
//!
//! Paths, fields and enum values follow the API reference
//! (ai.google.dev/api) and Google's generated SDKs, under `/v1beta`: see
//! [`GeminiClientBuilder::api_version`] for the webhooks guide's `/v1`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

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
