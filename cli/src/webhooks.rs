//! `webhooks …` and `jobs get`: the Gemini API through
//! `gemini_webhooks_api`, with no HTTP code of the CLI's own.

use clap::{Args, Subcommand, ValueEnum};
use gemini_webhooks_api::{
    GEMINI_API_HOST, GEMINI_API_VERSION, GeminiClient, JobName, NewWebhook, Revocation, Webhook,
    WebhookState, WebhookUpdate,
};
use serde_json::json;

use crate::Failure;
use crate::output::{self, Output};

/// How to reach the API: flags of the whole command (`global`), so they
/// are accepted before `webhooks`/`jobs`, after it, and after any of their
/// subcommands.
#[derive(Args)]
pub struct ApiArgs {
    /// The API key (default: the `GEMINI_API_KEY` environment variable).
    #[arg(long, global = true, env = "GEMINI_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// The API's host (for proxies and tests), without the version.
    #[arg(long, global = true, default_value = GEMINI_API_HOST)]
    api_base: String,
    /// The API version the paths go under.
    #[arg(long, global = true, default_value = GEMINI_API_VERSION)]
    api_version: String,
}

impl ApiArgs {
    pub fn client(&self) -> Result<GeminiClient, Failure> {
        let key = self
            .api_key
            .clone()
            .filter(|key| !key.trim().is_empty())
            .ok_or(
                "no API key: set GEMINI_API_KEY (or pass --api-key); \
             create one at https://aistudio.google.com/apikey",
            )?;
        Ok(GeminiClient::builder(key)
            .host(&self.api_base)
            .api_version(&self.api_version)
            .build()?)
    }
}

