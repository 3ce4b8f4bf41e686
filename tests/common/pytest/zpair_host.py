# Copyright (c) 2026 zpair developers
# SPDX-License-Identifier: Apache-2.0
"""The host side shared by zpair's pytest Twister tests (tests/wired, tests/softap,
tests/cellular): the host tools, built with the host toolchain, the reference cloud on a
loopback port, and the cloud's JSON app API.

Host binaries: $ZPAIR_CLOUD_BIN, $ZPAIR_CLI_BIN and $ZPAIR_WIRED_HOST_BIN if set
(tools/zephyr-lane builds them), otherwise they are built here with cargo.
"""

import contextlib
import json
import logging
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[3]

# The Zephyr build's Rust settings (Debian's toolchain, build-std for the embedded target) must
# not reach the host tools' build: they are ordinary host binaries.
_CROSS_ONLY = ("RUSTUP_TOOLCHAIN", "RUSTC_BOOTSTRAP", "RUSTFLAGS", "CARGO_BUILD_TARGET")


def host_env() -> dict[str, str]:
    """The environment without the Zephyr build's cross-compilation settings."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in _CROSS_ONLY and not k.startswith("CARGO_UNSTABLE_")
    }


def cargo_build(args: list[str], cwd: Path) -> None:
    logger.info("cargo %s", " ".join(args))
    subprocess.run(["cargo", *args], cwd=cwd, check=True, timeout=1800, env=host_env())


def workspace_bin(env: str, package: str, name: str) -> Path:
    """A binary of the rust/ workspace: $env if set, else built (debug) here."""
    path = os.environ.get(env)
    if path:
        return Path(path)
    cargo_build(["build", "-p", package, "--locked"], REPO / "rust")
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "rust" / "target"))
    return target / "debug" / name


def cloud_bin() -> Path:
    return workspace_bin("ZPAIR_CLOUD_BIN", "zpair-cloud", "zpair-cloud")


def cli_bin() -> Path:
    return workspace_bin("ZPAIR_CLI_BIN", "zpair-cli", "zpair")


def helper_bin() -> Path:
    """tests/wired/host: device identities (factory data + cloud manifest) and the UDP app."""
    env = os.environ.get("ZPAIR_WIRED_HOST_BIN")
    if env:
        return Path(env)
    target = Path(os.environ.get("ZPAIR_HOST_TARGET_DIR", "/tmp/zpair-host-target"))
    cargo_build(
        ["build", "--release", "--locked", "--target-dir", str(target)],
        REPO / "tests" / "wired" / "host",
    )
    return target / "release" / "zpair-wired-host"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: dict | None = None, key: str | None = None):
    """One call of the cloud's JSON app API; returns the decoded answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


@contextlib.contextmanager
def running_cloud(tmp_path: Path, port: int | None = None, factory_args=(), serve_args=()):
    """A fresh device batch (`zpair-wired-host factory --out batch *factory_args`) imported
    into a zpair-cloud serving plain HTTP on 127.0.0.1:port (a free port when None; a fixed
    port is the device's CONFIG_ZPAIR_CLOUD_PORT and must be free). Yields
    {"base", "port", "batch", "host", "tmp"}; the cloud's log goes to the test log at the end.
    """
    host = helper_bin()
    cloud = cloud_bin()
    batch = tmp_path / "batch"
    subprocess.run(
        [str(host), "factory", "--out", str(batch), *factory_args], check=True, timeout=60
    )
    data = tmp_path / "cloud"
    subprocess.run(
        [str(cloud), "import", str(batch / "manifest.json"), "--data-dir", str(data)],
        check=True,
        timeout=60,
    )
    if port is None:
        port = free_port()
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                pytest.fail(f"port {port} (CONFIG_ZPAIR_CLOUD_PORT) is taken on this host")
    log = open(tmp_path / "cloud.log", "w")
    proc = subprocess.Popen(
        [str(cloud), "serve", "--insecure-http", "--listen", f"127.0.0.1:{port}",
         *serve_args, "--data-dir", str(data)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(100):
            if proc.poll() is not None:
                pytest.fail(f"zpair-cloud exited ({proc.returncode})")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("zpair-cloud did not start")
        yield {
            "base": f"http://127.0.0.1:{port}",
            "port": port,
            "batch": batch,
            "host": host,
            "tmp": tmp_path,
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        logger.info("cloud log:\n%s", (tmp_path / "cloud.log").read_text())
