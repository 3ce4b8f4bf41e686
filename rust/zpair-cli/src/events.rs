//! What the commissioner tells the person (or script) while it works.
//!
//! The library emits [`Event`]s to an [`Observer`]; the CLI has three: [`JsonLines`] (`--json`:
//! one JSON object per line, stable field names), [`Human`] (indicatif spinners per step on a
//! terminal, plain lines otherwise) and [`Recorder`] (keeps them, for the demo's timeline and
//! for tests). No event ever carries a secret.
//!
//! # JSON shapes
//!
//! Every line is an object with `"event"` and `"t_ms"` (milliseconds since the command
//! started):
//!
//! ```text
//! {"event":"step_started","t_ms":12,"step":"handshake","detail":"..."}
//! {"event":"step_done","t_ms":80,"step":"handshake","detail":"..."}
//! {"event":"status","t_ms":81,"state":"joining_network","error":null,"attempt":0}
//! {"event":"note","t_ms":90,"message":"..."}
//! {"event":"found","t_ms":5,"mode":"ble","device":"0011223344556677","product":23120,...}
//! {"event":"result","t_ms":900,"ok":true, ...command specific fields...}
//! {"event":"error","t_ms":900,"error":"wrong_password","code":49,"class":"network","exit":5,"message":"...","hint":"..."}
//! ```

use crate::error::CliError;
use serde::Serialize;
use std::io::Write;
use std::time::{Duration, Instant};

/// A step of a command, as shown to the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Finding the device (advert, SoftAP, announcement, QR).
    Discover,
    /// Getting an activation token from the cloud.
    Token,
    /// Connecting to the device (joining its AP, BLE connection, UDP session).
    Connect,
    /// The SPAKE2+ handshake with the setup code.
    Handshake,
    /// Handing over the credentials.
    Credentials,
    /// The device joins the network.
    Joining,
    /// The device activates with the cloud.
    Activating,
    /// Binding a cellular device in the cloud.
    Bind,
    /// A Wi-Fi scan through the device.
    Scan,
}

impl Step {
    /// A label for people.
    pub const fn label(self) -> &'static str {
        match self {
            Step::Discover => "Discover",
            Step::Token => "Activation token",
            Step::Connect => "Connect",
            Step::Handshake => "Secure session",
            Step::Credentials => "Credentials",
            Step::Joining => "Device joining network",
            Step::Activating => "Activation",
            Step::Bind => "Bind in the cloud",
            Step::Scan => "Wi-Fi scan",
        }
    }
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A step began.
    StepStarted {
        /// Which.
        step: Step,
        /// What exactly (device, address ...).
        detail: String,
    },
    /// A step finished.
    StepDone {
        /// Which.
        step: Step,
        /// The outcome.
        detail: String,
    },
    /// A status from the device.
    Status {
        /// `PairState::name`.
        state: &'static str,
        /// `PairError::name`, if the status carries one.
        error: Option<&'static str>,
        /// The attempt of the current step (0 = first).
        attempt: u8,
    },
    /// Something worth telling that is not a step.
    Note {
        /// The sentence.
        message: String,
    },
    /// A device found by `discover`.
    Found {
        /// `softap`, `ble`, `wired` or `cellular`.
        mode: &'static str,
        /// Device id, 16 hex digits.
        device: String,
        /// Product id, when the advert carries it.
        product: Option<u32>,
        /// The 12-bit discriminator.
        discriminator: u16,
        /// Pairing state as advertised (`window_open` ...), when known.
        state: Option<String>,
        /// Where: SSID, socket path, address.
        address: String,
    },
    /// The command's result (command-specific fields).
    Result {
        /// Always `true` (failures are `error`).
        ok: bool,
        /// The fields.
        #[serde(flatten)]
        fields: serde_json::Map<String, serde_json::Value>,
    },
    /// The command failed.
    Error {
        /// The failure.
        #[serde(flatten)]
        error: CliError,
        /// The exit code.
        exit: i32,
    },
}

