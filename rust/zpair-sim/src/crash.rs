//! Debug crash points: the power-cut tests make `zpair-device` kill itself (SIGKILL, no
//! destructor, no flush) at a precise point and restart it from the same data directory.
//!
//! Never enable them in a library user's process: they kill the whole process.

use zpair_core::machine::State;

/// Where to kill the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// Right after the `n`-th machine action (1-based, counted from boot) was executed.
    AfterAction(u32),
    /// Right after the machine entered this state (the first time after boot).
    AtState(State),
    /// Halfway through the `n`-th storage write (1-based): half the record is on disk.
    InWrite(u32),
}

impl std::str::FromStr for CrashPoint {
    type Err = String;
    /// `action:N`, `state:NAME` (e.g. `state:committing`) or `write:N`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, arg) = s.split_once(':').ok_or_else(|| format!("bad crash point {s:?}"))?;
        let num = || arg.parse::<u32>().map_err(|_| format!("bad number in {s:?}"));
        match kind {
            "action" => Ok(CrashPoint::AfterAction(num()?)),
            "write" => Ok(CrashPoint::InWrite(num()?)),
            "state" => (0..=7)
                .filter_map(State::from_code)
                .find(|st| st.name() == arg)
                .map(CrashPoint::AtState)
                .ok_or_else(|| format!("unknown state {arg:?}")),
            _ => Err(format!("bad crash point {s:?} (action:N, state:NAME, write:N)")),
        }
    }
}

/// Kills the current process with SIGKILL.
pub fn kill_self(at: &str) -> ! {
    tracing::warn!(at, "crash point reached: SIGKILL");
    let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    // SIGKILL cannot be caught; if delivery is somehow delayed, do not run on.
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!("action:3".parse(), Ok(CrashPoint::AfterAction(3)));
        assert_eq!("write:1".parse(), Ok(CrashPoint::InWrite(1)));
        assert_eq!("state:committing".parse(), Ok(CrashPoint::AtState(State::Committing)));
        assert!("state:nope".parse::<CrashPoint>().is_err());
        assert!("x".parse::<CrashPoint>().is_err());
    }
}
