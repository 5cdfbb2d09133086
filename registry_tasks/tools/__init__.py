"""Command-line tools around a load test: `audit` (re-pull and verify what a run pushed), `compare` (two runs'
summary files side by side, regressions marked), `options` (every option of the plugin, by purpose) and the local
reference registry (tests, `make run`). None of them imports Locust."""