impl Event {
    /// A step-started event.
    pub fn started(step: Step, detail: impl Into<String>) -> Self {
        Event::StepStarted { step, detail: detail.into() }
    }
    /// A step-done event.
    pub fn done(step: Step, detail: impl Into<String>) -> Self {
        Event::StepDone { step, detail: detail.into() }
    }
    /// A note.
    pub fn note(message: impl Into<String>) -> Self {
        Event::Note { message: message.into() }
    }
    /// A result from a JSON object (other values are wrapped as `{"value": v}`).
    pub fn result(v: serde_json::Value) -> Self {
        let fields = match v {
            serde_json::Value::Object(m) => m,
            other => {
                let mut m = serde_json::Map::new();
                m.insert("value".into(), other);
                m
            }
        };
        Event::Result { ok: true, fields }
    }
    /// An error event.
    pub fn error(e: &CliError) -> Self {
        Event::Error { error: e.clone(), exit: e.exit_code() }
    }
}

/// Receives events.
pub trait Observer {
    /// One event.
    fn event(&mut self, e: &Event);
}

impl<O: Observer + ?Sized> Observer for &mut O {
    fn event(&mut self, e: &Event) {
        (**self).event(e)
    }
}

/// Ignores everything.
#[derive(Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {
    fn event(&mut self, _: &Event) {}
}

/// Keeps every event with its time.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    /// The events, with the time since the recorder was created.
    pub events: Vec<(Duration, Event)>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder { start: Instant::now(), events: Vec::new() }
    }
}

impl Recorder {
    /// A recorder whose clock starts at `start`.
    pub fn since(start: Instant) -> Self {
        Recorder { start, events: Vec::new() }
    }

    /// When `step` finished, if it did.
    pub fn step_done_at(&self, step: Step) -> Option<Duration> {
        self.events.iter().find(|(_, e)| matches!(e, Event::StepDone { step: s, .. } if *s == step)).map(|(t, _)| *t)
    }
}

impl Observer for Recorder {
    fn event(&mut self, e: &Event) {
        self.events.push((self.start.elapsed(), e.clone()));
    }
}

/// Fans events out to two observers.
pub struct Tee<A, B>(pub A, pub B);

impl<A: Observer, B: Observer> Observer for Tee<A, B> {
    fn event(&mut self, e: &Event) {
        self.0.event(e);
        self.1.event(e);
    }
}

/// `--json`: one JSON object per line.
pub struct JsonLines<W: Write> {
    out: W,
    start: Instant,
}

impl<W: Write> JsonLines<W> {
    /// Writes to `out`; `t_ms` counts from now.
    pub fn new(out: W) -> Self {
        JsonLines { out, start: Instant::now() }
    }
}

/// The JSON object of an event with its `t_ms`.
pub fn event_json(e: &Event, t: Duration) -> serde_json::Value {
    let mut v = serde_json::to_value(e).unwrap_or_else(|_| serde_json::json!({"event": "note"}));
    if let serde_json::Value::Object(m) = &mut v {
        m.insert("t_ms".into(), serde_json::Value::from(t.as_millis() as u64));
    }
    v
}

impl<W: Write> Observer for JsonLines<W> {
    fn event(&mut self, e: &Event) {
        let v = event_json(e, self.start.elapsed());
        let _ = writeln!(self.out, "{v}");
        let _ = self.out.flush();
    }
}

/// People: a spinner per step on a terminal (indicatif), plain lines otherwise. Progress goes
/// to stderr; results and errors are printed by the command.
pub struct Human {
    tty: bool,
    current: Option<(Step, indicatif::ProgressBar, Instant)>,
    started: Instant,
}

impl Default for Human {
    fn default() -> Self {
        Self::new()
    }
}

impl Human {
    /// Spinners if stderr is a terminal.
    pub fn new() -> Self {
        use std::io::IsTerminal;
        Human { tty: std::io::stderr().is_terminal(), current: None, started: Instant::now() }
    }

    fn line(&self, s: &str) {
        match &self.current {
            Some((_, pb, _)) if self.tty => pb.println(s),
            _ => eprintln!("{s}"),
        }
    }

