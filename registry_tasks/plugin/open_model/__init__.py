"""The open model: arrivals on pooled simulated clients, the schedule a process runs (rates, a rollout, a
capacity search, a replay), its figures merged from the workers, and `--load-shape`'s Locust shape class.

Uses run/ and users/ (its simulated clients are instances of the user classes).
"""
