//! Choosing and building the provider of a load from what the caller said and the environment.
//!
//! A front end (the CLI's flags, later the API's request) fills a [`SourceChoice`] with what it
//! was told; [`SourceChoice::with_env`] completes it from the environment the Python system
//! also read; [`SourceChoice::resolve`] turns it into a [`SourceConfig`], which
//! [`SourceConfig::connect`] builds into the provider. The environment:
//!
//! | variable | meaning |
//! |---|---|
//! | [`DATA_SOURCE_ENV`] (`KTRDR_DATA_SOURCE`) | the source, `sim`, `host` or `ib` |
//! | [`USE_HOST_SERVICE_ENV`] (`USE_IB_HOST_SERVICE`) | the Python switch: `true`/`1`/`yes`/`on` means `host` |
//! | [`HOST_URL_ENV`] (`IB_HOST_SERVICE_URL`) | the host service's URL (default [`DEFAULT_HOST_URL`]) |
//! | [`IB_ADDRESS_ENV`] (`IB_GATEWAY_ADDRESS`) | `host:port` of IB Gateway (default [`DEFAULT_IB_ADDRESS`]) |
//!
//! What the caller said wins over the environment. No source is ever assumed: a fetching load
//! without one is an error ([`SourceError::NotConfigured`]), never simulated data.
//!
//! ```
//! use ktrdr_data::provider::source::{SourceChoice, SourceKind};
//!
//! let env = |name: &str| (name == "USE_IB_HOST_SERVICE").then(|| "true".to_owned());
//! let config = SourceChoice::default().with_env_from(env)?.resolve()?;
//! assert_eq!(config.kind, SourceKind::Host);
//! assert_eq!(config.host_url, "http://localhost:5001");
//! # Ok::<(), ktrdr_data::provider::source::SourceError>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::host::{HostProvider, HostProviderConfig};
use super::sim::{SimConfig, SimConfigError, SimProvider};
use super::{DataProvider, ProviderError};
use crate::pacing::PacingRules;
use ktrdr_ops::host::redact_url;

/// The variable naming the data source (`sim`, `host` or `ib`).
pub const DATA_SOURCE_ENV: &str = "KTRDR_DATA_SOURCE";
/// The Python system's switch for the host service.
pub const USE_HOST_SERVICE_ENV: &str = "USE_IB_HOST_SERVICE";
/// The variable with the host service's URL.
pub const HOST_URL_ENV: &str = "IB_HOST_SERVICE_URL";
/// The variable with IB Gateway's `host:port`.
pub const IB_ADDRESS_ENV: &str = "IB_GATEWAY_ADDRESS";
/// The host service's URL when none is given (the Python default port).
pub const DEFAULT_HOST_URL: &str = "http://localhost:5001";
/// IB Gateway's address when none is given (the paper-trading port).
pub const DEFAULT_IB_ADDRESS: &str = "127.0.0.1:4002";
/// The IB API client id when none is given (the Python system's DataManager range is 111-120).
pub const DEFAULT_IB_CLIENT_ID: i32 = 111;

/// Where bars come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// The built-in simulated broker (made-up data, for demos and tests).
    Sim,
    /// An IB host service over HTTP (ours or the Python one).
    Host,
    /// IB Gateway directly (needs a build with the `ib` feature).
    Ib,
}

impl SourceKind {
    /// Every kind, in the order help texts list them.
    pub const ALL: [SourceKind; 3] = [SourceKind::Sim, SourceKind::Host, SourceKind::Ib];

    /// The name used in settings: `sim`, `host`, `ib`.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Sim => "sim",
            SourceKind::Host => "host",
            SourceKind::Ib => "ib",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SourceKind {
    type Err = UnknownSource;
    fn from_str(s: &str) -> Result<Self, UnknownSource> {
        let wanted = s.trim();
        SourceKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownSource {
                value: s.to_owned(),
            })
    }
}

/// A source name that is not `sim`, `host` or `ib`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown data source {value:?} (possible values: sim, host, ib)")]
pub struct UnknownSource {
    /// The value given.
    pub value: String,
}

