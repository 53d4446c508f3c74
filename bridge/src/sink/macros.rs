//! The part of a [`Sink`](super::Sink) impl every broker's sink writes
//! alike, written once.

/// Implements `kind` (the module's `KIND`) and `publish` (boxing
/// `self.$method(message)`) of [`Sink`](crate::sink::Sink); `ready`, when
/// the sink has one, follows in the braces.
#[allow(unused_macros)] // a build with no sink feature uses none
macro_rules! sink_impl {
    ($sink:ty, $method:ident { $($ready:tt)* }) => {
        impl $crate::sink::Sink for $sink {
            fn kind(&self) -> &'static str {
                KIND
            }

            fn publish<'a>(
                &'a self,
                message: &'a $crate::sink::Message,
            ) -> $crate::sink::BoxFuture<'a, Result<$crate::sink::Published, $crate::sink::PublishError>> {
                Box::pin(self.$method(message))
            }

            $($ready)*
        }
    };
}

#[allow(unused_imports)] // a build with no sink feature uses none
pub(crate) use sink_impl;
