//! The training host service protocol: its wire shapes ([`wire`]) and the conversion between a
//! [`TrainingRequest`](crate::pipeline::TrainingRequest) and a start request ([`request`]).
//! The server is `ktrdr_server::training_host`; the client is a training operation's host mode
//! ([`TrainingService::on_host`](crate::pipeline::TrainingService::on_host)).

pub mod request;
pub mod wire;
