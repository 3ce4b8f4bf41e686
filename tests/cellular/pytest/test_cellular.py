# Copyright (c) 2026 zpair developers
# SPDX-License-Identifier: Apache-2.0
"""zpair cellular mode end to end: device (native_sim + fake modem + NSOS), local cloud.

1. The host helper (tests/wired/host) generates a device identity whose factory data stores
   the setup code (a cellular device shows its payload) and enables only the cellular mode;
   zpair-cloud imports it and serves plain HTTP on 127.0.0.1:24543 (CONFIG_ZPAIR_CLOUD_PORT).
2. The device gets its factory data through the shell and opens its window: it prints its
   setup payload and QR code and powers its modem up. The fake modem has no SIM: after the
   attach timeout the backend's sim_missing must reach the glue (`zpair status`: modem
   sim_missing).
3. The SIM goes in (`fakemodem sim on`): the modem registers, its link comes up, the device
   polls the cloud's bind endpoint, which answers "pending".
4. The user "scans" the payload printed on the console: POST /v1/bind, as `zpair bind-qr`
   does. The next poll hands the device its token; the device activates and commits.
5. The cloud's GET /v1/devices must show the device activated over the cellular mode, and the
   device's `zpair status` must say activated.
"""

import json
import logging
import re
import sys
from pathlib import Path

import pytest
from twister_harness import DeviceAdapter, Shell

logger = logging.getLogger(__name__)

CLOUD_PORT = 24543  # CONFIG_ZPAIR_CLOUD_PORT of prj.conf
MODE_CELLULAR = 8  # Modes::CELLULAR

# The host side shared with the other pytest tests (tests/common/pytest/zpair_host.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "common" / "pytest"))
import zpair_host  # noqa: E402


@pytest.fixture
def cloud(tmp_path: Path):
    """A zpair-cloud on 127.0.0.1:CLOUD_PORT (plain HTTP) with one cellular device."""
    with zpair_host.running_cloud(
        tmp_path,
        port=CLOUD_PORT,
        factory_args=("--store-code", "--modes", str(MODE_CELLULAR)),
        serve_args=("--public-host", "127.0.0.1"),
    ) as c:
        yield c


def _until(dut: DeviceAdapter, regex: str, timeout: float) -> list[str]:
    lines = dut.readlines_until(regex=regex, timeout=timeout)
    logger.info("device output up to %r:\n%s", regex, "\n".join(lines))
    return lines


def test_cellular_bind_and_activation(dut: DeviceAdapter, cloud):
    shell = Shell(dut, timeout=20)
    assert shell.wait_for_prompt(), "no shell prompt"

    device = json.loads((cloud["batch"] / "device.json").read_text())
    factory_hex = (cloud["batch"] / "factory.hex").read_text().strip()
    user = zpair_host.http("POST", f"{cloud['base']}/v1/users", {"name": "cellular-test"})

    # Production line: the factory data. The window opens at once: payload, QR code, modem.
    dut.clear_buffer()
    dut.write(f"zpair factory {factory_hex}\n".encode())
    _until(dut, r"factory data written: device " + device["device_id"], 20)
    lines = _until(dut, r"setup payload ZP:\S+\)", 20)
    payload = re.search(r"setup payload (ZP:\S+)\)", lines[-1]).group(1)
    qr = _until(dut, r"fakemodem: powered up \(SIM missing\)", 20)
    # The QR code after it: rows of "##" (dark) and "  " modules, at least 21 with modules.
    rows = [l.strip() for l in qr if "##" in l and set(l.strip()) <= {"#", " "}]
    assert len(rows) >= 21, qr

    # No SIM: after the attach timeout the backend's error reaches the glue as sim_missing.
    _until(dut, r"cellular: sim_missing", 30)
    lines = shell.exec_command("zpair status")
    assert any("modem: sim_missing" in l for l in lines), lines
    assert any("state: window_open" in l for l in lines), lines

    # The SIM goes in: attach, then bind polls that the cloud answers "pending".
    shell.exec_command("fakemodem sim on")
    _until(dut, r"cellular: modem attached", 20)
    _until(dut, r"cellular: not bound yet", 30)
    lines = shell.exec_command("zpair status")
    assert any("modem: attached" in l for l in lines), lines
    assert any("state: window_open" in l for l in lines), lines

    # The user scans the QR code (what `zpair bind-qr <payload>` does).
    bound = zpair_host.http("POST", f"{cloud['base']}/v1/bind", {"payload": payload}, user["api_key"])
    assert bound["device_id"] == device["device_id"], bound

    _until(dut, r"cellular: the cloud bound the device", 30)
    _until(dut, r"paired over cellular and activated", 60)

    # The cloud's view.
    devices = zpair_host.http("GET", f"{cloud['base']}/v1/devices", key=user["api_key"])
    mine = [d for d in devices if d["device_id"] == device["device_id"]]
    assert len(mine) == 1, devices
    assert mine[0]["status"] == "activated", mine
    assert mine[0]["mode"] == "cellular", mine
    assert mine[0]["cloud_device_id"], mine

    # The device's view.
    lines = shell.exec_command("zpair status")
    assert any("state: activated" in l for l in lines), lines
    assert any("mode: cellular" in l for l in lines), lines
    assert any(re.search(r"cloud id: " + re.escape(mine[0]["cloud_device_id"]), l) for l in lines), lines
