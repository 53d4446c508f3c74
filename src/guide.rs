//! Guides beyond the quick start, one page each (no items here): the same
//! text as `docs/*.md` in the repository, and their code is compiled by the
//! crate's tests. The inbox's and reconciliation's guides are
//! `gemini_webhooks_postgres::guide`'s; the API client's is the front page
//! of `gemini-webhooks-api`.

#[doc = include_str!("../docs/gemini-setup.md")]
pub mod gemini_setup {}

#[doc = include_str!("../docs/frameworks.md")]
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod frameworks {}

#[doc = include_str!("../docs/dynamic-webhooks.md")]
#[cfg(feature = "jwks-fetch")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks-fetch")))]
pub mod dynamic_webhooks {}

#[doc = include_str!("../docs/replicas.md")]
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod replicas {}

#[doc = include_str!("../docs/cli.md")]
pub mod cli {}

#[doc = include_str!("../docs/observability.md")]
pub mod observability {}

#[doc = include_str!("../docs/security.md")]
pub mod security {}

#[doc = include_str!("../docs/performance.md")]
pub mod performance {}

#[doc = include_str!("../docs/answers.md")]
pub mod answers {}

#[doc = include_str!("../docs/features.md")]
pub mod features {}

#[doc = include_str!("../docs/lambda.md")]
pub mod lambda {}

#[doc = include_str!("../docs/cloud-run.md")]
pub mod cloud_run {}

#[doc = include_str!("../docs/cloudflare-workers.md")]
pub mod cloudflare_workers {}
