//! `webhooks`: the Gemini API's webhook management (`/v1/webhooks`), with
//! field names as in Google's REST docs (`name`, `uri`,
//! `subscribed_events`, `state`, `new_signing_secret`).

use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{Failure, output};

/// The Gemini API's base URL.
const API_BASE: &str = "https://generativelanguage.googleapis.com/v1";

/// Manage the project's static webhooks on the Gemini API.
///
/// Examples:
///   GEMINI_API_KEY=… gemini-webhooks webhooks create --uri https://example.com/webhooks/gemini --event batch.succeeded --event video.generated
///   gemini-webhooks webhooks list
///   gemini-webhooks webhooks rotate-secret webhooks/abc123 --revoke-previous after-24h
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct WebhooksArgs {
    /// The API key (default: the `GEMINI_API_KEY` environment variable).
    #[arg(long, env = "GEMINI_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// The API's base URL (for tests and proxies).
    #[arg(long, default_value = API_BASE)]
    api_base: String,
    #[command(subcommand)]
    command: WebhooksCommand,
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Create a webhook; prints its signing secret, shown only this once.
    ///
    /// Example: gemini-webhooks webhooks create --uri https://example.com/webhooks/gemini --event batch.succeeded
    #[command(verbatim_doc_comment)]
    Create {
        /// Where Gemini delivers (https).
        #[arg(long)]
        uri: String,
        /// An event type to subscribe to; repeat for several.
        #[arg(long = "event", required = true)]
        events: Vec<String>,
        /// A display name.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the project's webhooks.
    ///
    /// Example: gemini-webhooks webhooks list --json
    #[command(verbatim_doc_comment)]
    List,
    /// Show one webhook (`webhooks/ID` or `ID`).
    ///
    /// Example: gemini-webhooks webhooks get webhooks/abc123
    #[command(verbatim_doc_comment)]
    Get { webhook: String },
    /// Change a webhook's uri or events.
    ///
    /// Example: gemini-webhooks webhooks update abc123 --event batch.succeeded --event batch.failed
    #[command(verbatim_doc_comment)]
    Update {
        webhook: String,
        #[arg(long)]
        uri: Option<String>,
        /// The new event list; repeat for several.
        #[arg(long = "event")]
        events: Vec<String>,
    },
    /// Delete a webhook.
    ///
    /// Example: gemini-webhooks webhooks delete abc123
    #[command(verbatim_doc_comment)]
    Delete { webhook: String },
    /// Ask Gemini to send a test delivery.
    ///
    /// Example: gemini-webhooks webhooks ping abc123
    #[command(verbatim_doc_comment)]
    Ping { webhook: String },
    /// Rotate the signing secret; prints the new one, shown only this once.
    ///
    /// Example: gemini-webhooks webhooks rotate-secret abc123 --revoke-previous after-24h
    #[command(verbatim_doc_comment)]
    RotateSecret {
        webhook: String,
        /// When the previous secrets stop being valid.
        #[arg(long, value_enum)]
        revoke_previous: Revocation,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Revocation {
    /// Keep the old secret valid for 24 hours: configure both meanwhile.
    #[value(name = "after-24h")]
    After24h,
    /// Revoke the old secret now.
    Immediately,
}

pub async fn run(args: &WebhooksArgs, json_out: bool) -> Result<(), Failure> {
    let api = Api {
        client: reqwest::Client::new(),
        base: args.api_base.trim_end_matches('/').to_owned(),
        key: args.api_key.clone().filter(|key| !key.is_empty()).ok_or(
            "no API key: set GEMINI_API_KEY (or pass --api-key); \
             create one at https://aistudio.google.com/apikey",
        )?,
    };
    match &args.command {
        WebhooksCommand::Create { uri, events, name } => {
            let mut body = json!({ "uri": uri, "subscribed_events": events });
            if let Some(name) = name {
                body["name"] = json!(name);
            }
            let created = api.call(Method::POST, "webhooks", Some(body)).await?;
            print_with_secret(&created, json_out);
        }
        WebhooksCommand::List => {
            let listed = api.call(Method::GET, "webhooks", None).await?;
            if json_out {
                output::line(format_args!("{listed}"));
            } else {
                let webhooks = listed["webhooks"].as_array().cloned().unwrap_or_default();
                if webhooks.is_empty() {
                    output::line(format_args!("no webhooks"));
                }
                for webhook in &webhooks {
                    print_webhook(webhook);
                }
            }
        }
        WebhooksCommand::Get { webhook } => {
            let shown = api.call(Method::GET, &resource(webhook), None).await?;
            print_value(&shown, json_out);
        }
        WebhooksCommand::Update {
            webhook,
            uri,
            events,
        } => {
            let mut body = json!({});
            let mut mask = Vec::new();
            if let Some(uri) = uri {
                body["uri"] = json!(uri);
                mask.push("uri");
            }
            if !events.is_empty() {
                body["subscribed_events"] = json!(events);
                mask.push("subscribed_events");
            }
            if mask.is_empty() {
                return Err("nothing to update: give --uri or --event".into());
            }
            let path = format!("{}?updateMask={}", resource(webhook), mask.join(","));
            let updated = api.call(Method::PATCH, &path, Some(body)).await?;
            print_value(&updated, json_out);
        }
        WebhooksCommand::Delete { webhook } => {
            api.call(Method::DELETE, &resource(webhook), None).await?;
            if json_out {
                output::line(format_args!("{}", json!({ "deleted": resource(webhook) })));
            } else {
                output::line(format_args!("deleted {}", resource(webhook)));
            }
        }
        WebhooksCommand::Ping { webhook } => {
            let answer = api
                .call(
                    Method::POST,
                    &format!("{}:ping", resource(webhook)),
                    Some(json!({})),
                )
                .await?;
            if json_out {
                output::line(format_args!("{answer}"));
            } else {
                output::line(format_args!("ping sent to {}", resource(webhook)));
            }
        }
        WebhooksCommand::RotateSecret {
            webhook,
            revoke_previous,
        } => {
            let behavior = match revoke_previous {
                Revocation::After24h => "REVOKE_PREVIOUS_SECRETS_AFTER_H24",
                Revocation::Immediately => "REVOKE_PREVIOUS_SECRETS_IMMEDIATELY",
            };
            let path = format!("{}/rotate_secret", resource(webhook));
            let rotated = api
                .call(
                    Method::POST,
                    &path,
                    Some(json!({ "revocation_behavior": behavior })),
                )
                .await?;
            print_with_secret(&rotated, json_out);
        }
    }
    Ok(())
}

/// `webhooks/ID` from either `ID` or `webhooks/ID`.
fn resource(webhook: &str) -> String {
    if webhook.starts_with("webhooks/") {
        webhook.to_owned()
    } else {
        format!("webhooks/{webhook}")
    }
}

struct Api {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    /// One API call; a non-2xx answer is an error carrying Google's message.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let mut request = self
            .client
            .request(method, format!("{}/{path}", self.base))
            .header("x-goog-api-key", &self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|err| format!("the Gemini API cannot be reached: {err}"))?;
        let status = response.status();
        let text = response.text().await?;
        let value: Value = if text.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }))
        };
        if !status.is_success() {
            let message = value["error"]["message"].as_str().unwrap_or("no message");
            return Err(format!("the Gemini API answered {status}: {message}").into());
        }
        Ok(value)
    }
}

fn print_value(value: &Value, json_out: bool) {
    if json_out {
        output::line(format_args!("{value}"));
    } else {
        print_webhook(value);
    }
}

fn print_webhook(webhook: &Value) {
    let text = |field: &str| webhook[field].as_str().unwrap_or("-").to_owned();
    let events: Vec<&str> = webhook["subscribed_events"]
        .as_array()
        .map(|events| events.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    output::line(format_args!(
        "{}  {}  state {}  events {}",
        text("name"),
        text("uri"),
        text("state"),
        events.join(",")
    ));
}

/// Prints a webhook with the one-time `new_signing_secret`, and warns.
fn print_with_secret(value: &Value, json_out: bool) {
    if json_out {
        output::line(format_args!("{value}"));
    } else {
        if value.get("uri").is_some() {
            print_webhook(value);
        }
        match value["new_signing_secret"].as_str() {
            Some(secret) => output::line(format_args!("signing secret: {secret}")),
            None => output::line(format_args!("no signing secret in the answer")),
        }
    }
    output::note(format_args!(
        "Store the signing secret now: the API shows it only this once."
    ));
}
