# Copyright (c) 2026 zpair developers
# SPDX-License-Identifier: Apache-2.0
"""zpair SoftAP mode end to end: device (native_sim + NSOS + a scripted fake Wi-Fi radio), the
`zpair` commissioner and a local zpair-cloud on the host.

1. The wired test's host helper (tests/wired/host) generates a device identity: the cloud
   manifest, the device's factory data and its setup code.
2. zpair-cloud imports the manifest and serves plain HTTP on 127.0.0.1:24551
   (CONFIG_ZPAIR_CLOUD_HOST/PORT of prj.conf: a commissioner talking to a plain-HTTP cloud sends
   no cloud host, so the device uses its defaults). A user is created through the app API.
3. The device gets its factory data through the shell and opens its pairing window: the fake
   radio enables the access point zpair-XXXX and the pairing listener binds INADDR_ANY:24550,
   a host socket through NSOS. The harness plays the air: it publishes that AP for the
   commissioner (`<air>/softap/zpair-XXXX.json` -> 127.0.0.1:24550), as zpair-sim does.
4. `zpair scan softap` lists the networks the fake radio has in range.
5. `zpair pair softap` with a wrong Wi-Fi password: the device stops its AP (one radio) and
   joins; the fake radio refuses the passphrase (WIFI_STATUS_CONN_WRONG_PASSWORD); the device
   rolls back with wrong_password and reopens its window; the commissioner reconnects and
   reports wrong_password (exit code 5). The cloud shows no activation.
6. The same for a network the radio does not see (ap_not_found, exit 5) and for one whose DHCP
   server is silent (dhcp_timeout after CONFIG_ZPAIR_WIFI_DHCP_TIMEOUT_S, exit 5).
7. `zpair pair softap` again with the right password, without a reboot: the device joins,
   gets its lease, activates with the cloud and commits. The cloud's `GET /v1/devices` must show
   the device activated over SoftAP, and the device's `zpair status` must say activated.

Host binaries: $ZPAIR_CLOUD_BIN, $ZPAIR_CLI_BIN and $ZPAIR_WIRED_HOST_BIN if set
(tools/zephyr-lane builds them), otherwise they are built here with cargo.
"""

import json
import logging
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from twister_harness import DeviceAdapter, Shell

logger = logging.getLogger(__name__)

CLOUD_PORT = 24551  # CONFIG_ZPAIR_CLOUD_PORT of prj.conf
SOFTAP_PORT = 24550  # CONFIG_ZPAIR_SOFTAP_PORT of prj.conf
HOME_SSID = "HomeNet"  # CONFIG_ZPAIR_TEST_HOME_SSID (Kconfig): the fake radio's router
HOME_PSK = "correct horse battery"  # CONFIG_ZPAIR_TEST_HOME_PSK: the only passphrase it accepts
WRONG_PSK = "incorrect horse battery"

# The host side shared with the other pytest tests (tests/common/pytest/zpair_host.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "common" / "pytest"))
import zpair_host  # noqa: E402


@pytest.fixture
def cloud(tmp_path: Path):
    """zpair-cloud on 127.0.0.1:CLOUD_PORT (plain HTTP), with a fresh device batch."""
    cli = zpair_host.cli_bin()
    with zpair_host.running_cloud(tmp_path, port=CLOUD_PORT) as c:
        c["cli"] = cli
        yield c


def _zpair(cloud, key: str, args: list[str], wifi_pass: str | None = None, timeout: int = 120):
    """Runs the `zpair` commissioner with JSON output; returns (exit code, events)."""
    env = dict(zpair_host.host_env())
    env.update({
        "ZPAIR_CONFIG": str(cloud["tmp"] / "zpair.toml"),
        "ZPAIR_AIR": str(cloud["tmp"] / "air"),
        "ZPAIR_CLOUD": cloud["base"],
        "ZPAIR_API_KEY": key,
    })
    if wifi_pass is not None:
        env["ZPAIR_WIFI_PASS"] = wifi_pass
    p = subprocess.run([str(cloud["cli"]), "--json", *args], capture_output=True, text=True,
                       timeout=timeout, env=env)
    logger.info("zpair %s -> %d\nstdout:\n%s\nstderr:\n%s", " ".join(args), p.returncode,
                p.stdout, p.stderr)
    events = []
    for line in p.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return p.returncode, events


def _status(shell: Shell) -> list[str]:
    return shell.exec_command("zpair status")


def _wait_state(shell: Shell, state: str) -> list[str]:
    for _ in range(50):
        lines = _status(shell)
        if any(f"state: {state}" in l for l in lines):
            return lines
        time.sleep(0.2)
    pytest.fail(f"the device did not reach {state}: {lines}")


