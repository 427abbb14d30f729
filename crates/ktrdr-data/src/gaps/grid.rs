//! The grid of expected bar slots: where a calendar says bars of a timeframe should be.
//!
//! Intraday, a session `[open, close)` holds one slot from the open to the first grid point
//! after it, then one slot per bar length until the close (the last one cut at the close).
//! Grid points sit on the exchange's wall clock (`local time ≡ 0 mod bar length`), which is
//! what IB emits: with `useRTH=False` hourly bars start on the hour (04:00, 05:00, … New
//! York); with `useRTH=True` the first hourly bar starts at the 09:30 open and the next at
//! 10:00; IDEALPRO reopens at 17:15, inside the 17:00 slot of the FX session. Daily bars have
//! one slot per session, covering the session's UTC date (the store keeps daily bars at
//! midnight UTC of the session date); weekly bars one slot per Monday-to-Monday UTC week that
//! has a session.

use chrono::{DateTime, Datelike, Days, NaiveDate, Offset, TimeZone};

use crate::calendar::{Calendar, CalendarError, Session, SessionHours};
use crate::types::Timeframe;

const DAY: i64 = 86_400;

/// One expected bar slot `[start, end)`, unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) start: i64,
    pub(crate) end: i64,
    /// Date of the session the slot belongs to (the earliest one, for weekly slots).
    pub(crate) date: NaiveDate,
}

/// A session with the exchange's UTC offset at its open, so the grid can follow the wall clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LocalSession {
    pub(crate) session: Session,
    pub(crate) offset: i64,
}

/// The sessions that can hold bars with timestamps in `[from, to)`: those dated from the day
/// before `from` to the day after `to` (an FX session dated `D` opens on `D - 1`), clamped to
/// the calendar's coverage so that old data is reported rather than refused.
pub(crate) fn sessions_around(
    calendar: Calendar,
    from: i64,
    to: i64,
    hours: SessionHours,
) -> Result<Vec<LocalSession>, CalendarError> {
    let coverage = calendar.coverage();
    let (Some(first), Some(last)) = (utc_date(from), utc_date(to)) else {
        return Ok(Vec::new());
    };
    let first = first
        .checked_sub_days(Days::new(1))
        .unwrap_or(first)
        .max(*coverage.start());
    let last = last
        .checked_add_days(Days::new(1))
        .unwrap_or(last)
        .min(*coverage.end());
    if first > last {
        return Ok(Vec::new());
    }
    let tz = calendar.time_zone();
    Ok(calendar
        .sessions(first, last, hours)?
        .map(|session| LocalSession {
            session,
            offset: DateTime::from_timestamp(session.open, 0).map_or(0, |t| {
                i64::from(
                    tz.offset_from_utc_datetime(&t.naive_utc())
                        .fix()
                        .local_minus_utc(),
                )
            }),
        })
        .collect())
}

pub(crate) use crate::calendar::{midnight, utc_date};

/// True when `ts` lies on the wall-clock grid of `step` seconds.
pub(crate) fn on_grid(ts: i64, offset: i64, step: i64) -> bool {
    (ts + offset).rem_euclid(step) == 0
}

/// The first grid point strictly after `ts`.
pub(crate) fn next_grid_point(ts: i64, offset: i64, step: i64) -> i64 {
    ts + step - (ts + offset).rem_euclid(step)
}

/// Appends the slots of every session, in time order, keeping those that overlap `[from, to)`.
pub(crate) fn slots(
    sessions: &[LocalSession],
    tf: Timeframe,
    from: i64,
    to: i64,
    out: &mut Vec<Slot>,
) {
    let step = tf.seconds();
    let keep = |s: &Slot| from < s.end && s.start < to;
    match tf {
        Timeframe::D1 => out.extend(
            sessions
                .iter()
                .map(|ls| day_slot(ls.session.date))
                .filter(keep),
        ),
        Timeframe::W1 => {
            for ls in sessions {
                let date = ls.session.date;
                let monday = date - Days::new(u64::from(date.weekday().num_days_from_monday()));
                let start = midnight(monday);
                if out.last().is_some_and(|s| s.start == start) {
                    continue;
                }
                let slot = Slot {
                    start,
                    end: start + 7 * DAY,
                    date,
                };
                if keep(&slot) {
                    out.push(slot);
                }
            }
        }
        _ => {
            for ls in sessions {
                let LocalSession { session, offset } = *ls;
                let mut start = session.open;
                while start < session.close {
                    let end = next_grid_point(start, offset, step).min(session.close);
                    let slot = Slot {
                        start,
                        end,
                        date: session.date,
                    };
                    if keep(&slot) {
                        out.push(slot);
                    }
                    start = end;
                }
            }
        }
    }
}

fn day_slot(date: NaiveDate) -> Slot {
    let start = midnight(date);
    Slot {
        start,
        end: start + DAY,
        date,
    }
}

/// Index of the session containing `ts`, by binary search on the sorted, disjoint sessions.
pub(crate) fn containing(sessions: &[LocalSession], ts: i64) -> Option<usize> {
    let i = sessions.partition_point(|s| s.session.close <= ts);
    (i < sessions.len() && sessions[i].session.open <= ts).then_some(i)
}
