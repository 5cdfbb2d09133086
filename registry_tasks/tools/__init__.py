"""Command-line tools around a load test: `audit` (re-pull and verify what a run pushed) and the local reference
registry (tests, `make run`). None of them imports Locust."""