/// What choosing or building a source can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// Neither the caller nor the environment named a source.
    #[error(
        "no data source configured: choose sim (the built-in simulated broker, made-up data), \
         host (an IB host service) or ib (IB Gateway directly), or set {DATA_SOURCE_ENV}, or \
         {USE_HOST_SERVICE_ENV}=true with {HOST_URL_ENV}"
    )]
    NotConfigured,
    /// An environment variable holds a value that cannot be used.
    #[error("{variable}={value:?} is not a data source (possible values: sim, host, ib)")]
    BadEnv {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
    },
    /// The simulated broker's settings are invalid.
    #[error("invalid simulated broker settings: {0}")]
    Sim(#[from] SimConfigError),
    /// The host service's URL cannot be used.
    #[error("invalid host service URL {url:?}: {source}")]
    HostUrl {
        /// The URL given, its user information (a password) redacted.
        url: String,
        /// Why the client refused it.
        #[source]
        source: ktrdr_ops::host::BuildError,
    },
    /// This build has no direct IB provider.
    #[error(
        "the ib source talks to IB Gateway directly ({address} as client {client_id}) and needs \
         ktrdr built with the `ib` feature; with a running IB host service, use the host source"
    )]
    IbNotBuilt {
        /// The gateway address.
        address: String,
        /// The client id.
        client_id: i32,
    },
    /// Connecting to IB Gateway failed.
    #[error("cannot connect to IB Gateway at {address}: {source}")]
    IbConnect {
        /// The gateway address.
        address: String,
        /// The provider's error.
        #[source]
        source: ProviderError,
    },
}

/// What the caller said about the source; `None` is "not said" (the environment or the default
/// decides).
#[derive(Debug, Clone, Default)]
pub struct SourceChoice {
    /// The source.
    pub kind: Option<SourceKind>,
    /// The host service's URL (source host).
    pub host_url: Option<String>,
    /// The pacing rules of the broker (sources host and ib; IB's conservative rules if unset).
    pub pacing: Option<PacingRules>,
    /// IB Gateway's `host:port` (source ib).
    pub ib_address: Option<String>,
    /// The IB API client id (source ib).
    pub ib_client_id: Option<i32>,
}

impl SourceChoice {
    /// Fills what the caller left unset from the process environment (see the module docs).
    pub fn with_env(self) -> Result<Self, SourceError> {
        self.with_env_from(|name| std::env::var(name).ok())
    }

    /// [`with_env`](Self::with_env) reading variables through `var` (for tests and embedders).
    pub fn with_env_from(
        mut self,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SourceError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if self.kind.is_none() {
            self.kind = match set(DATA_SOURCE_ENV) {
                Some(value) => Some(value.parse().map_err(|_| SourceError::BadEnv {
                    variable: DATA_SOURCE_ENV,
                    value,
                })?),
                None => set(USE_HOST_SERVICE_ENV)
                    .is_some_and(|v| is_true(&v))
                    .then_some(SourceKind::Host),
            };
        }
        self.host_url = self.host_url.or_else(|| set(HOST_URL_ENV));
        self.ib_address = self.ib_address.or_else(|| set(IB_ADDRESS_ENV));
        Ok(self)
    }

    /// The configuration of the chosen source, with defaults for what is unset.
    ///
    /// # Errors
    ///
    /// [`SourceError::NotConfigured`] when no source was chosen.
    pub fn resolve(self) -> Result<SourceConfig, SourceError> {
        let kind = self.kind.ok_or(SourceError::NotConfigured)?;
        Ok(SourceConfig {
            kind,
            host_url: self.host_url.unwrap_or_else(|| DEFAULT_HOST_URL.to_owned()),
            pacing: self.pacing.unwrap_or_else(PacingRules::ib_conservative),
            ib_address: self
                .ib_address
                .unwrap_or_else(|| DEFAULT_IB_ADDRESS.to_owned()),
            ib_client_id: self.ib_client_id.unwrap_or(DEFAULT_IB_CLIENT_ID),
        })
    }
}

/// The Python system's reading of a boolean variable.
fn is_true(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// A chosen source with every setting decided.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// The source.
    pub kind: SourceKind,
    /// The host service's URL (source host).
    pub host_url: String,
    /// The pacing rules of the broker (sources host and ib; the simulated broker keeps its own).
    pub pacing: PacingRules,
    /// IB Gateway's `host:port` (source ib).
    pub ib_address: String,
    /// The IB API client id (source ib).
    pub ib_client_id: i32,
}

impl SourceConfig {
    /// Builds the provider; the ib source connects to the gateway, the others send nothing yet.
    pub async fn connect(&self) -> Result<Arc<dyn DataProvider>, SourceError> {
        match self.kind {
            SourceKind::Sim => Ok(Arc::new(SimProvider::new(SimConfig::default())?)),
            SourceKind::Host => {
                let config = HostProviderConfig {
                    pacing: self.pacing.clone(),
                    ..HostProviderConfig::new(self.host_url.clone())
                };
                let provider =
                    HostProvider::new(config).map_err(|source| SourceError::HostUrl {
                        url: redact_url(&self.host_url).into_owned(),
                        source,
                    })?;
                Ok(Arc::new(provider))
            }
            SourceKind::Ib => self.connect_ib().await,
        }
    }

