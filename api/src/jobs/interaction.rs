//! [`Interaction`]: an interaction's status.

use serde::Deserialize;
use serde_json::Value;

use super::JobError;

/// An interaction's status.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InteractionStatus {
    /// Waiting to run.
    Queued,
    /// Running.
    InProgress,
    /// Waiting for you (a function call's result, a confirmation).
    RequiresAction,
    /// Done.
    Completed,
    /// Failed: see [`Interaction::errors`].
    Failed,
    /// Cancelled.
    Cancelled,
    /// Ended before it was complete.
    Incomplete,
    /// Stopped at its budget.
    BudgetExceeded,
    /// A status this version does not know, as the API spelled it.
    Other(String),
}

impl InteractionStatus {
    pub(super) fn parse(status: &str) -> Self {
        match status.to_ascii_lowercase().as_str() {
            "queued" => Self::Queued,
            "in_progress" => Self::InProgress,
            "requires_action" => Self::RequiresAction,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            "incomplete" => Self::Incomplete,
            "budget_exceeded" => Self::BudgetExceeded,
            _ => Self::Other(status.to_owned()),
        }
    }

    /// Whether the interaction will not change without you.
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Queued | Self::InProgress | Self::Other(_))
    }

    /// As the API spells it (`requires_action`); an unknown status as the
    /// API sent it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Queued => "queued",
            Self::InProgress => "in_progress",
            Self::RequiresAction => "requires_action",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Incomplete => "incomplete",
            Self::BudgetExceeded => "budget_exceeded",
            Self::Other(status) => status,
        }
    }
}

impl std::fmt::Display for InteractionStatus {
    /// [`as_str`](Self::as_str), control characters escaped.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::error::printable(self.as_str()))
    }
}

/// An interaction (`GET /v1beta/interactions/{id}`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Interaction {
    /// Its id.
    pub id: String,
    /// Its status.
    pub status: InteractionStatus,
    /// Why it failed.
    pub errors: Vec<JobError>,
    /// Its steps, as the API sent them.
    pub steps: Vec<Value>,
}

#[derive(Deserialize)]
pub(super) struct InteractionBody {
    #[serde(default)]
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    errors: Vec<JobError>,
    #[serde(default)]
    steps: Vec<Value>,
}

impl From<InteractionBody> for Interaction {
    fn from(body: InteractionBody) -> Self {
        Self {
            id: body.id,
            status: InteractionStatus::parse(&body.status),
            errors: body.errors,
            steps: body.steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interaction_statuses_and_unknown_ones() {
        assert_eq!(
            InteractionStatus::parse("requires_action"),
            InteractionStatus::RequiresAction
        );
        assert_eq!(
            InteractionStatus::parse("BUDGET_EXCEEDED"),
            InteractionStatus::BudgetExceeded
        );
        assert_eq!(
            InteractionStatus::parse("paused"),
            InteractionStatus::Other("paused".into())
        );
        assert!(
            InteractionStatus::Completed.is_final() && !InteractionStatus::InProgress.is_final()
        );
    }

    #[test]
    fn statuses_are_shown_as_the_api_spells_them_and_read_back() {
        for spelled in [
            "queued",
            "in_progress",
            "requires_action",
            "completed",
            "failed",
            "cancelled",
            "incomplete",
            "budget_exceeded",
        ] {
            let status = InteractionStatus::parse(spelled);
            assert_eq!(
                (status.as_str(), status.to_string()),
                (spelled, spelled.to_owned())
            );
        }
        let odd = InteractionStatus::parse("paused\u{1b}[2J");
        assert_eq!(odd.as_str(), "paused\u{1b}[2J");
        assert_eq!(odd.to_string(), "paused\\u{1b}[2J", "escaped when shown");
    }
}