/// Manage the project's webhooks through the Gemini API.
///
/// Examples:
///   GEMINI_API_KEY=… gemini-webhooks webhooks create --uri https://example.com/webhooks/gemini --event batch.succeeded --event video.generated
///   gemini-webhooks webhooks list
///   gemini-webhooks webhooks update abc123 --state enabled
///   gemini-webhooks webhooks rotate-secret abc123 --revoke-previous after-24h
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct WebhooksArgs {
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
        /// A label of yours.
        #[arg(long)]
        name: Option<String>,
    },
    /// List every webhook of the project (all pages).
    ///
    /// Example: gemini-webhooks webhooks list --json
    #[command(verbatim_doc_comment)]
    List,
    /// Show one webhook (`ID` or `webhooks/ID`).
    ///
    /// Example: gemini-webhooks webhooks get abc123
    #[command(verbatim_doc_comment)]
    Get { webhook: String },
    /// Change a webhook's label, URI, events or state (only what you give).
    ///
    /// Example: gemini-webhooks webhooks update abc123 --state enabled
    #[command(verbatim_doc_comment)]
    Update {
        webhook: String,
        /// A new label.
        #[arg(long)]
        name: Option<String>,
        /// A new URI.
        #[arg(long)]
        uri: Option<String>,
        /// The new event list; repeat for several.
        #[arg(long = "event")]
        events: Vec<String>,
        /// Enable (also after Gemini disabled it for failed deliveries) or disable.
        #[arg(long, value_enum)]
        state: Option<StateArg>,
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
        #[arg(long, value_enum, default_value = "after-24h")]
        revoke_previous: RevocationArg,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RevocationArg {
    /// Keep the old secret valid for 24 hours: configure both meanwhile.
    #[value(name = "after-24h")]
    After24h,
    /// Revoke the old secret now.
    Immediately,
}

#[derive(Clone, Copy, ValueEnum)]
enum StateArg {
    Enabled,
    Disabled,
}

/// A job's status: what to check when a webhook did not come.
///
/// Examples:
///   gemini-webhooks jobs get batches/batch_123
///   gemini-webhooks jobs get models/veo-3.1-generate-preview/operations/vz341u0pmdlc
///   gemini-webhooks jobs get interactions/v1_abc --json
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct JobsArgs {
    #[command(subcommand)]
    command: JobsCommand,
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Print a job's state and where its result is (or why it failed).
    Get {
        /// `batches/ID`, `models/MODEL/operations/ID` or `interactions/ID`.
        job: String,
    },
}

/// `webhooks create`: the new webhook and its secret (shown only now); the
/// webhooks with its URI when the outcome is unknown.
async fn create(client: &GeminiClient, new: &NewWebhook, out: Output) -> Result<(), Failure> {
    let created = match client.create_webhook(new).await {
        Err(err) if err.is_ambiguous() => {
            show_possible_strays(client, &new.uri).await;
            return Err(err.into());
        }
        created => created?,
    };
    show_webhook(&created, out);
    match &created.new_signing_secret {
        Some(secret) if !out.is_json() => {
            output::line(format_args!("signing secret: {}", secret.expose()));
        }
        Some(_) => {}
        None => output::note(format_args!("the answer held no signing secret")),
    }
    secret_warning();
    Ok(())
}

/// After a create whose outcome is unknown: the project's webhooks with the
/// same URI, so the user can see (and delete) one that was made but whose
/// secret was never shown; it would sign with a secret nobody holds.
async fn show_possible_strays(client: &GeminiClient, uri: &str) {
    match client.list_webhooks().await {
        Ok(all) => {
            let same: Vec<_> = all.iter().filter(|webhook| webhook.uri == uri).collect();
            if same.is_empty() {
                output::note(format_args!(
                    "the create may not have taken effect: no webhook has the URI {uri}; run the command again"
                ));
            } else {
                output::note(format_args!(
                    "the create may have taken effect: webhooks with the URI {uri} (their secrets cannot be shown again; delete any you did not mean to keep with `webhooks delete ID`):"
                ));
                for webhook in same {
                    output::note(format_args!(
                        "  {} ({}, created {})",
                        webhook.id,
                        webhook.state.as_str(),
                        webhook
                            .create_time
                            .as_deref()
                            .unwrap_or("at an unknown time")
                    ));
                }
            }
        }
        Err(err) => output::note(format_args!(
            "the create may have taken effect, and listing the webhooks failed too ({}): run `webhooks list` before creating it again",
            gemini_webhooks::ErrorChain(&err)
        )),
    }
}

pub async fn run(args: &WebhooksArgs, api: &ApiArgs, out: Output) -> Result<(), Failure> {
    let client = api.client()?;
    match &args.command {
        WebhooksCommand::Create { uri, events, name } => {
            let mut new = NewWebhook::new(uri, events);
            if let Some(name) = name {
                new = new.name(name);
            }
            create(&client, &new, out).await?;
        }
        WebhooksCommand::List => list(&client, out).await?,
        WebhooksCommand::Get { webhook } => show_webhook(&client.get_webhook(webhook).await?, out),
        WebhooksCommand::Update {
            webhook,
            name,
            uri,
            events,
            state,
        } => {
            let update = webhook_update(name.as_deref(), uri.as_deref(), events, *state);
            show_webhook(&client.update_webhook(webhook, &update).await?, out);
        }
        WebhooksCommand::Delete { webhook } => {
            client.delete_webhook(webhook).await?;
            out.show(
                || format!("deleted {webhook}"),
                || json!({ "deleted": webhook }),
            );
        }
        WebhooksCommand::Ping { webhook } => {
            client.ping_webhook(webhook).await?;
            out.show(
                || format!("ping sent to {webhook}"),
                || json!({ "pinged": webhook }),
            );
        }
        WebhooksCommand::RotateSecret {
            webhook,
            revoke_previous,
        } => {
            let revocation = match revoke_previous {
                RevocationArg::After24h => Revocation::After24Hours,
                RevocationArg::Immediately => Revocation::Immediately,
            };
            let secret = client.rotate_signing_secret(webhook, revocation).await?;
            out.show(
                || format!("signing secret: {}", secret.expose()),
                || json!({ "webhook": webhook, "secret": secret.expose() }),
            );
            secret_warning();
        }
    }
    Ok(())
}

/// `webhooks list`.
async fn list(client: &GeminiClient, out: Output) -> Result<(), Failure> {
    let all = client.list_webhooks().await?;
    if out.is_json() {
        output::line(format_args!("{}", json!({ "webhooks": all })));
    } else if all.is_empty() {
        output::line(format_args!("no webhooks"));
    } else {
        for webhook in &all {
            show_webhook(webhook, out);
        }
    }
    Ok(())
}

/// The update `webhooks update` asks for: only the fields given.
fn webhook_update(
    name: Option<&str>,
    uri: Option<&str>,
    events: &[String],
    state: Option<StateArg>,
) -> WebhookUpdate {
    let mut update = WebhookUpdate::new();
    if let Some(name) = name {
        update = update.name(name);
    }
    if let Some(uri) = uri {
        update = update.uri(uri);
    }
    if !events.is_empty() {
        update = update.subscribed_events(events);
    }
    if let Some(state) = state {
        update = update.state(match state {
            StateArg::Enabled => WebhookState::Enabled,
            StateArg::Disabled => WebhookState::Disabled,
        });
    }
    update
}

pub async fn run_jobs(args: &JobsArgs, api: &ApiArgs, out: Output) -> Result<(), Failure> {
    let client = api.client()?;
    match &args.command {
        JobsCommand::Get { job } => {
            let name = JobName::parse(job)?;
            let status = client.get_job(&name).await?;
            out.show(
                || status.to_string(),
                || json!({ "job": name.to_string(), "final": status.is_final(), "status": status.to_string() }),
            );
        }
    }
    Ok(())
}

/// One line per webhook: id, label, URI, state, events (text escaped by
/// the client); or the resource as JSON.
fn show_webhook(webhook: &Webhook, out: Output) {
    let printable = |text: &str| text.escape_debug().to_string();
    out.show(
        || {
            format!(
                "{}  {}  {}  state {}  events {}",
                printable(&webhook.id),
                printable(webhook.name.as_deref().unwrap_or("-")),
                printable(&webhook.uri),
                webhook.state,
                printable(&webhook.subscribed_events.join(","))
            )
        },
        || json!(webhook),
    );
}

fn secret_warning() {
    output::note(format_args!(
        "Store the signing secret now: the API shows it only this once."
    ));
}
