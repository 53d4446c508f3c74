//! `gemini-webhooks`: tools for the people building a Gemini webhook
//! receiver, on the `gemini-webhooks` crate itself.
//!
//! Exit codes: 0 ok, 1 the thing checked failed (a delivery that does not
//! verify), 2 a usage or I/O error.

mod capture;
mod inbox;
mod keys;
mod listen;
mod output;
mod send;
mod sign;
mod verify;
mod webhooks;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use output::Output;

/// Tools for Gemini webhook receivers: keys, sample events, signed
/// requests, and why a captured delivery does or does not verify.
#[derive(Parser)]
#[command(name = "gemini-webhooks", version)]
struct Cli {
    /// Print JSON instead of text, for scripts.
    #[arg(long, global = true)]
    json: bool,
    /// The Gemini API's key, host and version (for `webhooks` and `jobs`).
    #[command(flatten, next_help_heading = "Gemini API")]
    api: webhooks::ApiArgs,
    #[command(subcommand)]
    command: Command,
}

// The subcommands with arguments take their help, examples included, from
// their argument struct's doc comment.
#[derive(Subcommand)]
enum Command {
    /// Create keys: keys new
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Print a sample envelope of each event type, or of one.
    ///
    /// Example: gemini-webhooks events batch.succeeded > event.json
    #[command(verbatim_doc_comment)]
    Events {
        /// One event type (e.g. `batch.succeeded`); all nine without it.
        event_type: Option<String>,
    },
    Sign(sign::SignArgs),
    Verify(verify::VerifyArgs),
    Send(send::SendArgs),
    Listen(listen::ListenArgs),
    Webhooks(webhooks::WebhooksArgs),
    Jobs(webhooks::JobsArgs),
    Inbox(inbox::InboxArgs),
}

/// What a subcommand reports when it cannot run at all (exit code 2).
type Failure = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One runtime for every command; only those that talk HTTP use it.
    let outcome = tokio::runtime::Runtime::new()
        .map_err(Failure::from)
        .and_then(|runtime| runtime.block_on(run(cli)));
    match outcome {
        Ok(code) => code,
        Err(err) => {
            output::note(format_args!(
                "error: {}",
                gemini_webhooks::ErrorChain(&*err)
            ));
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let out = Output::new(cli.json);
    match cli.command {
        Command::Keys(command) => keys::run(command, out).map(|()| ExitCode::SUCCESS),
        Command::Events { event_type } => events(event_type.as_deref()).map(|()| ExitCode::SUCCESS),
        Command::Sign(args) => sign::run(&args, out).map(|()| ExitCode::SUCCESS),
        Command::Verify(args) => verify::run(&args, out).await,
        Command::Listen(args) => listen::run(&args, out).await.map(|()| ExitCode::SUCCESS),
        Command::Webhooks(args) => webhooks::run(&args, &cli.api, out)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Jobs(args) => webhooks::run_jobs(&args, &cli.api, out)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Inbox(args) => inbox::run(&args, out).await.map(|()| ExitCode::SUCCESS),
        Command::Send(args) => send::run(&args, out).await.map(exit_code),
    }
}

/// 0 when the check held, 1 when it did not.
fn exit_code(held: bool) -> ExitCode {
    if held {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `events [TYPE]`: the library's own samples, one JSON document per line.
fn events(event_type: Option<&str>) -> Result<(), Failure> {
    use gemini_webhooks::testing::{SAMPLE_EVENT_TYPES, sample_event};
    let types: Vec<&str> = match event_type {
        Some(wanted) if SAMPLE_EVENT_TYPES.contains(&wanted) => vec![wanted],
        Some(other) => {
            return Err(format!(
                "unknown event type `{other}`; known: {}",
                SAMPLE_EVENT_TYPES.join(", ")
            )
            .into());
        }
        None => SAMPLE_EVENT_TYPES.to_vec(),
    };
    for event_type in types {
        output::line(String::from_utf8_lossy(&sample_event(event_type)));
    }
    Ok(())
}
