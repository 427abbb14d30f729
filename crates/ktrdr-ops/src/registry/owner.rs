//! Which process owns an operation, and whether that process is still alive.
//!
//! An owner is `(host, pid, start token)`. A pid alone is not enough: pids are reused, so a
//! record left `running` by a process that died could otherwise be "owned" by an unrelated
//! process started later with the same pid. On Linux the start token is
//! `{boot_id}:{starttime}:pidns={inode}`: the kernel's boot id, field 22 of `/proc/<pid>/stat`
//! (the start time in clock ticks since boot) and the inode of `/proc/self/ns/pid`, which names
//! the PID namespace the pid belongs to (`pidns=?` when the owner could not read it).
//!
//! Liveness is only judged for owners this process can actually see, and an owner is called
//! dead only on proof; anything less is [`Liveness::Unknown`] and the operation is left alone:
//! - another host name, or no `/proc` here: unknown;
//! - another PID namespace (containers sharing the host's UTS namespace, hence its name, and
//!   the database file): unknown, since our `/proc` says nothing about its pids;
//! - same namespace: dead if the pid has no process ("no such process" from `kill(pid, 0)`,
//!   asked because `hidepid=2` hides other users' `/proc/<pid>` as if they had ended) or its
//!   start time differs (the pid was reused); unknown if the process exists but its start time
//!   cannot be read (`hidepid=1`, permissions);
//! - another boot id: dead, every process of that boot has ended. This trusts the host name to
//!   name one machine: two machines with the same host name sharing one database file would
//!   mark each other's running operations interrupted.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The process that runs an operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Owner {
    /// Process id, in the owner's PID namespace.
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
    /// Cannot tell: another host or PID namespace, a process we may not inspect, or no `/proc`
    /// on this platform.
    Unknown,
}

impl Owner {
    /// The current process.
    pub fn current() -> Owner {
        static CURRENT: OnceLock<Owner> = OnceLock::new();
        CURRENT
            .get_or_init(|| {
                let pid = std::process::id();
                let here = Here::get();
                let start_token = match (here.boot, probe(pid)) {
                    (Some(boot), Probe::Running { starttime }) => {
                        let ns = here
                            .pid_ns
                            .map_or_else(|| "?".to_owned(), |ns| ns.to_string());
                        Some(format!("{boot}:{starttime}:pidns={ns}"))
                    }
                    _ => None,
                };
                Owner {
                    pid,
                    host: here.host.to_owned(),
                    start_token,
                }
            })
            .clone()
    }

    /// Whether the owner is still running, seen from this process.
    pub fn liveness(&self) -> Liveness {
        judge(self, &Here::get(), probe)
    }
}

/// Where this process runs, as far as judging owners goes.
#[derive(Debug, Clone, Copy)]
struct Here<'a> {
    host: &'a str,
    /// `None` without `/proc`.
    boot: Option<&'a str>,
    /// `None` if `/proc/self/ns/pid` cannot be read.
    pid_ns: Option<u64>,
}

impl Here<'static> {
    fn get() -> Self {
        Here {
            host: host_name(),
            boot: boot_id(),
            pid_ns: pid_namespace(),
        }
    }
}

/// What this process can find out about a pid in its own PID namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// A process has the pid; it started at `starttime` (clock ticks since boot).
    Running { starttime: u64 },
    /// No process has the pid.
    NoSuchProcess,
    /// A process may have the pid, but its start time cannot be read.
    CannotTell,
}

/// The PID namespace a start token records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecordedNs {
    /// `{boot}:{starttime}`, written before namespaces were recorded.
    Legacy,
    /// `pidns=?`: the owner could not read its own namespace.
    Unreadable,
    /// `pidns={inode}`.
    Inode(u64),
}

/// A start token taken apart; `None` for text in no known format.
fn parse_token(token: &str) -> Option<(&str, u64, RecordedNs)> {
    let mut fields = token.split(':');
    let boot = fields.next().filter(|b| !b.is_empty())?;
    let starttime = fields.next()?.parse().ok()?;
    let ns = match fields.next() {
        None => RecordedNs::Legacy,
        Some(field) => match field.strip_prefix("pidns=")? {
            "?" => RecordedNs::Unreadable,
            inode => RecordedNs::Inode(inode.parse().ok()?),
        },
    };
    fields.next().is_none().then_some((boot, starttime, ns))
}

