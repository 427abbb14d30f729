//! ktrdr-server: the HTTP servers of ktrdr: the `/api/v1` backend ([`api`], run by
//! `ktrdr serve`) and its [`client`], and the IB host-service protocol server
//! ([`host_service`], run by `ktrdr host-service`), and the training host service protocol
//! server ([`training_host`], run by `ktrdr training-host-service`), on one connection loop
//! ([`http`]).

pub mod api;
pub mod client;
pub mod host_service;
pub mod http;
pub mod training_host;