    #[cfg(feature = "ib")]
    async fn connect_ib(&self) -> Result<Arc<dyn DataProvider>, SourceError> {
        use super::ib::{IbConfig, IbProvider};
        let config = IbConfig {
            pacing: self.pacing.clone(),
            ..IbConfig::new(self.ib_address.clone(), self.ib_client_id)
        };
        let provider =
            IbProvider::connect(config)
                .await
                .map_err(|source| SourceError::IbConnect {
                    address: self.ib_address.clone(),
                    source,
                })?;
        Ok(Arc::new(provider))
    }

    #[cfg(not(feature = "ib"))]
    async fn connect_ib(&self) -> Result<Arc<dyn DataProvider>, SourceError> {
        Err(SourceError::IbNotBuilt {
            address: self.ib_address.clone(),
            client_id: self.ib_client_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn the_caller_wins_over_the_environment() {
        let choice = SourceChoice {
            kind: Some(SourceKind::Sim),
            host_url: Some("http://a:1".into()),
            ..SourceChoice::default()
        };
        let vars = [
            (DATA_SOURCE_ENV, "host"),
            (HOST_URL_ENV, "http://b:2"),
            (IB_ADDRESS_ENV, "10.0.0.1:4001"),
        ];
        let config = choice.with_env_from(env(&vars)).unwrap().resolve().unwrap();
        assert_eq!(config.kind, SourceKind::Sim);
        assert_eq!(config.host_url, "http://a:1");
        assert_eq!(config.ib_address, "10.0.0.1:4001");
        assert_eq!(config.ib_client_id, DEFAULT_IB_CLIENT_ID);
    }

    #[test]
    fn the_environment_names_the_source_and_the_python_switch_means_host() {
        let from = |vars: &[(&str, &str)]| {
            SourceChoice::default()
                .with_env_from(env(vars))
                .unwrap()
                .kind
        };
        assert_eq!(from(&[(DATA_SOURCE_ENV, " IB ")]), Some(SourceKind::Ib));
        assert_eq!(
            from(&[(USE_HOST_SERVICE_ENV, "yes")]),
            Some(SourceKind::Host)
        );
        assert_eq!(from(&[(USE_HOST_SERVICE_ENV, "false")]), None);
        assert_eq!(
            from(&[(DATA_SOURCE_ENV, "sim"), (USE_HOST_SERVICE_ENV, "true")]),
            Some(SourceKind::Sim)
        );
        assert_eq!(from(&[(DATA_SOURCE_ENV, "")]), None, "empty is unset");
    }

    #[test]
    fn a_bad_variable_and_a_missing_source_are_errors_naming_no_flag() {
        let err = SourceChoice::default()
            .with_env_from(env(&[(DATA_SOURCE_ENV, "carrier-pigeon")]))
            .unwrap_err();
        assert!(matches!(
            err,
            SourceError::BadEnv {
                variable: DATA_SOURCE_ENV,
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "KTRDR_DATA_SOURCE=\"carrier-pigeon\" is not a data source (possible values: sim, host, ib)"
        );
        let err = SourceChoice::default().resolve().unwrap_err();
        assert!(matches!(err, SourceError::NotConfigured));
        assert!(!err.to_string().contains("--"), "{err}");
    }

    #[tokio::test]
    async fn each_source_builds_its_provider() {
        let config = |kind| SourceChoice {
            kind: Some(kind),
            ..SourceChoice::default()
        };
        let sim = config(SourceKind::Sim)
            .resolve()
            .unwrap()
            .connect()
            .await
            .unwrap();
        assert!(
            sim.describe().name.starts_with("sim"),
            "{}",
            sim.describe().name
        );
        let host = config(SourceKind::Host)
            .resolve()
            .unwrap()
            .connect()
            .await
            .unwrap();
        assert!(
            host.describe().name.contains("localhost:5001"),
            "{}",
            host.describe().name
        );
        let bad = SourceChoice {
            host_url: Some("not a url".into()),
            ..config(SourceKind::Host)
        };
        let err = bad.resolve().unwrap().connect().await.err().unwrap();
        assert!(matches!(err, SourceError::HostUrl { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_password_in_the_host_url_shows_in_neither_the_name_nor_an_error() {
        let host = |url: &str| SourceChoice {
            kind: Some(SourceKind::Host),
            host_url: Some(url.to_owned()),
            ..SourceChoice::default()
        };
        let provider = host("http://ib:hunter2@gw:5001").resolve().unwrap();
        let name = provider.connect().await.unwrap().describe().name;
        assert_eq!(name, "host (IB host service at http://***@gw:5001/)");
        let bad = host("ftp://ib:hunter2@gw:5001").resolve().unwrap();
        let err = bad.connect().await.err().unwrap();
        assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
    }

    #[test]
    fn kinds_parse_case_blind_and_print_as_their_setting() {
        for kind in SourceKind::ALL {
            assert_eq!(kind.to_string().to_uppercase().parse(), Ok(kind));
        }
        assert!("pigeon".parse::<SourceKind>().is_err());
    }
}
