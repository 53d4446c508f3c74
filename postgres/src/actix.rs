//! The inbox's endpoint as an actix-web resource (feature `actix`).

use std::sync::Arc;

use actix_web::{HttpRequest, ResponseError, web};

use gemini_webhooks::__private::{
    ActixPayloadBody as PayloadBody, actix_headers as core_headers, actix_plain_text as plain_text,
};

use crate::inbox::InboxEndpoint;

/// An actix-web resource at `path` that verifies `POST`ed deliveries and
/// stores them in the inbox: the actix counterpart of
/// [`InboxService`](crate::inbox::InboxService), with the same answers
/// (`202` stored, `200` already stored, the rejection's status otherwise;
/// actix answers `405` for other methods). Build the endpoint once and
/// clone it into the app factory.
///
/// ```no_run
/// use actix_web::App;
/// use gemini_webhooks::Verifier;
/// use gemini_webhooks_postgres::{actix::inbox_resource, inbox::Inbox};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let inbox = Inbox::builder("postgres://app@db.internal/app").build()?;
/// let verifier = Verifier::builder().secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?.build()?;
/// let endpoint = inbox.endpoint(verifier);
/// let app = move || App::new().service(inbox_resource("/webhooks/gemini", endpoint.clone()));
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
pub fn inbox_resource(path: &str, endpoint: InboxEndpoint) -> actix_web::Resource {
    let endpoint = Arc::new(endpoint);
    web::resource(path).route(
        web::post().to(move |request: HttpRequest, payload: web::Payload| {
            let endpoint = Arc::clone(&endpoint);
            async move {
                let headers = core_headers(request.headers());
                match endpoint
                    .store(&headers, PayloadBody(payload.into_inner()))
                    .await
                {
                    Ok(stored) => plain_text(stored.status(), stored.to_string()),
                    Err(rejection) => rejection.error_response(),
                }
            }
        }),
    )
}
