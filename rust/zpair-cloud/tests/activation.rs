//! End-to-end tests of the reference cloud over TLS on 127.0.0.1:0.

mod common;

use common::*;
use zpair_cloud::client::DeviceClient;
use zpair_cloud::store::{DeviceStatus, Store};
use zpair_core::activation::*;
use zpair_core::error::PairError;
use zpair_core::types::{DeviceId, Mode, Modes, ProductId};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_activation_over_tls_updates_the_database() {
    let env = Env::start(5).await;
    let user = env.user("alice").await;
    let tok = user.request_token("eu", None).await.unwrap();
    assert_eq!(tok.token.len(), 16);
    assert!(tok.token.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(tok.expires_in_s, 600);
    assert_eq!(tok.expires_at_ms, T0 + 600_000);

    let dc = env.device_client();
    let id = &env.ids[2];
    let (resp, op) = activate(&dc, id, &tok.token).await.unwrap();
    assert_eq!(resp.cloud_device_id.as_str(), format!("zp-{}", id.device_id));
    assert_eq!(resp.endpoint.region, *b"eu");
    assert_eq!(resp.endpoint.host.as_deref(), Some(&b"localhost"[..]));
    assert_eq!(resp.endpoint.port, env.cloud().addr().port());

    // The database: device activated and owned, token used once, one log row, secret stored.
    let rec = env.cloud().store().device(id.device_id).unwrap().unwrap();
    assert_eq!(rec.status, DeviceStatus::Activated);
    assert!(rec.owner.is_some());
    assert_eq!(rec.fw_version.as_deref(), Some("1.4.2"));
    assert_eq!(rec.mode.as_deref(), Some("softap"));
    assert_eq!(rec.activated_at_ms, Some(T0));
    assert_eq!(env.count("SELECT COUNT(*) FROM tokens WHERE used_at IS NOT NULL"), 1);
    assert_eq!(env.count("SELECT COUNT(*) FROM activations"), 1);
    assert_eq!(env.count("SELECT COUNT(*) FROM challenges"), 0, "nonce consumed");
    let stored_ok = env.count(&format!(
        "SELECT COUNT(*) FROM devices WHERE op_secret = x'{}'",
        hex::encode(op.expose())
    ));
    assert_eq!(stored_ok, 1, "the device opened the secret the cloud stored");
    assert_eq!(env.count("SELECT COUNT(*) FROM devices WHERE status = 'activated'"), 1);

    let list = user.devices().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].device_id, id.device_id.to_string());
    assert_eq!(list[0].status, DeviceStatus::Activated);
    // Another user sees nothing.
    assert!(env.user("bob").await.devices().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_is_refused_without_sleeping() {
    let env = Env::start(1).await;
    let user = env.user("a").await;
    let token = env.token(&user).await;
    env.clock.advance_s(600);
    let e = activate(&env.device_client(), &env.ids[0], &token).await.unwrap_err();
    assert_eq!(e.error, PairError::TokenExpired);
    assert_eq!(env.count("SELECT COUNT(*) FROM devices WHERE status = 'activated'"), 0);
    // A fresh token works at the same (later) time.
    let token = env.token(&user).await;
    activate(&env.device_client(), &env.ids[0], &token).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_unknown_and_malformed_tokens() {
    let env = Env::start(2).await;
    let user = env.user("a").await;
    let token = env.token(&user).await;
    let dc = env.device_client();
    activate(&dc, &env.ids[0], &token).await.unwrap();
    assert_eq!(activate(&dc, &env.ids[1], &token).await.unwrap_err().error, PairError::TokenUsed);
    assert_eq!(activate(&dc, &env.ids[0], &token).await.unwrap_err().error, PairError::TokenUsed);
    assert_eq!(activate(&dc, &env.ids[1], "NeverIssued12345").await.unwrap_err().error, PairError::TokenUnknown);
    assert_eq!(env.count("SELECT COUNT(*) FROM activations"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_of_another_region_or_product_is_refused() {
    let env = Env::start(2).await;
    let user = env.user("a").await;
    let dc = env.device_client();
    let us = user.request_token("us", None).await.unwrap().token;
    assert_eq!(activate(&dc, &env.ids[0], &us).await.unwrap_err().error, PairError::TokenMismatch);
    let other_product = user.request_token("eu", Some(PRODUCT.0 + 1)).await.unwrap().token;
    assert_eq!(activate(&dc, &env.ids[0], &other_product).await.unwrap_err().error, PairError::ProductMismatch);
    let right_product = user.request_token("eu", Some(PRODUCT.0)).await.unwrap().token;
    activate(&dc, &env.ids[0], &right_product).await.unwrap();

    // A device claiming another product (with a valid proof over that claim).
    let token = env.token(&user).await;
    let id = &env.ids[1];
    let ch = dc.challenge(id.device_id).await.unwrap();
    let req = ActivateRequest::new_signed(
        &mut device_crypto(),
        &secret_of(id),
        id.device_id,
        ProductId(7),
        ch.nonce,
        zpair_core::types::ActivationToken::new(token.as_bytes()).unwrap(),
        (1, 0, 0),
        Mode::Ble,
    );
    assert_eq!(dc.activate(&req).await.unwrap_err().error, PairError::ProductMismatch);
    // Bad regions are refused at issue time with the precise error.
    let e = user.request_token("EU", None).await.unwrap_err();
    assert_eq!((e.status, e.pair_error()), (400, Some(PairError::InvalidEndpoint)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_of_another_user_cannot_take_an_owned_device() {
    let env = Env::start(1).await;
    let alice = env.user("alice").await;
    let bob = env.user("bob").await;
    let dc = env.device_client();
    let id = &env.ids[0];
    activate(&dc, id, &env.token(&alice).await).await.unwrap();
    let bob_token = env.token(&bob).await;
    assert_eq!(activate(&dc, id, &bob_token).await.unwrap_err().error, PairError::TokenMismatch);
    // The refusal did not consume Bob's token.
    assert_eq!(env.count("SELECT COUNT(*) FROM tokens WHERE used_at IS NULL"), 1);
    // Alice releases it for a factory reset: Bob can now activate it.
    let e = bob.factory_reset(id.device_id).await.unwrap_err();
    assert_eq!(e.status, 404, "only the owner can release");
    alice.factory_reset(id.device_id).await.unwrap();
    assert!(alice.devices().await.unwrap()[0].factory_reset);
    activate(&dc, id, &bob_token).await.unwrap();
    assert!(alice.devices().await.unwrap().is_empty());
    assert_eq!(bob.devices().await.unwrap().len(), 1);
    // Bob unbinds it: nobody owns it and anyone may activate it.
    bob.unbind(id.device_id).await.unwrap();
    assert!(bob.devices().await.unwrap().is_empty());
    assert_eq!(bob.unbind(id.device_id).await.unwrap_err().status, 404);
    activate(&dc, id, &env.token(&alice).await).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_device_bad_proof_and_replayed_nonce() {
    let env = Env::start(2).await;
    let user = env.user("a").await;
    let dc = env.device_client();
    // Unknown device.
    assert_eq!(dc.challenge(DeviceId(0xdead)).await.unwrap_err().error, PairError::DeviceUnknown);
    let mut ghost = env.ids[0].clone();
    ghost.device_id = DeviceId(0xdead);
    let req = activate_request(&ghost, [0; 16], &env.token(&user).await, Mode::Wired);
    assert_eq!(dc.activate(&req).await.unwrap_err().error, PairError::DeviceUnknown);

    // Bad proof: the right device id with a wrong activation secret.
    let id = &env.ids[0];
    let token = env.token(&user).await;
    let ch = dc.challenge(id.device_id).await.unwrap();
    let mut forged = id.clone();
    forged.activation_secret[0] ^= 1;
    let bad = activate_request(&forged, ch.nonce, &token, Mode::Wired);
    assert_eq!(dc.activate(&bad).await.unwrap_err().error, PairError::DeviceAuthFailed);
    let mut tampered = activate_request(id, ch.nonce, &token, Mode::Wired);
    tampered.mode = Mode::Ble;
    assert_eq!(dc.activate(&tampered).await.unwrap_err().error, PairError::DeviceAuthFailed);

    // The genuine request succeeds; replaying it exactly is refused (nonce used).
    let good = activate_request(id, ch.nonce, &token, Mode::Wired);
    let resp = dc.activate(&good).await.unwrap();
    resp.open(&mut device_crypto(), &secret_of(id), &ch.nonce, id.device_id).unwrap();
    assert_eq!(dc.activate(&good).await.unwrap_err().error, PairError::DeviceAuthFailed);

    // A nonce issued to another device, and an expired nonce, are refused too.
    let other = &env.ids[1];
    let token = env.token(&user).await;
    let ch_other = dc.challenge(other.device_id).await.unwrap();
    let req = activate_request(id, ch_other.nonce, &token, Mode::Wired);
    assert_eq!(dc.activate(&req).await.unwrap_err().error, PairError::DeviceAuthFailed);
    let ch = dc.challenge(other.device_id).await.unwrap();
    assert_eq!(ch.valid_s, 60);
    env.clock.advance_s(60);
    let req = activate_request(other, ch.nonce, &token, Mode::Wired);
    assert_eq!(dc.activate(&req).await.unwrap_err().error, PairError::DeviceAuthFailed);
    // The token survived all of that.
    activate(&dc, other, &token).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_activations_with_one_token_exactly_one_wins() {
    const N: usize = 24;
    let env = Env::start(N).await;
    let user = env.user("a").await;
    let token = env.token(&user).await;
    let dc = env.device_client();
    // Different devices, and the same device with several nonces, all at once.
    let mut reqs = Vec::new();
    for id in &env.ids {
        let ch = dc.challenge(id.device_id).await.unwrap();
        reqs.push(activate_request(id, ch.nonce, &token, Mode::Ble));
    }
    for _ in 0..8 {
        let ch = dc.challenge(env.ids[0].device_id).await.unwrap();
        reqs.push(activate_request(&env.ids[0], ch.nonce, &token, Mode::Ble));
    }
    let tasks: Vec<_> = reqs
        .into_iter()
        .map(|r| {
            let dc = dc.clone();
            tokio::spawn(async move { dc.activate(&r).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.error, PairError::TokenUsed),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(env.count("SELECT COUNT(*) FROM activations"), 1);
    assert_eq!(env.count("SELECT COUNT(*) FROM devices WHERE status = 'activated'"), 1);
    assert_eq!(env.count("SELECT COUNT(*) FROM challenges"), 0, "every nonce consumed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_per_device_and_per_user() {
    use zpair_cloud::ratelimit::Limit;
    let mut limits = relaxed();
    limits.device = Limit::new(3, 6); // one more every 10 s
    limits.user_tokens = Limit::new(2, 1); // one more every 60 s
    let env = Env::start_with(2, limits).await;
    let dc = env.device_client();
    let id = env.ids[0].device_id;
    for _ in 0..3 {
        dc.challenge(id).await.unwrap();
    }
    let e = dc.challenge(id).await.unwrap_err();
    assert_eq!((e.error, e.retry_after_s), (PairError::RateLimited, Some(10)));
    dc.challenge(env.ids[1].device_id).await.unwrap();
    env.clock.advance_s(10);
    dc.challenge(id).await.unwrap();

    let user = env.user("a").await;
    env.token(&user).await;
    env.token(&user).await;
    let e = user.request_token("eu", None).await.unwrap_err();
    assert_eq!(e.status, 429);
    assert_eq!(e.pair_error(), Some(PairError::RateLimited));
    assert_eq!(e.body.error, "rate_limited");
    assert_eq!(e.body.code, Some(0x58));
    assert_eq!(e.body.retry_after_s, Some(60));
    // Another user is not affected.
    env.token(&env.user("b").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cellular_bind_then_poll_then_activate() {
    let env = Env::start(2).await;
    let user = env.user("cell").await;
    let dc = env.device_client();
    let id = &env.ids[0];
    let code = env.batch.devices[0].setup_code.clone();
    let poll = |nonce| BindPollRequest::new_signed(&mut device_crypto(), &secret_of(id), id.device_id, nonce);

    let ch = dc.challenge(id.device_id).await.unwrap();
    assert_eq!(dc.bind_poll(&poll(ch.nonce)).await.unwrap(), BindPollResponse::Pending { retry_after_s: 5 });
    // The nonce was single use.
    assert_eq!(dc.bind_poll(&poll(ch.nonce)).await.unwrap_err().error, PairError::DeviceAuthFailed);
    // A forged poll.
    let ch = dc.challenge(id.device_id).await.unwrap();
    let mut forged = poll(ch.nonce);
    forged.proof[0] ^= 1;
    assert_eq!(dc.bind_poll(&forged).await.unwrap_err().error, PairError::DeviceAuthFailed);

    // The user scans the QR code; a wrong code (a well-formed payload) is refused precisely.
    let payload = env.batch.devices[0].entry.setup_payload.clone().unwrap();
    assert!(payload.starts_with("ZP:"));
    let wrong = if code == "00000001" { "00000002" } else { "00000001" };
    let wrong_code = zpair_core::types::SetupCode::new(wrong.parse().unwrap()).unwrap();
    let forged = zpair_cloud::manifest::setup_payload_string(PRODUCT, id.device_id, &wrong_code, Modes::ALL).unwrap();
    let e = user.bind_payload(&forged).await.unwrap_err();
    assert_eq!((e.status, e.body.error.as_str(), e.body.code), (403, "wrong_setup_code", Some(0x12)));
    let e = user.bind_code(id.device_id, wrong).await.unwrap_err();
    assert_eq!(e.pair_error(), Some(PairError::WrongSetupCode));
    // A misread character fails the payload's CRC.
    let mut typo = payload.clone().into_bytes();
    typo[10] = if typo[10] == b'A' { b'B' } else { b'A' };
    let e = user.bind_payload(std::str::from_utf8(&typo).unwrap()).await.unwrap_err();
    assert_eq!((e.status, e.pair_error()), (400, Some(PairError::MalformedMessage)));
    let code_ok = zpair_core::types::SetupCode::new(code.parse().unwrap()).unwrap();
    let other_product = zpair_cloud::manifest::setup_payload_string(ProductId(9), id.device_id, &code_ok, Modes::ALL).unwrap();
    assert_eq!(user.bind_payload(&other_product).await.unwrap_err().pair_error(), Some(PairError::ProductMismatch));
    let e = user.bind_code(DeviceId(0xdead), &code).await.unwrap_err();
    assert_eq!((e.status, e.pair_error()), (404, Some(PairError::DeviceUnknown)));
    let bound = user.bind_payload(&payload).await.unwrap();
    assert_eq!(bound.device_id, id.device_id.to_string());

    let ch = dc.challenge(id.device_id).await.unwrap();
    let BindPollResponse::Bound { token, endpoint } = dc.bind_poll(&poll(ch.nonce)).await.unwrap() else {
        panic!("expected a bound answer");
    };
    assert_eq!(endpoint.port, env.cloud().addr().port());
    let token = std::str::from_utf8(token.expose()).unwrap().to_owned();
    // The bound token is for this device only.
    assert_eq!(activate(&dc, &env.ids[1], &token).await.unwrap_err().error, PairError::TokenMismatch);
    let ch = dc.challenge(id.device_id).await.unwrap();
    let req = activate_request(id, ch.nonce, &token, Mode::Cellular);
    dc.activate(&req).await.unwrap();
    let list = user.devices().await.unwrap();
    assert_eq!((list.len(), list[0].mode.as_deref()), (1, Some("cellular")));
    // Delivered and used: polling is pending again.
    let ch = dc.challenge(id.device_id).await.unwrap();
    assert!(matches!(dc.bind_poll(&poll(ch.nonce)).await.unwrap(), BindPollResponse::Pending { .. }));
    // Another user cannot bind the owned device.
    let e = env.user("other").await.bind_code(id.device_id, &code).await.unwrap_err();
    assert_eq!(e.pair_error(), Some(PairError::TokenMismatch));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_the_same_data_dir_keeps_state() {
    let mut env = Env::start(2).await;
    let app = env.app();
    let u = app.create_user("keep").await.unwrap();
    let user = app.with_key(&u.api_key);
    let token = env.token(&user).await;
    let spare = env.token(&user).await;
    activate(&env.device_client(), &env.ids[0], &token).await.unwrap();
    let ca_before = env.ca_pem.clone();
    env.cloud.take().unwrap().shutdown().await.unwrap();

    let cloud = zpair_cloud::Cloud::start(config(env.dir.path(), &env.clock, relaxed())).await.unwrap();
    assert_eq!(std::fs::read(cloud.ca_pem_path().unwrap()).unwrap(), ca_before, "same CA");
    assert_eq!(cloud.store().schema_version().unwrap(), zpair_cloud::sqlite::SCHEMA_VERSION);
    env.base = cloud.base_url();
    env.cloud = Some(cloud);
    let user = env.app().with_key(&u.api_key);
    assert_eq!(user.devices().await.unwrap().len(), 1);
    let dc = env.device_client();
    assert_eq!(activate(&dc, &env.ids[1], &token).await.unwrap_err().error, PairError::TokenUsed);
    activate(&dc, &env.ids[1], &spare).await.unwrap();
    assert_eq!(user.devices().await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificate_and_bad_api_key() {
    let env = Env::start(1).await;
    // A client trusting another CA.
    let other = tempfile::tempdir().unwrap();
    let files = zpair_cloud::tls::ensure_certificates(other.path(), &[]).unwrap();
    let pem = std::fs::read(files.ca_cert).unwrap();
    let dc = DeviceClient::new(&env.base, Some(&pem)).unwrap();
    assert_eq!(dc.challenge(env.ids[0].device_id).await.unwrap_err().error, PairError::CloudCertificate);
    // Nobody listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dc = DeviceClient::new(&format!("https://localhost:{port}"), Some(&env.ca_pem)).unwrap();
    assert_eq!(dc.challenge(env.ids[0].device_id).await.unwrap_err().error, PairError::CloudUnreachable);
    // Unknown API key.
    let e = env.app().with_key("zpk_nope").devices().await.unwrap_err();
    assert_eq!((e.status, e.body.error.as_str(), e.body.code), (401, "unauthorized", None));
    // Garbage device API bodies.
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(zpair_cloud::tls::client_config(&env.ca_pem).unwrap())
        .build()
        .unwrap();
    let r = http.post(format!("{}{}", env.base, PATH_ACTIVATE)).body(vec![0xff, 0x00]).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body = r.bytes().await.unwrap();
    assert_eq!(ErrorResponse::decode(&body).unwrap().error, PairError::MalformedMessage);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_mode_works() {
    let dir = tempfile::tempdir().unwrap();
    let clock = zpair_cloud::ManualClock::new(T0);
    let mut cfg = config(dir.path(), &clock, relaxed());
    cfg.tls = false;
    let cloud = zpair_cloud::Cloud::start(cfg).await.unwrap();
    assert!(cloud.ca_pem_path().is_none());
    assert!(cloud.base_url().starts_with("http://127.0.0.1:"));
    let batch = zpair_cloud::manifest::generate_batch(&mut device_crypto(), PRODUCT, 1, zpair_core::types::Modes::WIRED).unwrap();
    let ids: Vec<_> = batch.manifest.devices.iter().map(|e| e.to_identity().unwrap()).collect();
    cloud.store().import_devices(&ids, T0).unwrap();
    let app = zpair_cloud::client::AppClient::new(&cloud.base_url(), None).unwrap();
    let user = app.with_key(&app.create_user("h").await.unwrap().api_key);
    let token = user.request_token("eu", None).await.unwrap().token;
    let dc = DeviceClient::new(&cloud.base_url(), None).unwrap();
    activate(&dc, &ids[0], &token).await.unwrap();
    cloud.shutdown().await.unwrap();
}

#[test]
fn import_command_and_blocking_client() {
    let dir = tempfile::tempdir().unwrap();
    let batch = zpair_cloud::manifest::generate_batch(&mut device_crypto(), PRODUCT, 4, zpair_core::types::Modes::WIRED).unwrap();
    let manifest = zpair_cloud::manifest::write_batch(&batch, &dir.path().join("f")).unwrap();
    let data = dir.path().join("data");
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_zpair-cloud"))
            .args(["import", manifest.to_str().unwrap(), "--data-dir", data.to_str().unwrap()])
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 4 devices (0 already present)"));
    let out = run();
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 0 devices (4 already present)"));

    // The blocking client against a cloud on that data dir.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let clock = zpair_cloud::ManualClock::new(T0);
    let cloud = rt.block_on(zpair_cloud::Cloud::start(config(&data, &clock, relaxed()))).unwrap();
    let ca = std::fs::read(cloud.ca_pem_path().unwrap()).unwrap();
    let base = cloud.base_url();
    let app = zpair_cloud::client::AppClient::new(&base, Some(&ca)).unwrap();
    let token = rt.block_on(async {
        let user = app.with_key(&app.create_user("b").await.unwrap().api_key);
        user.request_token("eu", None).await.unwrap().token
    });
    let id = batch.manifest.devices[3].to_identity().unwrap();
    let handle = std::thread::spawn(move || {
        let dc = zpair_cloud::client::BlockingDeviceClient::new(&base, Some(&ca)).unwrap();
        let ch = dc.challenge(id.device_id).unwrap();
        let resp = dc.activate(&activate_request(&id, ch.nonce, &token, Mode::Wired)).unwrap();
        resp.open(&mut device_crypto(), &secret_of(&id), &ch.nonce, id.device_id).unwrap();
    });
    handle.join().unwrap();
    assert_eq!(cloud.store().query_i64("SELECT COUNT(*) FROM activations").unwrap(), 1);
    rt.block_on(cloud.shutdown()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_answers_as_soon_as_the_device_is_bound() {
    let dir = tempfile::tempdir().unwrap();
    let clock = zpair_cloud::ManualClock::new(T0);
    let mut cfg = config(dir.path(), &clock, relaxed());
    cfg.long_poll_s = 120;
    let cloud = zpair_cloud::Cloud::start(cfg).await.unwrap();
    let batch = zpair_cloud::manifest::generate_batch(&mut device_crypto(), PRODUCT, 1, Modes::CELLULAR).unwrap();
    let id = batch.manifest.devices[0].to_identity().unwrap();
    cloud.store().import_devices(std::slice::from_ref(&id), T0).unwrap();
    let ca = std::fs::read(cloud.ca_pem_path().unwrap()).unwrap();
    let dc = DeviceClient::new(&cloud.base_url(), Some(&ca)).unwrap();
    let app = zpair_cloud::client::AppClient::new(&cloud.base_url(), Some(&ca)).unwrap();
    let user = app.with_key(&app.create_user("lp").await.unwrap().api_key);

    let ch = dc.challenge(id.device_id).await.unwrap();
    let req = BindPollRequest::new_signed(&mut device_crypto(), &secret_of(&id), id.device_id, ch.nonce);
    let poll = tokio::spawn(async move { dc.bind_poll(&req).await });
    // Wait until the poll consumed its nonce: it is then waiting for a bind.
    while cloud.store().query_i64("SELECT COUNT(*) FROM challenges").unwrap() != 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(!poll.is_finished(), "nothing is bound yet: the poll waits");
    user.bind_payload(batch.devices[0].entry.setup_payload.as_deref().unwrap()).await.unwrap();
    assert!(matches!(poll.await.unwrap().unwrap(), BindPollResponse::Bound { .. }));
    cloud.shutdown().await.unwrap();
}