def test_softap_pairing_and_activation(dut: DeviceAdapter, cloud):
    shell = Shell(dut, timeout=20)
    assert shell.wait_for_prompt(), "no shell prompt"

    device = json.loads((cloud["batch"] / "device.json").read_text())
    device_id = device["device_id"]
    ssid = f"zpair-{device_id[-4:]}"
    factory_hex = (cloud["batch"] / "factory.hex").read_text().strip()
    user = zpair_host.http("POST", f"{cloud['base']}/v1/users", {"name": "softap-test"})
    key = user["api_key"]

    # Production line: the factory data through the shell; the device opens its window.
    dut.clear_buffer()
    dut.write(f"zpair factory {factory_hex}\n".encode())
    dut.readlines_until(regex=r"factory data written: device " + device_id, timeout=20)
    dut.readlines_until(regex=r"fake_wifi: AP " + ssid + r" on channel", timeout=20)
    dut.readlines_until(regex=r"access point " + ssid + r" up .* pairing on port "
                        + str(SOFTAP_PORT), timeout=20)
    lines = _status(shell)
    assert any("state: window_open" in l for l in lines), lines
    assert any("window: softap" in l for l in lines), lines

    # The air: the AP is "in range" of the commissioner at the device's host socket.
    air = cloud["tmp"] / "air" / "softap"
    air.mkdir(parents=True)
    (air / f"{ssid}.json").write_text(json.dumps(
        {"ssid": ssid, "device": device_id, "addr": "127.0.0.1", "port": SOFTAP_PORT}))

    # The networks the device's radio sees (the fake radio's scan results, through a session).
    dut.clear_buffer()
    rc, events = _zpair(cloud, key, ["scan", "softap", "--ssid", ssid, "--device", device_id,
                                     "--code", device["setup_code"]])
    assert rc == 0, events
    seen = json.dumps(events)
    for name in (HOME_SSID, "NoLease", "Neighbour", "CoffeeShop"):
        assert name in seen, events
    dut.readlines_until(regex=r"fake_wifi: scan", timeout=5)

    # 1. Wrong Wi-Fi password: refused by the fake radio, reported to the app precisely.
    _wait_state(shell, "window_open")
    dut.clear_buffer()
    rc, events = _zpair(cloud, key, ["pair", "softap", "--ssid", ssid, "--device", device_id,
                                     "--code", device["setup_code"], "--wifi-ssid", HOME_SSID,
                                     "--security", "wpa2", "--timeout", "90"],
                        wifi_pass=WRONG_PSK)
    errors = [e for e in events if e.get("event") == "error"]
    assert rc == 5, events
    assert errors and errors[-1]["error"] == "wrong_password", events
    out = "\n".join(dut.readlines_until(regex=r"fake_wifi: AP " + ssid + r" on channel",
                                        timeout=20))
    # The order of the one radio: AP off, then the join the driver refused, then the AP again.
    assert re.search(r"fake_wifi: AP off", out), out
    assert re.search(r"fake_wifi: connect to " + HOME_SSID + r" .*: wrong password", out), out
    assert out.index("fake_wifi: AP off") < out.index("wrong password"), out
    # The core got the precise error (rolled back with it; `last error` in the status is
    # overwritten when the commissioner's second session, which learnt it, disconnects).
    assert "pairing failed: wrong_password" in out, out
    dut.readlines_until(regex=r"pairing on port " + str(SOFTAP_PORT), timeout=20)
    # (The commissioner's second session may still be closing: session_open for a moment.)
    lines = _wait_state(shell, "window_open")
    assert any("activated: no" in l for l in lines), lines
    devices = zpair_host.http("GET", f"{cloud['base']}/v1/devices", key=key)
    assert not [d for d in devices if d["device_id"] == device_id
                and d.get("status") == "activated"], devices

    # 2. A network not in range, and one that associates but leases no address.
    for network, driver_says, error in (
        ("Nowhere", r"AP not found", "ap_not_found"),
        ("NoLease", r"associated \(its DHCP server is silent\)", "dhcp_timeout"),
    ):
        # (The commissioner that learnt the last error may still be closing its session: a
        # new one would be refused as busy until the device saw the close.)
        _wait_state(shell, "window_open")
        dut.clear_buffer()
        rc, events = _zpair(cloud, key, ["pair", "softap", "--ssid", ssid, "--device", device_id,
                                         "--code", device["setup_code"], "--wifi-ssid", network,
                                         "--security", "wpa2", "--timeout", "90"],
                            wifi_pass=HOME_PSK)
        errors = [e for e in events if e.get("event") == "error"]
        assert rc == 5, events
        assert errors and errors[-1]["error"] == error, events
        out = "\n".join(dut.readlines_until(regex=r"pairing on port " + str(SOFTAP_PORT),
                                            timeout=30))
        assert re.search(r"fake_wifi: connect to " + network + r" .*: " + driver_says, out), out
        assert "pairing failed: " + error in out, out

    # 3. The right password, same boot: joined, leased, activated.
    _wait_state(shell, "window_open")
    dut.clear_buffer()
    rc, events = _zpair(cloud, key, ["pair", "softap", "--ssid", ssid, "--device", device_id,
                                     "--code", device["setup_code"], "--wifi-ssid", HOME_SSID,
                                     "--security", "wpa2", "--timeout", "90"],
                        wifi_pass=HOME_PSK)
    assert rc == 0, events
    dut.readlines_until(regex=r"fake_wifi: connect to " + HOME_SSID + r" .*: associated",
                        timeout=20)
    dut.readlines_until(regex=r"cloud accepted the activation", timeout=30)

    devices = zpair_host.http("GET", f"{cloud['base']}/v1/devices", key=key)
    mine = [d for d in devices if d["device_id"] == device_id]
    assert len(mine) == 1, devices
    assert mine[0]["status"] == "activated", mine
    assert mine[0]["mode"] == "softap", mine
    assert mine[0]["cloud_device_id"], mine

    # The device's view: activated over SoftAP, window closed (AP stays off).
    lines = _wait_state(shell, "activated")
    assert any("mode: softap" in l for l in lines), lines
    assert any(re.search(r"cloud id: " + re.escape(mine[0]["cloud_device_id"]), l)
               for l in lines), lines
