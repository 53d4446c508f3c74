//! [`InboxEndpoint`]: the inbox's receiving side. The same [`Intake`] as
//! every other endpoint (headers checked before the body, the body read
//! under a limit and a deadline, verified), then a durable write.

use http::HeaderMap;

use super::{Inbox, InboxService, Stored};
use gemini_webhooks::__private::intake_builder_methods;
use gemini_webhooks::receiver::{Intake, Rejection};
use gemini_webhooks::verify::Verifier;

/// Verifies deliveries and stores them in an [`Inbox`]; no handler runs in
/// the request and no replay store is consulted (the inbox's primary key
/// does that work).
///
/// Serve it with [`service`](Self::service) (tower, axum's
/// `Router::route_service`), the actix counterpart
/// `gemini_webhooks_postgres::actix::inbox_resource`, or call
/// [`store`](Self::store) from any other framework. Answers: `202
/// Accepted` for a delivery stored, `200` for a copy already there, the
/// intake's 4xx for what does not verify, `503` when the database does not
/// answer (Gemini retries; nothing acknowledged is lost).
#[derive(Debug, Clone)]
#[must_use]
pub struct InboxEndpoint {
    intake: Intake,
    inbox: Inbox,
}

impl InboxEndpoint {
    /// An endpoint storing what `verifier` accepts in `inbox`, with the
    /// intake's defaults (256 KiB body limit, 10 s body timeout).
    pub fn new(inbox: Inbox, verifier: Verifier) -> Self {
        Self {
            intake: Intake::new(verifier),
            inbox,
        }
    }

    fn with_intake(mut self, configure: impl FnOnce(Intake) -> Intake) -> Self {
        self.intake = configure(self.intake);
        self
    }

    intake_builder_methods!();

    /// The inbox deliveries are stored in.
    pub fn inbox(&self) -> &Inbox {
        &self.inbox
    }

    /// The intake: its verifier and limits.
    pub fn intake(&self) -> &Intake {
        &self.intake
    }

    /// Checks the headers, reads and verifies the delivery, and stores it.
    /// A rejection is logged and counted before it is returned; map it to
    /// a response with [`Rejection::status`], a stored delivery with
    /// [`Stored::status`].
    pub async fn store<B>(&self, headers: &HeaderMap, body: B) -> Result<Stored, Rejection>
    where
        B: http_body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let delivery = self.intake.accept(headers, body).await?;
        let stored = self.inbox.ingest(&delivery).await.map_err(|err| {
            self.intake
                .reject(headers, Rejection::InboxUnavailable(err.into()))
        })?;
        gemini_webhooks::__private::count_delivery(stored.outcome(), None);
        tracing::debug!(webhook_id = delivery.id(), outcome = %stored, "gemini webhook stored");
        Ok(stored)
    }

    /// This endpoint as a terminal tower service.
    pub fn service(self) -> InboxService {
        InboxService::new(self)
    }
}
