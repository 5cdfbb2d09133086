"""Whole-image workflows against an in-test server playing what a real registry no longer serves (schema1).
Against a real registry, checked by skopeo: tests/system/test_workflows.py."""

from __future__ import annotations

import hashlib
import http.server
import json

from registry_tasks.image import Platform
from registry_tasks.registry.client import RegistryClient
from registry_tasks.registry.workflows import pull_image

from ..support.helpers import Recorder, serve

AMD64 = Platform("linux", "amd64")


def test_schema1_manifest_is_read_where_a_registry_still_serves_it() -> None:
    """distribution 2.8 no longer accepts schema1 pushes, so a small server plays an old registry."""
    layers = {f"sha256:{hashlib.sha256(data).hexdigest()}": data for data in (b"layer one" * 100, b"layer two")}
    fs_layers = [{"blobSum": digest} for digest in [*layers, *layers]]  # repeated layers, as schema1 lists them
    manifest = json.dumps({"schemaVersion": 1, "name": "old/app", "tag": "1", "fsLayers": fs_layers}).encode()

    class OldRegistry(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if "/manifests/" in self.path:
                body, kind = manifest, "application/vnd.docker.distribution.manifest.v1+prettyjws"
            else:
                body, kind = layers[self.path.rsplit("/", 1)[1]], "application/octet-stream"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    recorder = Recorder()
    with serve(OldRegistry) as url:
        client = RegistryClient(url, recorder)
        pulled = pull_image(client, "old/app", "1", AMD64, parallel=3)
        client.close()
    assert recorder.failures() == []
    assert sorted(event["context"]["digest"] for event in recorder.named("blob-get")) == sorted(layers)
    assert pulled == len(manifest) + sum(len(data) for data in layers.values())
