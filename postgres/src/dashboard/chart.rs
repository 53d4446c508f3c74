//! The overview's chart: deliveries, failures and dead letters per minute
//! over the last 24 hours, as inline SVG — one column per minute, no
//! script, no library.

use std::time::{Duration, SystemTime};

use maud::{Markup, html};

use crate::inbox::MinuteActivity;

/// Minutes in the chart, one unit of width each.
const MINUTES: u64 = 24 * 60;
/// The bars' height, in the drawing's units.
const HEIGHT: u64 = 120;

/// The chart of `minutes` as of `now`, with a legend and hour marks.
pub(super) fn chart(minutes: &[MinuteActivity], now: SystemTime) -> Markup {
    let bars: Vec<(u64, &MinuteActivity)> = minutes
        .iter()
        .filter_map(|minute| Some((column(minute.minute, now)?, minute)))
        .collect();
    let peak = bars
        .iter()
        .map(|(_, minute)| minute.received.max(minute.failed))
        .max()
        .unwrap_or(0)
        .max(1);
    let height = |count: u64| (count * HEIGHT).div_ceil(peak);
    html! {
        svg.chart role="img" aria-label="Deliveries, failures and dead letters per minute, last 24 hours"
            viewBox={ "0 0 " (MINUTES) " " (HEIGHT) } preserveAspectRatio="none" width="100%" height="140" {
            @for (x, minute) in &bars {
                @for (class, count) in [("received", minute.received), ("failed", minute.failed), ("dead", minute.dead)] {
                    @if count > 0 {
                        rect class=(class) x=(x) width="1" y=(HEIGHT - height(count)) height=(height(count)) {
                            title { (count) " " (class) }
                        }
                    }
                }
            }
        }
        div.legend {
            span { i.received style="background:#8fb3e3" {} "received" }
            span { i style="background:#e0a060" {} "failed" }
            span { i style="background:#b3261e" {} "dead" }
            span { "peak " (peak) " per minute; 24 h ago → now" }
        }
    }
}

/// The column of the minute starting at `at`: 0 is 24 hours ago, the last
/// one now; `None` outside the chart.
fn column(at: SystemTime, now: SystemTime) -> Option<u64> {
    let ago = now.duration_since(at).unwrap_or(Duration::ZERO).as_secs() / 60;
    (ago < MINUTES).then(|| MINUTES - 1 - ago)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minute(
        ago_minutes: u64,
        received: u64,
        failed: u64,
        dead: u64,
        now: SystemTime,
    ) -> MinuteActivity {
        MinuteActivity {
            minute: now - Duration::from_secs(ago_minutes * 60),
            received,
            failed,
            dead,
        }
    }

    #[test]
    fn each_minute_is_a_column_and_bars_scale_to_the_peak() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let minutes = [
            minute(0, 10, 0, 0, now),
            minute(60, 5, 2, 1, now),
            minute(24 * 60, 99, 0, 0, now), // older than the chart
        ];
        let svg = chart(&minutes, now).into_string();
        assert!(
            svg.contains(r#"class="received" x="1439" width="1" y="0" height="120""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"class="received" x="1379" width="1" y="60" height="60""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"class="failed" x="1379" width="1" y="96" height="24""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"class="dead" x="1379" width="1" y="108" height="12""#),
            "{svg}"
        );
        assert!(!svg.contains("99 received"), "{svg}");
        assert!(svg.contains("peak 10 per minute"), "{svg}");
    }

    #[test]
    fn an_empty_day_draws_no_bar() {
        let svg = chart(&[], SystemTime::now()).into_string();
        assert!(
            !svg.contains("<rect") && svg.contains("peak 1 per minute"),
            "{svg}"
        );
    }
}
