//! [`SseParser`]: the `text/event-stream` format (the WHATWG HTML standard, "Server-sent
//! events"), read from chunks of bytes as they arrive.
//!
//! The few rules a client must follow: lines end with CR LF, LF or CR (also split across
//! chunks); a blank line dispatches the event; `:` starts a comment (keep-alives); `data` lines
//! join with LF; `id` is remembered across events (it is what a reconnect sends as
//! `Last-Event-ID`) unless it contains NUL; an event with no data is not dispatched; unknown
//! fields are ignored.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// Its `event:` name (`message` when it has none).
    pub event: String,
    /// The last `id:` seen in the stream so far, this event's or an earlier one's.
    pub id: Option<String>,
    /// Its `data:` lines, joined with LF.
    pub data: String,
}

/// Turns chunks of a `text/event-stream` into [`SseEvent`]s.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line being received.
    line: Vec<u8>,
    /// The previous chunk ended in CR: a LF starting this one belongs to that line end.
    after_cr: bool,
    /// Whether the first line was read (a byte-order mark before it is dropped).
    started: bool,
    event: String,
    data: String,
    has_data: bool,
    last_id: Option<String>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        SseParser::default()
    }

    /// The last `id:` received, for `Last-Event-ID`.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Reads `chunk`; returns the events it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            let after_cr = std::mem::replace(&mut self.after_cr, false);
            match byte {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    events.extend(self.line_ended(&line));
                }
                _ => self.line.push(byte),
            }
        }
        events
    }

    fn line_ended(&mut self, line: &[u8]) -> Option<SseEvent> {
        let mut line = String::from_utf8_lossy(line);
        if !self.started {
            self.started = true;
            if let Some(rest) = line.strip_prefix('\u{feff}') {
                line = rest.to_owned().into();
            }
        }
        if line.is_empty() {
            return self.dispatch();
        }
        let (field, value) = match line.split_once(':') {
            Some(("", _)) => return None, // a comment
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            _ => {} // `retry` and unknown fields
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        let data = std::mem::take(&mut self.data);
        if !std::mem::replace(&mut self.has_data, false) {
            return None;
        }
        Some(SseEvent {
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            id: self.last_id.clone(),
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, id: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: name.to_owned(),
            id: id.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn events_comments_and_multi_line_data() {
        let mut parser = SseParser::new();
        let events = parser.push(
            b": keep-alive\n\nevent: progress\nid: a1\ndata: {\"x\":\ndata:1}\n\n\
              data: plain\n\nevent: completed\nid: b2\ndata: {}\n\n",
        );
        assert_eq!(
            events,
            [
                event("progress", Some("a1"), "{\"x\":\n1}"),
                event("message", Some("a1"), "plain"),
                event("completed", Some("b2"), "{}"),
            ]
        );
        assert_eq!(parser.last_event_id(), Some("b2"));
    }

    #[test]
    fn any_line_end_also_split_across_chunks() {
        let stream = b"\xef\xbb\xbfevent: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\rdata: 3\n\n";
        // Every way of cutting the stream in two gives the same events.
        for cut in 0..=stream.len() {
            let mut parser = SseParser::new();
            let mut events = parser.push(&stream[..cut]);
            events.extend(parser.push(&stream[cut..]));
            assert_eq!(
                events,
                [
                    event("a", None, "1"),
                    event("b", None, "2"),
                    event("message", None, "3")
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn an_event_without_data_is_not_dispatched_and_a_partial_one_waits() {
        let mut parser = SseParser::new();
        assert!(parser.push(b"event: lonely\nid: 7\n\n").is_empty());
        assert_eq!(parser.last_event_id(), Some("7"), "the id counts even so");
        assert!(parser.push(b"data: half").is_empty());
        assert_eq!(parser.push(b"\n\n"), [event("message", Some("7"), "half")]);
        assert!(parser.push(b"id: bad\0id\ndata:x\n\n")[0].id.as_deref() == Some("7"));
    }
}
