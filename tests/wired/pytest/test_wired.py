# Copyright (c) 2026 zpair developers
# SPDX-License-Identifier: Apache-2.0
"""zpair wired mode end to end: device (native_sim + NSOS), host helper, local cloud.

1. The host helper (tests/wired/host) generates a device identity: the cloud manifest, the
   device's factory data and its setup code.
2. zpair-cloud imports the manifest and serves plain HTTP on a free loopback port.
3. A user and a single-use activation token are created through the cloud's app API.
4. The device gets its factory data through the shell (`zpair factory <hex>`), as on a
   production line, and opens its pairing window: UDP announcements to 127.0.0.1:24542.
5. The helper, playing the app, waits for the announcement, runs the SPAKE2+ session over UDP
   and sends the token with the cloud's address; the device activates with the cloud and
   commits.
6. The cloud's `GET /v1/devices` must show the device activated over the wired mode, and the
   device's `zpair status` must say activated.

Host binaries: see tests/common/pytest/zpair_host.py.
"""

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from twister_harness import DeviceAdapter, Shell

logger = logging.getLogger(__name__)

ANNOUNCE_LISTEN = "127.0.0.1:24542"  # CONFIG_ZPAIR_WIRED_ANNOUNCE_ADDR/PORT of prj.conf


# The host side shared with the other pytest tests (tests/common/pytest/zpair_host.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "common" / "pytest"))
import zpair_host  # noqa: E402


@pytest.fixture
def cloud(tmp_path: Path):
    """A zpair-cloud on a free loopback port (plain HTTP), with a fresh device batch."""
    with zpair_host.running_cloud(tmp_path) as c:
        yield c


def test_wired_pairing_and_activation(dut: DeviceAdapter, cloud):
    shell = Shell(dut, timeout=20)
    assert shell.wait_for_prompt(), "no shell prompt"

    device = json.loads((cloud["batch"] / "device.json").read_text())
    factory_hex = (cloud["batch"] / "factory.hex").read_text().strip()

    # The app's user and a single-use token (app API).
    user = zpair_host.http("POST", f"{cloud['base']}/v1/users", {"name": "wired-test"})
    token = zpair_host.http("POST", f"{cloud['base']}/v1/tokens", {"region": "eu"}, user["api_key"])

    # Production line: the factory data through the shell (the echo of this long line is
    # wrapped by the shell, so wait for the answer rather than the echo).
    dut.clear_buffer()
    dut.write(f"zpair factory {factory_hex}\n".encode())
    dut.readlines_until(regex=r"factory data written: device " + device["device_id"], timeout=20)
    dut.readlines_until(regex=r"wired: listening on UDP port 24541", timeout=20)

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
    devices = zpair_host.http("GET", f"{cloud['base']}/v1/devices", key=user["api_key"])
    mine = [d for d in devices if d["device_id"] == device["device_id"]]
    assert len(mine) == 1, devices
    assert mine[0]["status"] == "activated", mine
    assert mine[0]["mode"] == "wired", mine
    assert mine[0]["cloud_device_id"], mine

    # The device's view (the commit is written before "activated" is sent).
    lines = shell.exec_command("zpair status")
    assert any("state: activated" in l for l in lines), lines
    assert any(re.search(r"cloud id: " + re.escape(mine[0]["cloud_device_id"]), l) for l in lines), lines
