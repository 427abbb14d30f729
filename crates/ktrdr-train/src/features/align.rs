//! Multi-timeframe alignment without look-ahead.
//!
//! A bar is known once it has closed, at its open time plus its duration. A higher-timeframe bar
//! becomes visible at the first base bar whose close is at or after the higher bar's close, and
//! stays the visible one until the next higher bar closes. Before the first higher bar closes
//! nothing is visible: those base rows are warm-up rows (dropped later), never back-filled.
//! (The Python system aligned on open times, so a 4h or daily bar reached the intraday bars of
//! its own span before it had closed, and back-filled warm-up rows from the future.)

/// For each base bar, the index of the latest higher-timeframe bar closed by the base bar's
/// close, or `None` while none has. Times are bar opens in seconds; both slices are increasing.
pub(crate) fn visible_at(
    base_open: &[i64],
    base_secs: i64,
    higher_open: &[i64],
    higher_secs: i64,
) -> Vec<Option<usize>> {
    let mut closed = 0;
    base_open
        .iter()
        .map(|&open| {
            let base_close = open + base_secs;
            while closed < higher_open.len() && higher_open[closed] + higher_secs <= base_close {
                closed += 1;
            }
            closed.checked_sub(1)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;
    const M15: i64 = 900;

    #[test]
    fn an_hour_bar_is_visible_from_the_quarter_that_closes_with_it() {
        // 15m bars from 10:00 to 11:45, 1h bars at 10:00 and 11:00.
        let base: Vec<i64> = (0..8).map(|i| 10 * H + i * M15).collect();
        let hours = [10 * H, 11 * H];
        let vis = visible_at(&base, M15, &hours, H);
        // 10:00..10:30 quarters close before 11:00: no hour has closed.
        // The 10:45 quarter closes at 11:00 with the 10:00 hour.
        // The 11:45 quarter closes at 12:00 with the 11:00 hour.
        assert_eq!(
            vis,
            [
                None,
                None,
                None,
                Some(0),
                Some(0),
                Some(0),
                Some(0),
                Some(1)
            ]
        );
    }

    #[test]
    fn a_daily_bar_is_not_visible_on_its_own_day() {
        let day = 24 * H;
        let base: Vec<i64> = (0..48).map(|i| 5 * day + i * H).collect();
        let days = [4 * day, 5 * day, 6 * day];
        let vis = visible_at(&base, H, &days, day);
        // Every hour of day 5 sees day 4 (closed at the start of day 5), the last hour of
        // day 5 (closing at midnight) sees day 5, day 6's hours see day 5 until its last hour.
        assert!(vis[..23].iter().all(|v| *v == Some(0)));
        assert_eq!(vis[23], Some(1));
        assert!(vis[24..47].iter().all(|v| *v == Some(1)));
        assert_eq!(vis[47], Some(2));
    }

    #[test]
    fn gaps_in_either_series_keep_the_rule() {
        let base = [0, 3 * H, 10 * H];
        let higher = [0, 4 * H];
        let vis = visible_at(&base, H, &higher, 4 * H);
        // The 3h bar closes at 4h with the first 4h bar; the 10h bar, after a gap, sees the
        // second one (closed at 8h).
        assert_eq!(vis, [None, Some(0), Some(1)]);
    }
}