/// The liveness of `owner` as seen from `here`, asking `probe` about pids only once the owner
/// is known to share this PID namespace (see the module documentation for the rules).
fn judge(owner: &Owner, here: &Here<'_>, probe: impl FnOnce(u32) -> Probe) -> Liveness {
    let Some(boot) = here.boot else {
        return Liveness::Unknown;
    };
    if owner.host != here.host {
        return Liveness::Unknown;
    }
    // No token, or one in no known format: written where `/proc` was missing, or by something
    // else. Earlier builds judged a tokenless owner by its pid alone; with nothing to tell a
    // reused pid or another namespace apart, it is now never interrupted.
    let Some((recorded_boot, recorded_start, ns)) =
        owner.start_token.as_deref().and_then(parse_token)
    else {
        return Liveness::Unknown;
    };
    if recorded_boot != boot {
        return Liveness::Dead;
    }
    match ns {
        RecordedNs::Inode(inode) if here.pid_ns == Some(inode) => {}
        // Tokens written before this build (operations active across an upgrade) are judged
        // as then: same host name meant same namespace, the assumption earlier builds
        // documented. Judging them unknown instead would leave the records of every process
        // that died mid-upgrade active for good.
        RecordedNs::Legacy => {}
        RecordedNs::Inode(_) | RecordedNs::Unreadable => return Liveness::Unknown,
    }
    match probe(owner.pid) {
        Probe::Running { starttime } if starttime == recorded_start => Liveness::Alive,
        Probe::Running { .. } | Probe::NoSuchProcess => Liveness::Dead,
        Probe::CannotTell => Liveness::Unknown,
    }
}

/// This machine's host name: the kernel's, else `$HOSTNAME`, else `"localhost"`.
fn host_name() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|s| s.trim().to_owned())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "localhost".to_owned())
    })
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

/// The inode of this process's PID namespace; two processes share the namespace exactly when
/// the inodes are equal (all namespace files live on the one `nsfs` of the kernel).
#[cfg(unix)]
fn pid_namespace() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    static NS: OnceLock<Option<u64>> = OnceLock::new();
    *NS.get_or_init(|| std::fs::metadata("/proc/self/ns/pid").ok().map(|m| m.ino()))
}

#[cfg(not(unix))]
fn pid_namespace() -> Option<u64> {
    None
}

/// What `/proc` (and, where it is silent, the kernel) says about `pid` in this namespace.
fn probe(pid: u32) -> Probe {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => parse_starttime(&stat)
            .map_or(Probe::CannotTell, |starttime| Probe::Running { starttime }),
        Err(_) => process_exists(pid),
    }
}

/// `starttime` (field 22) of a `/proc/<pid>/stat` line.
fn parse_starttime(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces or ')', so fields are
    // counted from the last ')'. What follows starts at field 3.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// `/proc/<pid>` unreadable: `kill(pid, 0)` (which sends nothing) tells "no such process"
/// (`ESRCH`) from a process we may not see or signal.
#[cfg(target_os = "linux")]
fn process_exists(pid: u32) -> Probe {
    use rustix::process::{test_kill_process, Pid};
    // Pid 0 and values past `i32::MAX` name process groups in kill(2), never one process, so
    // no owner can have them.
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return Probe::NoSuchProcess;
    };
    match test_kill_process(pid) {
        Err(rustix::io::Errno::SRCH) => Probe::NoSuchProcess,
        Ok(()) | Err(_) => Probe::CannotTell,
    }
}

