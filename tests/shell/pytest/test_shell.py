# Copyright (c) 2026 zpair developers
# SPDX-License-Identifier: Apache-2.0
"""zpair's shell commands: status, start, stop, reset, payload, factory.

The device starts without factory data (its flash file is removed first), gets it through
`zpair factory <hex>` as on a production line, and is driven through every command, including
refusals. A second run of the device (same flash file) must come back with its factory data.
"""

import logging
from pathlib import Path

from twister_harness import DeviceAdapter, Shell

logger = logging.getLogger(__name__)

# Factory data of device 0011223344556677, product 23120, setup code 20202021 (stored, so that
# `zpair payload` works), activation secret 33..33, wired mode only: written by
#   tests/wired/host: zpair-wired-host factory --device 0011223344556677 --product 23120 \
#     --code 20202021 --secret 33...33 --store-code --modes 4
FACTORY_HEX = (
    "5a50663100005a5000112233445566773333333333333333333333333333333333333333333333333333333333"
    "333333b57bd42596bdc71e39852c0933097af51455119af2c0b247b2dd57cfaa815b2804665083df2f9e57b10c"
    "696e1e34c7648f805db555c7d3ecb14c5a3e4a96b5e2bca219fbd17544dd750a51914b119097c317c244e3c667"
    "2abe5fe87f1621ee92d70134422504532d9c8a"
)
DEVICE = "0011223344556677"


def _has(lines: list[str], text: str) -> bool:
    return any(text in line for line in lines)


def _factory(dut: DeviceAdapter, hex_data: str, expect: str) -> None:
    # The shell wraps the echo of a long line: wait for the answer, not for the echo.
    dut.clear_buffer()
    dut.write(f"zpair factory {hex_data}\n".encode())
    dut.readlines_until(regex=expect, timeout=20)


def test_commands(unlaunched_dut: DeviceAdapter):
    dut = unlaunched_dut
    # A device fresh from the factory: no flash content at all.
    Path(dut.device_config.app_build_dir, "flash.bin").unlink(missing_ok=True)
    dut.launch()
    shell = Shell(dut, timeout=20)
    assert shell.wait_for_prompt(), "no shell prompt"

    lines = shell.exec_command("zpair status")
    assert _has(lines, "state: no factory data"), lines
    lines = shell.exec_command("zpair payload")
    assert _has(lines, "no factory data"), lines

    # Refusals of the factory command.
    lines = shell.exec_command("zpair factory 5a5g")
    assert _has(lines, "not hex"), lines
    corrupt = FACTORY_HEX[:-2] + ("00" if FACTORY_HEX[-2:] != "00" else "01")
    _factory(dut, corrupt, r"factory data not written: invalid factory data")
    lines = shell.exec_command("zpair status")
    assert _has(lines, "state: no factory data"), lines

    # Provisioning.
    _factory(dut, FACTORY_HEX, r"factory data written: device " + DEVICE + " product 23120")
    dut.readlines_until(regex=r"wired: listening on UDP port 24551", timeout=20)
    lines = shell.exec_command("zpair status")
    assert _has(lines, "state: window_open"), lines
    assert _has(lines, "window: wired"), lines
    assert _has(lines, "activated: no"), lines
    assert _has(lines, f"device: {DEVICE} product: 23120"), lines

    # The setup payload, its manual code and an ASCII QR code.
    lines = shell.exec_command("zpair payload")
    assert _has(lines, "payload: ZP:"), lines
    assert _has(lines, "manual code: "), lines
    assert sum("##" in line for line in lines) >= 20, lines

    # Window control.
    lines = shell.exec_command("zpair stop")
    assert _has(lines, "ok"), lines
    lines = shell.exec_command("zpair status")
    assert _has(lines, "state: idle"), lines
    assert _has(lines, "window: closed"), lines
    lines = shell.exec_command("zpair stop")
    assert _has(lines, "not pairing"), lines
    lines = shell.exec_command("zpair start bogus")
    assert _has(lines, "unknown mode 'bogus'"), lines
    lines = shell.exec_command("zpair start ble")
    assert _has(lines, "mode 'ble' is not enabled in this build"), lines
    lines = shell.exec_command("zpair start wired")
    assert _has(lines, "ok"), lines
    lines = shell.exec_command("zpair status")
    assert _has(lines, "state: window_open"), lines

    # Resets (nothing paired yet: both reopen the window).
    lines = shell.exec_command("zpair reset")
    assert _has(lines, "ok"), lines
    lines = shell.exec_command("zpair reset factory")
    assert _has(lines, "ok"), lines
    lines = shell.exec_command("zpair reset everything")
    assert _has(lines, "usage: zpair reset [network|factory]"), lines
    lines = shell.exec_command("zpair status")
    assert _has(lines, "state: window_open"), lines
    assert _has(lines, "failed attempts: 0"), lines


def test_factory_data_survives_a_restart(shell: Shell):
    # A new run of the same device (same flash file as the previous test).
    lines = shell.exec_command("zpair status")
    assert _has(lines, "state: window_open"), lines
    assert _has(lines, f"device: {DEVICE} product: 23120"), lines
