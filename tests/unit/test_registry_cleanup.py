"""--cleanup's ledger: which pushes it keeps to delete. Deleting them from a real registry:
tests/system/test_cleanup.py."""

from __future__ import annotations

from registry_tasks.registry.cleanup import PushLedger


def test_ledger_keeps_successful_manifest_puts_under_its_prefix() -> None:
    ledger = PushLedger()
    ledger.prefix = "lt/push-"
    ledger.record("manifest-put", None, {"repository": "lt/push-a", "reference": "latest"})
    ledger.record("manifest-put", RuntimeError("500"), {"repository": "lt/push-b", "reference": "latest"})
    ledger.record("manifest-put", None, {"repository": "lt/app-tags", "reference": "put-1"})
    ledger.record("manifest-get", None, {"repository": "lt/push-a", "reference": "latest"})
    assert ledger.take() == [("lt/push-a", "latest")]
    assert ledger.take() == []
