//! Interactive Brokers: what the broker's requests and errors mean ([`request`], always
//! compiled, since the `host` provider reads IB's error texts too) and the direct provider
//! (`IbProvider`, cargo feature `ib`, on the `ibapi` crate).

#[cfg(feature = "ib")]
mod client;
pub mod request;

#[cfg(feature = "ib")]
pub use client::{IbConfig, IbProvider};
