"""Run inside a network namespace of its own (`unshare -n`): leave two ephemeral ports, hold both, then let a
RegistryClient connect. Prints one JSON line: the failures it reported and what it logged.

The namespace's own `ip_local_port_range` is set, never the machine's; nothing leaves its loopback.
"""

from __future__ import annotations

import json
import logging
import socket
import sys

from registry_tasks.registry.client import RegistryClient


def main() -> None:
    with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as handle:
        handle.write("40000 40001")
    port = 5999  # outside the two-port range (the namespace is empty: nothing else listens)
    server = socket.socket()
    server.bind(("127.0.0.1", port))
    server.listen(8)
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]  # every ephemeral port in use
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("registry_tasks").addHandler(handler)
    events: list[dict[str, object]] = []
    client = RegistryClient(f"http://127.0.0.1:{port}", lambda **event: events.append(event))
    for _ in range(3):
        try:
            client.get_manifest("probe/app", "latest")
        except Exception as exc:  # RequestFailed, as reported
            events[-1]["raised"] = type(exc).__name__
    client.close()
    for sock in held:
        sock.close()
    failures = [{"name": e["name"], "message": str(e["exception"]), "raised": e.get("raised")} for e in events]
    print(json.dumps({"failures": failures, "logged": records}))
    sys.exit(0)


if __name__ == "__main__":
    main()
