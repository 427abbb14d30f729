//! Which process owns an operation, and whether that process is still alive.
//!
//! An owner is `(host, pid, start token)`. A pid alone is not enough: pids are reused, so a
//! record left `running` by a process that died could otherwise be "owned" by an unrelated
//! process started later with the same pid. On Linux the start token is
//! `{boot_id}:{starttime}` (the kernel's boot id and field 22 of `/proc/<pid>/stat`, the start
//! time in clock ticks since boot), which identifies one process for the life of the machine.
//!
//! Liveness is only decided for owners on this host: an operation owned by a process on another
//! machine (a shared database) is left alone, as is any owner on a system without `/proc`.
//! "This host" means the same kernel host name, so containers that share a database file must
//! have distinct host names (Docker's default): a process in another PID namespace under the
//! same name would look dead.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The process that runs an operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Owner {
    /// Process id.
    pub pid: u32,
    /// Host name of the machine the process runs on.
    pub host: String,
    /// Identifies the process beyond its pid (see the module documentation); `None` where the
    /// platform offers no such token.
    pub start_token: Option<String>,
}

/// What can be said about an owner from this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// The owner process is running.
    Alive,
    /// The owner process has ended (or its pid now belongs to another process).
    Dead,
    /// Cannot tell: another host, or no `/proc` on this platform.
    Unknown,
}

impl Owner {
    /// The current process.
    pub fn current() -> Owner {
        static CURRENT: OnceLock<Owner> = OnceLock::new();
        CURRENT
            .get_or_init(|| {
                let pid = std::process::id();
                Owner {
                    pid,
                    host: host_name(),
                    start_token: start_token(pid),
                }
            })
            .clone()
    }

    /// Whether the owner is still running, seen from this process.
    pub fn liveness(&self) -> Liveness {
        if self.host != host_name() || boot_id().is_none() {
            return Liveness::Unknown;
        }
        match (start_token(self.pid), &self.start_token) {
            (None, _) => Liveness::Dead,
            (Some(now), Some(recorded)) if &now != recorded => Liveness::Dead,
            (Some(_), Some(_)) => Liveness::Alive,
            // A record without a token, on a host that has tokens: the pid exists, which is all
            // that can be said.
            (Some(_), None) => Liveness::Alive,
        }
    }
}

/// This machine's host name: the kernel's, else `$HOSTNAME`, else `"localhost"`.
fn host_name() -> String {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|s| s.trim().to_owned())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "localhost".to_owned())
    })
    .clone()
}

fn boot_id() -> Option<&'static str> {
    static BOOT: OnceLock<Option<String>> = OnceLock::new();
    BOOT.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    })
    .as_deref()
}

/// `{boot_id}:{starttime}` of a live process, `None` if it does not exist (or no `/proc`).
fn start_token(pid: u32) -> Option<String> {
    let boot = boot_id()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or ')', so fields are
    // counted from the last ')'. What follows starts at field 3; starttime is field 22.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let starttime = after_name.split_whitespace().nth(22 - 3)?;
    Some(format!("{boot}:{starttime}"))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn current_process_is_alive() {
        let me = Owner::current();
        assert_eq!(me.pid, std::process::id());
        assert!(me.start_token.is_some());
        assert_eq!(me.liveness(), Liveness::Alive);
    }

    #[test]
    fn a_pid_that_cannot_exist_is_dead() {
        // Linux caps pids at 2^22.
        let ghost = Owner {
            pid: 999_999_999,
            ..Owner::current()
        };
        assert_eq!(ghost.liveness(), Liveness::Dead);
    }

    #[test]
    fn a_reused_pid_is_dead() {
        let reused = Owner {
            start_token: Some("other-boot:1".into()),
            ..Owner::current()
        };
        assert_eq!(reused.liveness(), Liveness::Dead);
    }

    #[test]
    fn another_host_is_unknown() {
        let remote = Owner {
            host: "elsewhere.example".into(),
            pid: 999_999_999,
            ..Owner::current()
        };
        assert_eq!(remote.liveness(), Liveness::Unknown);
    }
}
