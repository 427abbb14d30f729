//! Idempotent starts: a key names the one operation started for it.
//!
//! A client that retries a start (a timed-out `POST`, a reconnecting CLI) sends the same key;
//! [`Registry::insert_idempotent`](super::Registry::insert_idempotent) looks the key up and
//! records the new operation with it in one transaction, so two concurrent starts with one
//! key, in one process or two, make one operation.

use super::RegistryError;

/// The longest key accepted, in bytes (Stripe's limit; an HTTP header carries it).
pub const MAX_KEY_LEN: usize = 255;

/// What [`Registry::insert_idempotent`](super::Registry::insert_idempotent) did with a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// The key was free: the operation and the key are recorded.
    Inserted,
    /// The key names an operation started with the same fingerprint; nothing was recorded.
    Existing {
        /// The operation started for the key.
        operation_id: String,
    },
    /// The key names an operation started with another fingerprint (another request body);
    /// nothing was recorded.
    Conflict {
        /// The operation started for the key.
        operation_id: String,
    },
}

/// Checks a key before it is stored: not empty, at most [`MAX_KEY_LEN`] bytes, no control
/// characters.
pub(super) fn check_key(key: &str) -> Result<(), RegistryError> {
    let reason = if key.is_empty() {
        "is empty".to_owned()
    } else if key.len() > MAX_KEY_LEN {
        format!(
            "is {} bytes long; at most {MAX_KEY_LEN} are allowed",
            key.len()
        )
    } else if key.chars().any(char::is_control) {
        "contains control characters".to_owned()
    } else {
        return Ok(());
    };
    Err(RegistryError::InvalidIdempotencyKey {
        key: key.chars().take(64).collect(),
        reason,
    })
}
