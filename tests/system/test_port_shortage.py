"""Ephemeral ports running out (EADDRNOTAVAIL), for real: in a network namespace of its own whose port range
is two ports, both held. Each request is a failure with one message, the fix is logged once, no traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from registry_tasks.registry.session import PORT_SHORTAGE

from ..support.helpers import ROOT, missing


def test_running_out_of_ports_is_a_failure_with_the_fix_said_once() -> None:
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        missing("needs root and unshare (util-linux) for a network namespace of its own")
    probe = "ip link set lo up 2>/dev/null || true; exec \"$0\" -m tests.support.port_shortage_probe"
    result = subprocess.run(
        [unshare, "-n", "sh", "-c", probe, sys.executable],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["failures"] == [{"name": "manifest-get", "message": PORT_SHORTAGE, "raised": "RequestFailed"}] * 3
    told = [line for line in report["logged"] if "ip_local_port_range" in line]
    assert len(told) == 1 and "tcp_tw_reuse" in told[0] and "more workers" in told[0]
