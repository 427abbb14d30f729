//! How `ktrdr ops` prints operations: full ids, durations in words, a status coloured only
//! when standard output is a terminal (and `NO_COLOR` is unset).

use std::fmt::Write as _;
use std::io::IsTerminal as _;

use ktrdr_ops::progress::format_duration;
use ktrdr_ops::registry::OperationStatus;
use ktrdr_server::api::wire::{OperationInfo, OperationList, OperationSummary};

/// Whether to colour what goes to standard output.
pub(crate) fn colour_stdout() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `status`, in its colour when `colour`: green done, red failed, yellow stopping or stopped,
/// cyan at work.
pub(crate) fn status(status: OperationStatus, colour: bool) -> String {
    let name = status.as_str();
    if !colour {
        return name.to_owned();
    }
    let code = match status {
        OperationStatus::Completed => "32",
        OperationStatus::Failed | OperationStatus::Interrupted => "31",
        OperationStatus::Cancelling | OperationStatus::Cancelled => "33",
        OperationStatus::Pending | OperationStatus::Running => "36",
    };
    format!("\u{1b}[{code}m{name}\u{1b}[0m")
}

/// A duration in seconds as people read it (`1m 5s`), `-` when there is none.
fn duration(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "-".to_owned(), format_duration)
}

/// The page as aligned columns, then the counts.
pub(crate) fn table(list: &OperationList, colour: bool) -> String {
    let rows: Vec<[String; 6]> = list.data.iter().map(row).collect();
    let headers = [
        "OPERATION",
        "STATUS",
        "PROGRESS",
        "DURATION",
        "WHAT",
        "STEP",
    ];
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: [&str; 6], status_shown: &str| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            let shown = if i == 1 { status_shown } else { cell };
            let pad = width.saturating_sub(cell.chars().count());
            if i == cells.len() - 1 {
                text.push_str(shown);
            } else {
                let _ = write!(text, "{shown}{}  ", " ".repeat(pad));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut out, headers, headers[1]);
    for (summary, cells) in list.data.iter().zip(&rows) {
        let coloured = status(summary.status, colour);
        line(&mut out, cells.each_ref().map(String::as_str), &coloured);
    }
    let _ = writeln!(
        out,
        "{} of {} operations shown; {} active",
        list.data.len(),
        list.total_count,
        list.active_count
    );
    out
}

fn row(summary: &OperationSummary) -> [String; 6] {
    let what = match (&summary.symbol, &summary.timeframe) {
        (Some(symbol), Some(tf)) => format!("{} {symbol} {tf}", summary.operation_type),
        (Some(symbol), None) => format!("{} {symbol}", summary.operation_type),
        _ => summary.operation_type.clone(),
    };
    [
        summary.operation_id.clone(),
        summary.status.as_str().to_owned(),
        format!("{:.1}%", summary.progress_percentage),
        duration(summary.duration_seconds),
        what,
        summary.current_step.clone().unwrap_or_default(),
    ]
}

/// One operation, a field a line.
pub(crate) fn detail(info: &OperationInfo, colour: bool) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: &str| {
        let _ = writeln!(out, "{name:<12} {value}");
    };
    field("operation", &info.operation_id);
    field("type", &info.operation_type);
    field("status", &status(info.status, colour));
    let meta = &info.metadata;
    let what: Vec<&str> = [&meta.symbol, &meta.timeframe, &meta.mode]
        .into_iter()
        .filter_map(|v| v.as_deref())
        .collect();
    if !what.is_empty() {
        field("request", &what.join(" "));
    }
    if meta.start_date.is_some() || meta.end_date.is_some() {
        let start = meta.start_date.as_deref().unwrap_or("…");
        let end = meta.end_date.as_deref().unwrap_or("…");
        field("window", &format!("{start} → {end}"));
    }
    field("created", &info.created_at.to_rfc3339());
    if let Some(started) = info.started_at {
        field("started", &started.to_rfc3339());
    }
    if let Some(ended) = info.completed_at {
        field("ended", &ended.to_rfc3339());
    }
    field("duration", &duration(info.duration_seconds));
    let progress = &info.progress;
    let mut shown = format!("{:.1}%", progress.percentage);
    if let Some(step) = &progress.current_step {
        let _ = write!(shown, "  {step}");
    }
    field("progress", &shown);
    if let Some(eta) = progress.eta_seconds {
        let range = match (progress.eta_low_seconds, progress.eta_high_seconds) {
            (Some(low), Some(high)) => {
                format!(" ({}–{})", format_duration(low), format_duration(high))
            }
            _ => String::new(),
        };
        field("eta", &format!("{}{range}", format_duration(eta)));
    }
    if let Some(reason) = &info.cancel_reason {
        field("cancelled", reason);
    }
    if let Some(error) = &info.error_message {
        field("error", error);
    }
    if let Some(summary) = &info.result_summary {
        field("result", &summary.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ktrdr_ops::registry::OperationRecord;
    use serde_json::json;

    fn summary(id: &str, status: OperationStatus) -> OperationSummary {
        let mut record = OperationRecord::pending(id, "data_load", json!({"symbol": "AAPL"}));
        record.status = status;
        OperationSummary::from(&record)
    }

    #[test]
    fn the_table_aligns_full_ids_and_colours_only_when_asked() {
        let list = OperationList {
            success: true,
            data: vec![
                summary(
                    "op_data_load_20250101_000000_0123abcd",
                    OperationStatus::Running,
                ),
                summary("op_x", OperationStatus::Failed),
            ],
            total_count: 7,
            active_count: 1,
        };
        let plain = table(&list, false);
        let lines: Vec<&str> = plain.lines().collect();
        assert!(lines[0].starts_with("OPERATION  "), "{plain}");
        assert!(lines[1].starts_with("op_data_load_20250101_000000_0123abcd  running "));
        assert!(lines[2].starts_with("op_x                                   failed  "));
        assert_eq!(lines[1].find("running"), lines[0].find("STATUS"));
        assert_eq!(lines[3], "2 of 7 operations shown; 1 active");
        assert!(!plain.contains('\u{1b}'));
        let coloured = table(&list, true);
        assert!(coloured.contains("\u{1b}[31mfailed\u{1b}[0m"), "{coloured}");
        // Colour codes do not shift the columns.
        let line = coloured.lines().nth(2).unwrap().replace("\u{1b}[31m", "");
        assert_eq!(line.replace("\u{1b}[0m", ""), lines[2]);
    }

    #[test]
    fn the_detail_names_what_was_asked_and_how_it_ended() {
        let mut record = OperationRecord::pending(
            "op_y",
            "data_load",
            json!({"symbol": "MSFT", "timeframe": "1h", "mode": "tail"}),
        );
        record.status = OperationStatus::Cancelled;
        record.cancel_reason = Some(ktrdr_ops::cancel::CancelReason::User);
        record.result_summary = Some(json!({"bars_saved": 12}));
        let text = detail(&OperationInfo::from(&record), false);
        assert!(text.contains("request      MSFT 1h tail\n"), "{text}");
        assert!(
            text.contains("cancelled    cancelled by the user\n"),
            "{text}"
        );
        assert!(
            text.contains("result       {\"bars_saved\":12}\n"),
            "{text}"
        );
        assert!(text.contains("duration     -\n"), "{text}");
    }
}
