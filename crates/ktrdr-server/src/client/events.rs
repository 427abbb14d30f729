//! [`OperationEvents`]: an operation's `GET /operations/{id}/events` stream, read as
//! [`OperationEvent`]s until its terminal event, resuming with `Last-Event-ID` when the
//! connection drops.

use std::collections::VecDeque;
use std::time::Duration;

use reqwest::{Method, StatusCode};

use super::{ApiClient, ClientError, SseEvent, SseParser};
use crate::api::wire::{EventKind, OperationEvent};

/// The server sends a comment every 15 s on a quiet stream; this long without a byte means the
/// connection is dead even if no error says so.
const STALL: Duration = Duration::from_secs(45);

/// How often a dropped stream is reconnected in a row before giving up, and the pause before
/// the first attempt (doubled each time).
const RECONNECTS: u32 = 5;
const FIRST_PAUSE: Duration = Duration::from_millis(250);

impl ApiClient {
    /// Opens the event stream of operation `id`.
    ///
    /// # Errors
    ///
    /// The server's refusal (404 unknown operation, 401 without the token) or a transport
    /// failure, as [`ClientError`].
    pub async fn events(&self, id: &str) -> Result<OperationEvents, ClientError> {
        let mut events = OperationEvents {
            client: self.clone(),
            id: id.to_owned(),
            response: None,
            parser: SseParser::new(),
            ready: VecDeque::new(),
            finished: false,
        };
        events.connect().await?;
        Ok(events)
    }
}

/// The events of one operation, from the current state to the terminal event.
#[derive(Debug)]
pub struct OperationEvents {
    client: ApiClient,
    id: String,
    /// The open connection; `None` once it ended (the next read reconnects).
    response: Option<reqwest::Response>,
    parser: SseParser,
    /// Events read but not handed out yet.
    ready: VecDeque<SseEvent>,
    /// The terminal event was handed out (or the server said there is nothing more).
    finished: bool,
}

impl OperationEvents {
    /// The next event: `None` after the terminal event. A dropped connection is resumed with
    /// `Last-Event-ID` (a few times in a row, pausing between attempts); only a stream that
    /// cannot be resumed is an error.
    pub async fn next(&mut self) -> Option<Result<OperationEvent, ClientError>> {
        let mut attempts = 0;
        while !self.finished {
            if let Some(raw) = self.ready.pop_front() {
                match self.decode(raw) {
                    Some(Ok(event)) => {
                        self.finished = event.kind.is_terminal();
                        return Some(Ok(event));
                    }
                    Some(Err(error)) => return Some(Err(error)),
                    None => continue,
                }
            }
            let ended = match self.read().await {
                Ok(true) => continue,
                Ok(false) => "the server closed the stream".to_owned(),
                Err(error) => error.to_string(),
            };
            // A stream that stops without its terminal event: the server restarted or the
            // network dropped. Resume from the last event received.
            self.response = None;
            loop {
                if attempts == RECONNECTS {
                    let reason = ended;
                    return Some(Err(ClientError::StreamEnded {
                        id: self.id.clone(),
                        reason,
                    }));
                }
                tokio::time::sleep(FIRST_PAUSE * 2u32.pow(attempts)).await;
                attempts += 1;
                match self.connect().await {
                    Ok(()) => break,
                    // Not found any more, or no longer allowed: resuming cannot help.
                    Err(error @ ClientError::Api { .. }) => return Some(Err(error)),
                    Err(error) => tracing::debug!(id = %self.id, %error, "reconnecting"),
                }
            }
        }
        None
    }

    /// The id of the last event received (what a reconnect sends as `Last-Event-ID`).
    pub fn last_event_id(&self) -> Option<&str> {
        self.parser.last_event_id()
    }

    /// Opens a connection, resuming after the last event received; a `204 No Content` means
    /// the client already has the terminal event.
    async fn connect(&mut self) -> Result<(), ClientError> {
        // A stream has no end time; a stalled one is caught by `STALL` instead.
        let mut request = self
            .client
            .untimed_request(Method::GET, &["operations", &self.id, "events"])
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(last) = self.parser.last_event_id() {
            request = request.header("last-event-id", last);
        }
        let response = self.client.respond(request).await?;
        if response.status() == StatusCode::NO_CONTENT {
            self.finished = true;
        } else {
            self.response = Some(response);
        }
        Ok(())
    }

    /// Reads one chunk into `ready`: `Ok(false)` when the connection has ended.
    async fn read(&mut self) -> Result<bool, ClientError> {
        let Some(response) = &mut self.response else {
            return Ok(false);
        };
        let url = || self.client.base_url();
        let chunk = match tokio::time::timeout(STALL, response.chunk()).await {
            Err(_) => return Ok(false),
            Ok(chunk) => chunk.map_err(|source| ClientError::Unreachable { url: url(), source })?,
        };
        match chunk {
            Some(bytes) => {
                self.ready.extend(self.parser.push(&bytes));
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The event `raw` carries; `None` for an event of a kind this client does not know (a
    /// newer server's), which it skips.
    fn decode(&self, raw: SseEvent) -> Option<Result<OperationEvent, ClientError>> {
        let kind = match raw.event.parse::<EventKind>() {
            Ok(kind) => kind,
            Err(unknown) => {
                tracing::debug!(id = %self.id, %unknown, "skipping an event");
                return None;
            }
        };
        let operation = match serde_json::from_str(&raw.data) {
            Ok(operation) => operation,
            Err(source) => {
                let url = format!("{}/operations/{}/events", self.client.base_url(), self.id);
                return Some(Err(ClientError::Decode { url, source }));
            }
        };
        Some(Ok(OperationEvent {
            kind,
            id: raw.id.unwrap_or_default(),
            operation,
        }))
    }
}
