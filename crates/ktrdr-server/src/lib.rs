//! ktrdr-server: the HTTP servers of ktrdr. Today the IB host-service protocol server
//! ([`host_service`], run by `ktrdr host-service`); the `/api/v1` API comes later.

pub mod host_service;