#[cfg(not(target_os = "linux"))]
fn process_exists(_pid: u32) -> Probe {
    Probe::CannotTell
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOT: &str = "6c1f0d4e-boot";

    fn here() -> Here<'static> {
        Here {
            host: "box",
            boot: Some(BOOT),
            pid_ns: Some(4026531836),
        }
    }

    fn owner(token: Option<&str>) -> Owner {
        Owner {
            pid: 4242,
            host: "box".into(),
            start_token: token.map(str::to_owned),
        }
    }

    /// Judges `token` against a probe that reports `seen`, and checks the probe was asked
    /// about the owner's pid (or not at all).
    fn judged(token: Option<&str>, seen: Probe) -> Liveness {
        judge(&owner(token), &here(), |pid| {
            assert_eq!(pid, 4242);
            seen
        })
    }

    const SAME_NS: &str = "6c1f0d4e-boot:777:pidns=4026531836";
    const RUNNING_777: Probe = Probe::Running { starttime: 777 };

    #[test]
    fn same_namespace_is_judged_by_the_pid_and_its_start_time() {
        assert_eq!(judged(Some(SAME_NS), RUNNING_777), Liveness::Alive);
        let reused = Probe::Running { starttime: 778 };
        assert_eq!(judged(Some(SAME_NS), reused), Liveness::Dead);
        assert_eq!(judged(Some(SAME_NS), Probe::NoSuchProcess), Liveness::Dead);
    }

    #[test]
    fn a_process_that_cannot_be_inspected_is_unknown_not_dead() {
        assert_eq!(judged(Some(SAME_NS), Probe::CannotTell), Liveness::Unknown);
    }

    #[test]
    fn another_pid_namespace_is_unknown_whatever_our_proc_says() {
        let never = |_| -> Probe { panic!("another namespace's pid must not be probed here") };
        for token in [
            "6c1f0d4e-boot:777:pidns=4026532999",
            "6c1f0d4e-boot:777:pidns=?",
        ] {
            assert_eq!(
                judge(&owner(Some(token)), &here(), never),
                Liveness::Unknown
            );
        }
        let blind = Here {
            pid_ns: None,
            ..here()
        };
        assert_eq!(
            judge(&owner(Some(SAME_NS)), &blind, never),
            Liveness::Unknown
        );
    }

    #[test]
    fn legacy_tokens_are_judged_as_before_in_this_namespace() {
        let legacy = Some("6c1f0d4e-boot:777");
        assert_eq!(judged(legacy, RUNNING_777), Liveness::Alive);
        assert_eq!(judged(legacy, Probe::NoSuchProcess), Liveness::Dead);
        assert_eq!(
            judged(legacy, Probe::Running { starttime: 1 }),
            Liveness::Dead
        );
        assert_eq!(judged(legacy, Probe::CannotTell), Liveness::Unknown);
    }

    #[test]
    fn another_boot_is_dead_and_another_host_unknown() {
        let never = |_| -> Probe { panic!("no probe needed") };
        let rebooted = owner(Some("old-boot:777:pidns=4026531836"));
        assert_eq!(judge(&rebooted, &here(), never), Liveness::Dead);
        let remote = Owner {
            host: "elsewhere".into(),
            ..owner(Some(SAME_NS))
        };
        assert_eq!(judge(&remote, &here(), never), Liveness::Unknown);
        let no_proc = Here {
            boot: None,
            ..here()
        };
        assert_eq!(
            judge(&owner(Some(SAME_NS)), &no_proc, never),
            Liveness::Unknown
        );
    }

    #[test]
    fn missing_or_unparseable_tokens_are_unknown() {
        for token in [
            None,
            Some(""),
            Some("6c1f0d4e-boot"),
            Some("6c1f0d4e-boot:soon"),
            Some("6c1f0d4e-boot:777:ns=4026531836"),
            Some("6c1f0d4e-boot:777:pidns=-1"),
            Some("6c1f0d4e-boot:777:pidns=4026531836:extra"),
        ] {
            assert_eq!(judged(token, RUNNING_777), Liveness::Unknown, "{token:?}");
        }
    }

    #[test]
    fn tokens_parse_in_every_known_format() {
        assert_eq!(
            parse_token(SAME_NS),
            Some((BOOT, 777, RecordedNs::Inode(4026531836)))
        );
        assert_eq!(
            parse_token("b:1:pidns=?"),
            Some(("b", 1, RecordedNs::Unreadable))
        );
        assert_eq!(parse_token("b:1"), Some(("b", 1, RecordedNs::Legacy)));
    }

    #[test]
    fn starttime_is_field_22_even_with_parentheses_in_the_name() {
        let fields: Vec<String> = (3..=30).map(|f| f.to_string()).collect();
        let stat = format!("12 (a) b (c)) {}", fields.join(" "));
        assert_eq!(parse_starttime(&stat), Some(22));
        assert_eq!(parse_starttime("12 (truncated"), None);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod linux_tests {
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
        let me = Owner::current();
        let token = me.start_token.clone().unwrap();
        let (boot, start, ns) = parse_token(&token).unwrap();
        assert_eq!(ns, RecordedNs::Inode(pid_namespace().unwrap()));
        let reused = Owner {
            start_token: Some(token.replace(
                &format!("{boot}:{start}:"),
                &format!("{boot}:{}:", start + 1),
            )),
            ..me.clone()
        };
        assert_eq!(reused.liveness(), Liveness::Dead);
        let rebooted = Owner {
            start_token: Some("other-boot:1".into()),
            ..me
        };
        assert_eq!(rebooted.liveness(), Liveness::Dead);
    }

    #[test]
    fn this_process_seen_from_another_namespace_is_unknown() {
        let me = Owner::current();
        let ns = pid_namespace().unwrap();
        let elsewhere = Owner {
            pid: 999_999_999,
            start_token: me
                .start_token
                .as_deref()
                .map(|t| t.replace(&format!("pidns={ns}"), &format!("pidns={}", ns + 1))),
            ..me
        };
        assert_eq!(elsewhere.liveness(), Liveness::Unknown);
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
