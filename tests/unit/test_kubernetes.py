"""deploy/kubernetes stays valid without a cluster: every document parses, and master and workers are wired."""

from __future__ import annotations

from typing import Any

import yaml

from ..support.helpers import ROOT

DEPLOY = ROOT / "deploy" / "kubernetes"


def documents() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            found[(document["kind"], document.get("metadata", {}).get("name", ""))] = document
    return found


def pod(document: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = document["spec"]["template"]["spec"]
    return spec


def test_manifests_parse_and_kustomization_lists_them() -> None:
    found = documents()
    kustomization = found[("Kustomization", "")]
    assert [DEPLOY / name for name in kustomization["resources"]] == [DEPLOY / "locust.yaml"]
    assert set(found) >= {
        ("Deployment", "locust-master"),
        ("Deployment", "locust-worker"),
        ("Service", "locust-master"),
        ("PersistentVolumeClaim", "registry-fixtures"),
    }


def test_master_and_workers_share_image_fixtures_and_address() -> None:
    found = documents()
    master, worker = pod(found[("Deployment", "locust-master")]), pod(found[("Deployment", "locust-worker")])
    service = found[("Service", "locust-master")]
    assert {port["port"] for port in service["spec"]["ports"]} == {5557, 8089}
    assert (
        service["spec"]["selector"] == found[("Deployment", "locust-master")]["spec"]["template"]["metadata"]["labels"]
    )
    master_args, worker_args = master["containers"][0]["args"], worker["containers"][0]["args"]
    assert "--master" in master_args and "-H" in master_args
    assert worker_args[worker_args.index("--master-host") + 1] == "locust-master"
    for spec in (master, worker):
        container = spec["containers"][0]
        assert container["image"] == "registry-tasks-locust"
        assert container["args"][:2] == ["-f", "/home/locust/locustfile.py"]  # where the Dockerfile puts it
        environment = {item["name"]: item for item in container["env"]}
        assert environment["LOCUST_FIXTURES_DIR"]["value"] == "/home/locust/fixtures"
        assert environment["LOCUST_REGISTRY_PASSWORD"]["valueFrom"]["secretKeyRef"]["optional"] is True
        assert container["volumeMounts"] == [
            {"name": "fixtures", "mountPath": "/home/locust/fixtures", "readOnly": True}
        ]
        claim = spec["volumes"][0]["persistentVolumeClaim"]
        assert claim == {"claimName": "registry-fixtures", "readOnly": True}
