//! [`Verified<T>`]: a verified delivery's body as the caller's own type.

/// A verified delivery's body, parsed as your own JSON type `T`.
///
/// An extractor in the framework adapters (`axum`, `actix`): a body that does
/// not parse as `T` is rejected with 422, naming the path of the bad field
/// (never quoting the body).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verified<T>(pub T);

impl<T> Verified<T> {
    /// The parsed body.
    pub fn into_inner(self) -> T {
        self.0
    }
}
