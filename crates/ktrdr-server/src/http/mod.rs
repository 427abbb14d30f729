//! What both servers share: the connection loop that holds clients to [`ServeLimits`].

mod serve;

pub(crate) use serve::serve_connections;
pub use serve::ServeLimits;
