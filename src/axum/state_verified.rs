use axum_core::extract::{FromRef, FromRequest, Request};
use serde::de::DeserializeOwned;

use super::delivery_with;
use crate::delivery::Delivery;
use crate::event::GeminiEvent;
use crate::receiver::Rejection;
use crate::verified::Verified;
use crate::verify::Verifier;

/// Extracts `E` — [`Delivery`], [`GeminiEvent`] or [`Verified<T>`] —
/// verified with the [`Verifier`] in the router's state
/// (`Verifier: FromRef<S>`), for apps that keep their verifier in state
/// rather than in an `Extension`.
///
/// Behind a [`WebhookLayer`](crate::tower::WebhookLayer) it takes the
/// delivery the layer verified and de-duplicated; without the layer it
/// verifies by itself, without de-duplication (as the plain extractors do
/// with an `Extension`). Rejections are the same [`Rejection`]s.
///
/// ```
/// use axum::{Router, extract::FromRef, http::StatusCode, routing::post};
/// use gemini_webhooks::{GeminiEvent, Verifier, axum::StateVerified};
///
/// #[derive(Clone)]
/// struct AppState {
///     verifier: Verifier,
///     // … your database pool, clients, …
/// }
///
/// // Or `#[derive(FromRef)]` on `AppState`, with axum's `macros` feature.
/// impl FromRef<AppState> for Verifier {
///     fn from_ref(state: &AppState) -> Verifier {
///         state.verifier.clone()
///     }
/// }
///
/// async fn handle(StateVerified(event): StateVerified<GeminiEvent>) -> StatusCode {
///     println!("{}", event.event_type());
///     StatusCode::OK
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = Verifier::builder().secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?.build()?;
/// let app: Router = Router::new()
///     .route("/webhooks/gemini", post(handle))
///     .with_state(AppState { verifier });
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct StateVerified<E>(pub E);

/// What [`StateVerified`] can extract: [`Delivery`], [`GeminiEvent`] and
/// [`Verified<T>`].
pub trait FromDelivery: Sized + sealed::Sealed {
    /// Converts the verified delivery; a body that does not parse is a 422
    /// [`Rejection::InvalidEvent`].
    fn from_delivery(delivery: Delivery) -> Result<Self, Rejection>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Delivery {}
    impl Sealed for super::GeminiEvent {}
    impl<T> Sealed for super::Verified<T> {}
}

impl FromDelivery for Delivery {
    fn from_delivery(delivery: Delivery) -> Result<Self, Rejection> {
        Ok(delivery)
    }
}

impl FromDelivery for GeminiEvent {
    fn from_delivery(delivery: Delivery) -> Result<Self, Rejection> {
        Ok(delivery.event()?)
    }
}

impl<T: DeserializeOwned> FromDelivery for Verified<T> {
    fn from_delivery(delivery: Delivery) -> Result<Self, Rejection> {
        Ok(Self(delivery.json()?))
    }
}

impl<E, S> FromRequest<S> for StateVerified<E>
where
    E: FromDelivery,
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let delivery = delivery_with(request, |_| Some(Verifier::from_ref(state))).await?;
        Ok(Self(E::from_delivery(delivery)?))
    }
}
