//! Every log line the cloud (and the HTTP/TLS stack under it) writes during the main flows is
//! captured at TRACE level, and none of the secrets used may appear in it.

mod common;

use common::*;
use std::io::Write;
use std::sync::{Arc, Mutex};
use zpair_core::activation::*;
use zpair_core::error::PairError;
use zpair_core::types::Mode;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_ever_reaches_the_logs() {
    let capture = Capture::default();
    tracing_subscriber::fmt()
        .with_writer(capture.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .without_time()
        .init();

    let mut secrets: Vec<String> = Vec::new();
    let env = Env::start(3).await;
    for (rec, id) in env.batch.devices.iter().zip(&env.ids) {
        secrets.push(rec.setup_code.clone());
        secrets.push(rec.entry.activation_secret.clone());
        secrets.push(rec.entry.w0.clone());
        secrets.push(format!("{:?}", id.activation_secret));
    }
    let app = env.app();
    let u = app.create_user("alice").await.unwrap();
    secrets.push(u.api_key.clone());
    let user = app.with_key(&u.api_key);
    let dc = env.device_client();

    // Ordinary activation.
    let token = env.token(&user).await;
    secrets.push(token.clone());
    let (_, op) = activate(&dc, &env.ids[0], &token).await.unwrap();
    secrets.push(hex::encode(op.expose()));
    // Refusals: reused token, unknown token, bad proof, unknown API key.
    assert_eq!(activate(&dc, &env.ids[1], &token).await.unwrap_err().error, PairError::TokenUsed);
    assert!(activate(&dc, &env.ids[1], "UnknownToken0000").await.is_err());
    secrets.push("UnknownToken0000".into());
    let ch = dc.challenge(env.ids[1].device_id).await.unwrap();
    let mut forged = env.ids[1].clone();
    forged.activation_secret[3] ^= 0x40;
    secrets.push(hex::encode(forged.activation_secret));
    let t2 = env.token(&user).await;
    secrets.push(t2.clone());
    assert!(dc.activate(&activate_request(&forged, ch.nonce, &t2, Mode::Ble)).await.is_err());
    assert!(app.with_key("zpk_wrongwrongwrong").devices().await.is_err());
    secrets.push("zpk_wrongwrongwrong".into());

    // Cellular: wrong code, right code, poll, activate.
    let id = &env.ids[2];
    let code = env.batch.devices[2].setup_code.clone();
    let wrong = if code == "00000003" { "00000004" } else { "00000003" };
    assert!(user.bind_code(id.device_id, wrong).await.is_err());
    let payload = env.batch.devices[2].entry.setup_payload.clone().unwrap();
    secrets.push(payload.clone());
    user.bind_payload(&payload).await.unwrap();
    let ch = dc.challenge(id.device_id).await.unwrap();
    let poll = BindPollRequest::new_signed(&mut device_crypto(), &secret_of(id), id.device_id, ch.nonce);
    let BindPollResponse::Bound { token: bound, .. } = dc.bind_poll(&poll).await.unwrap() else {
        panic!("expected bound");
    };
    let bound = std::str::from_utf8(bound.expose()).unwrap().to_owned();
    secrets.push(bound.clone());
    let (_, op) = activate(&dc, id, &bound).await.unwrap();
    secrets.push(hex::encode(op.expose()));
    env.cloud.as_ref().unwrap();
    let Env { cloud, .. } = env;
    cloud.unwrap().shutdown().await.unwrap();

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    // The capture works and the flows were logged (device ids and token ids only).
    assert!(logs.contains("device activated"), "{logs}");
    assert!(logs.contains("device bound, token queued for bind-poll"));
    assert!(logs.contains("activation refused"));
    assert!(logs.contains("unknown API key"));
    assert!(logs.contains("token issued"));
    for s in &secrets {
        assert!(!s.is_empty());
        assert!(!logs.contains(s.as_str()), "a secret ({} chars) appears in the logs", s.len());
        assert!(!logs.contains(&s.to_uppercase()) || s.chars().all(|c| c.is_ascii_digit()));
    }
}
