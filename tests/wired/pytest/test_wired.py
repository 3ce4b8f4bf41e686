# Copyright (c) 2026 zpair developers
# SPDX-License-Identifier: Apache-2.0
"""zpair wired mode end to end: device (native_sim + NSOS), host helper, local cloud.

1. The host helper (tests/wired/host) generates a device identity: the cloud manifest, the
   device's factory data and its setup code.
2. zpair-cloud imports the manifest and serves plain HTTP on a free loopback port.
3. A user and a single-use activation token are created through the cloud's app API.
4. The device gets its factory data through the shell (`zpair factory <hex>`), as on a
   production line, and opens its pairing window: UDP announcements to 127.0.0.1:45542.
5. The helper, playing the app, waits for the announcement, runs the SPAKE2+ session over UDP
   and sends the token with the cloud's address; the device activates with the cloud and
   commits.
6. The cloud's `GET /v1/devices` must show the device activated over the wired mode, and the
   device's `zpair status` must say activated.

Host binaries: $ZPAIR_CLOUD_BIN and $ZPAIR_WIRED_HOST_BIN if set (tools/zephyr-lane builds
them), otherwise they are built here with cargo.
"""

import json
import logging
import os
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from twister_harness import DeviceAdapter, Shell

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[3]
ANNOUNCE_LISTEN = "127.0.0.1:45542"  # CONFIG_ZPAIR_WIRED_ANNOUNCE_ADDR/PORT of prj.conf


# The Zephyr build's Rust settings (Debian's toolchain, build-std for the embedded target) must
# not reach the host tools' build: they are ordinary host binaries.
_CROSS_ONLY = ("RUSTUP_TOOLCHAIN", "RUSTC_BOOTSTRAP", "RUSTFLAGS", "CARGO_BUILD_TARGET")


def _host_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if k not in _CROSS_ONLY and not k.startswith("CARGO_UNSTABLE_")
    }


def _cargo_build(args: list[str], cwd: Path) -> None:
    logger.info("cargo %s", " ".join(args))
    subprocess.run(["cargo", *args], cwd=cwd, check=True, timeout=1800, env=_host_env())


def _cloud_bin() -> Path:
    env = os.environ.get("ZPAIR_CLOUD_BIN")
    if env:
        return Path(env)
    _cargo_build(["build", "-p", "zpair-cloud", "--locked"], REPO / "rust")
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "rust" / "target"))
    return target / "debug" / "zpair-cloud"


def _host_bin() -> Path:
    env = os.environ.get("ZPAIR_WIRED_HOST_BIN")
    if env:
        return Path(env)
    target = Path(os.environ.get("ZPAIR_HOST_TARGET_DIR", "/tmp/zpair-host-target"))
    _cargo_build(
        ["build", "--release", "--locked", "--target-dir", str(target)],
        REPO / "tests" / "wired" / "host",
    )
    return target / "release" / "zpair-wired-host"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(method: str, url: str, body: dict | None = None, key: str | None = None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


@pytest.fixture
def cloud(tmp_path: Path):
    """A zpair-cloud on a free loopback port (plain HTTP), with a fresh device batch."""
    host = _host_bin()
    cloud_bin = _cloud_bin()
    batch = tmp_path / "batch"
    subprocess.run([str(host), "factory", "--out", str(batch)], check=True, timeout=60)
    data = tmp_path / "cloud"
    subprocess.run(
        [str(cloud_bin), "import", str(batch / "manifest.json"), "--data-dir", str(data)],
        check=True,
        timeout=60,
    )
    port = _free_port()
    log = open(tmp_path / "cloud.log", "w")
    proc = subprocess.Popen(
        [str(cloud_bin), "serve", "--insecure-http", "--listen", f"127.0.0.1:{port}",
         "--data-dir", str(data)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("zpair-cloud did not start")
        yield {"base": base, "port": port, "batch": batch, "host": host}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        logger.info("cloud log:\n%s", (tmp_path / "cloud.log").read_text())


def test_wired_pairing_and_activation(dut: DeviceAdapter, cloud):
    shell = Shell(dut, timeout=20)
    assert shell.wait_for_prompt(), "no shell prompt"

    device = json.loads((cloud["batch"] / "device.json").read_text())
    factory_hex = (cloud["batch"] / "factory.hex").read_text().strip()

    # The app's user and a single-use token (app API).
    user = _http("POST", f"{cloud['base']}/v1/users", {"name": "wired-test"})
    token = _http("POST", f"{cloud['base']}/v1/tokens", {"region": "eu"}, user["api_key"])

    # Production line: the factory data through the shell (the echo of this long line is
    # wrapped by the shell, so wait for the answer rather than the echo).
    dut.clear_buffer()
    dut.write(f"zpair factory {factory_hex}\n".encode())
    dut.readlines_until(regex=r"factory data written: device " + device["device_id"], timeout=20)
    dut.readlines_until(regex=r"wired: listening on UDP port 45541", timeout=20)

    lines = shell.exec_command("zpair status")
    assert any("state: window_open" in l for l in lines), lines

    # The app: announcement, session, token; until the device reports "activated".
    pair = subprocess.run(
        [str(cloud["host"]), "pair", "--listen", ANNOUNCE_LISTEN,
         "--device", device["device_id"], "--code", device["setup_code"],
         "--token", token["token"], "--cloud-host", "127.0.0.1",
         "--cloud-port", str(cloud["port"]), "--timeout", "60"],
        capture_output=True, text=True, timeout=90,
    )
    logger.info("helper stdout:\n%s\nhelper stderr:\n%s", pair.stdout, pair.stderr)
    assert pair.returncode == 0, pair.stderr
    assert "device activated" in pair.stdout

    # The cloud's view.
    devices = _http("GET", f"{cloud['base']}/v1/devices", key=user["api_key"])
    mine = [d for d in devices if d["device_id"] == device["device_id"]]
    assert len(mine) == 1, devices
    assert mine[0]["status"] == "activated", mine
    assert mine[0]["mode"] == "wired", mine
    assert mine[0]["cloud_device_id"], mine

    # The device's view (the commit is written before "activated" is sent).
    lines = shell.exec_command("zpair status")
    assert any("state: activated" in l for l in lines), lines
    assert any(re.search(r"cloud id: " + re.escape(mine[0]["cloud_device_id"]), l) for l in lines), lines