    fn finish_current(&mut self, ok: bool, detail: &str) {
        if let Some((step, pb, t0)) = self.current.take() {
            let mark = if ok { console::style("✔").green() } else { console::style("✘").red() };
            let msg = format!("{mark} {:<24} {} ({:.2} s)", step.label(), detail, t0.elapsed().as_secs_f64());
            if self.tty {
                pb.set_style(indicatif::ProgressStyle::with_template("{msg}").unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()));
                pb.finish_with_message(msg);
            } else {
                eprintln!("{msg}");
            }
        }
    }

    /// Time since the observer was created.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Drop for Human {
    fn drop(&mut self) {
        // A step still running when the command ends did not finish: mark it failed.
        self.finish_current(false, "");
    }
}

impl Observer for Human {
    fn event(&mut self, e: &Event) {
        match e {
            Event::StepStarted { step, detail } => {
                if self.current.as_ref().is_some_and(|(s, _, _)| s == step) {
                    if let Some((_, pb, _)) = &self.current {
                        pb.set_message(format!("{:<24} {detail}", step.label()));
                    }
                    return;
                }
                self.finish_current(true, "");
                let pb = if self.tty {
                    let pb = indicatif::ProgressBar::new_spinner();
                    pb.set_style(
                        indicatif::ProgressStyle::with_template("{spinner:.cyan} {msg} {elapsed:.dim}")
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                    );
                    pb.enable_steady_tick(Duration::from_millis(80));
                    pb.set_message(format!("{:<24} {detail}", step.label()));
                    pb
                } else {
                    eprintln!("… {:<24} {detail}", step.label());
                    indicatif::ProgressBar::hidden()
                };
                self.current = Some((*step, pb, Instant::now()));
            }
            Event::StepDone { step, detail } => {
                if self.current.as_ref().is_some_and(|(s, _, _)| s == step) {
                    self.finish_current(true, detail);
                } else {
                    let mark = console::style("✔").green();
                    self.line(&format!("{mark} {:<24} {detail}", step.label()));
                }
            }
            Event::Status { state, error, attempt } => {
                if let Some(err) = error {
                    let what = crate::error::by_name(err).map_or(*err, crate::error::describe);
                    let retry = if *attempt > 0 { format!(" (attempt {})", attempt + 1) } else { String::new() };
                    let msg = format!("  device: {state}, {what}{retry}");
                    match &self.current {
                        Some((step, pb, _)) if self.tty => pb.set_message(format!("{:<24} {msg}", step.label())),
                        _ => eprintln!("{msg}"),
                    }
                }
            }
            Event::Note { message } => self.line(&format!("  {message}")),
            Event::Found { .. } | Event::Result { .. } => {}
            Event::Error { error, .. } => {
                let detail = error.error.clone();
                self.finish_current(false, &detail);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zpair_core::error::PairError;

    #[test]
    fn json_shapes_are_stable() {
        let mut buf = Vec::new();
        {
            let mut j = JsonLines::new(&mut buf);
            j.event(&Event::started(Step::Handshake, "0011223344556677"));
            j.event(&Event::done(Step::Handshake, "ok"));
            j.event(&Event::Status { state: "joining_network", error: None, attempt: 0 });
            j.event(&Event::result(serde_json::json!({"device": "00"})));
            j.event(&Event::error(&CliError::pair(PairError::WrongPassword, "the device reported")));
        }
        let lines: Vec<serde_json::Value> =
            String::from_utf8(buf).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0]["event"], "step_started");
        assert_eq!(lines[0]["step"], "handshake");
        assert!(lines[0]["t_ms"].is_u64());
        assert_eq!(lines[1]["event"], "step_done");
        assert_eq!(lines[2]["state"], "joining_network");
        assert!(lines[2]["error"].is_null());
        assert_eq!(lines[3]["ok"], true);
        assert_eq!(lines[3]["device"], "00");
        assert_eq!(lines[4]["event"], "error");
        assert_eq!(lines[4]["error"], "wrong_password");
        assert_eq!(lines[4]["code"], 0x31);
        assert_eq!(lines[4]["class"], "network");
        assert_eq!(lines[4]["exit"], 5);
        assert!(lines[4]["hint"].as_str().unwrap().contains("ready to try again"));
    }

    #[test]
    fn recorder_finds_steps() {
        let mut r = Recorder::default();
        r.event(&Event::started(Step::Token, ""));
        assert!(r.step_done_at(Step::Token).is_none());
        r.event(&Event::done(Step::Token, ""));
        assert!(r.step_done_at(Step::Token).is_some());
    }
}
