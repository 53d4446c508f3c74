//! The frame every page shares: head, navigation, the stylesheet
//! (embedded: receivers often have no way out to a CDN), and the small
//! pieces pages repeat — a CSRF-carrying form, a state, a time.

use std::time::{Duration, SystemTime};

use http::StatusCode;
use maud::{DOCTYPE, Markup, html};

use crate::inbox::JobState;

/// The stylesheet, inlined in each page.
const STYLE: &str = include_str!("style.css");

/// What a page needs to link and post: the dashboard's base path and the
/// viewer's CSRF token (`None` on the login page).
#[derive(Debug, Clone)]
pub(super) struct Frame {
    /// Where the dashboard is mounted (`/inbox`), without a trailing `/`.
    pub(super) base: String,
    /// The CSRF token of the viewer's credential.
    pub(super) csrf: String,
    /// Whether a logout button makes sense (a login session).
    pub(super) logout: bool,
}

impl Frame {
    /// `path` under the dashboard.
    pub(super) fn link(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A form that POSTs to `path` with the CSRF token, around `fields`.
    pub(super) fn action(&self, path: &str, fields: Markup) -> Markup {
        html! {
            form method="post" action=(self.link(path)) {
                input type="hidden" name="csrf" value=(self.csrf);
                (fields)
            }
        }
    }

    /// A whole page: title, navigation and `content`.
    pub(super) fn page(&self, title: &str, content: Markup) -> Markup {
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · Gemini webhooks inbox" }
                    style { (maud::PreEscaped(STYLE)) }
                }
                body {
                    header {
                        strong { "Gemini webhooks inbox" }
                        nav {
                            a href=(self.link("/")) { "Overview" }
                            a href=(self.link("/jobs")) { "Jobs" }
                            @if cfg!(feature = "reconcile") { a href=(self.link("/tracked")) { "Tracked" } }
                        }
                        @if self.logout {
                            (self.action("/logout", html! { button.secondary type="submit" { "Log out" } }))
                        }
                    }
                    main { h1 { (title) } (content) }
                }
            }
        }
    }
}

/// A page without navigation: `heading` and `content` (an error, a
/// refusal, the login form).
pub(super) fn bare_page(title: &str, heading: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body { main { h1 { (heading) } (content) } }
        }
    }
}

/// A page that only says `message` (an error, or a refusal).
pub(super) fn message_page(status: StatusCode, message: &str) -> Markup {
    let status = status.to_string();
    bare_page(&status, &status, html! { p.problem { (message) } })
}

/// What the action before this page did: a fixed sentence per `code`
/// (never text from the query string, so a link cannot put words in the
/// dashboard's mouth).
pub(super) fn notice(code: Option<&str>, count: Option<&str>) -> Markup {
    let count: u64 = count.and_then(|count| count.parse().ok()).unwrap_or(0);
    let sentence = match code {
        Some("requeued") => format!("{count} job(s) requeued: they run again from attempt 1."),
        Some("paused") => "Workers paused: running jobs finish, no new job starts.".to_owned(),
        Some("resumed") => "Workers resumed.".to_owned(),
        Some("reopened") => "Tracked job reopened: it is polled again.".to_owned(),
        _ => return html! {},
    };
    html! { p.notice role="status" { (sentence) } }
}

/// A job's state, coloured.
pub(super) fn state(state: JobState) -> Markup {
    html! { span class={ "state state-" (state.as_str()) } { (state.as_str()) } }
}

/// A time as UTC, to the second (`2026-12-07 12:00:05`).
pub(super) fn time(at: SystemTime) -> String {
    let at = time::OffsetDateTime::from(at);
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    at.format(format).unwrap_or_default()
}

/// An optional time, or a dash.
pub(super) fn maybe_time(at: Option<SystemTime>) -> String {
    at.map_or_else(|| "–".to_owned(), time)
}

/// A duration as an operator reads it: `42 s`, `7 min`, `3 h 5 min`, `2 d 4 h`.
pub(super) fn age(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        3600..86_400 => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{} d {} h", seconds / 86_400, seconds % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_the_largest_sensible_units() {
        let cases = [
            (0, "0 s"),
            (59, "59 s"),
            (60, "1 min"),
            (3599, "59 min"),
            (3600, "1 h 0 min"),
            (3 * 3600 + 5 * 60 + 9, "3 h 5 min"),
            (86_400, "1 d 0 h"),
            (2 * 86_400 + 4 * 3600, "2 d 4 h"),
        ];
        for (seconds, shown) in cases {
            assert_eq!(age(Duration::from_secs(seconds)), shown);
        }
    }

    #[test]
    fn times_are_utc_to_the_second() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_646_935_805);
        assert_eq!(time(at), "2026-12-07 12:35:35");
        assert_eq!(maybe_time(None), "–");
    }

    #[test]
    fn forms_carry_the_csrf_token_and_text_is_escaped() {
        let frame = Frame {
            base: "/inbox".into(),
            csrf: "tok".into(),
            logout: true,
        };
        let form = frame
            .action("/pause", html! { button { "<Pause>" } })
            .into_string();
        assert!(form.contains(r#"action="/inbox/pause""#), "{form}");
        assert!(form.contains(r#"name="csrf" value="tok""#), "{form}");
        assert!(form.contains("&lt;Pause&gt;"), "{form}");
        let page = frame.page("Jobs", html! {}).into_string();
        assert!(page.contains(r#"href="/inbox/jobs""#), "{page}");
        assert_eq!(
            page.contains("/tracked"),
            cfg!(feature = "reconcile"),
            "{page}"
        );
    }
}
