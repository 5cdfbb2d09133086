"""The closed-loop user classes, which of them a run spawns with which weights, and `--show-task-ratio`.

Uses run/ (each user reads its process's `RegistryRun` through its environment); nothing else of plugin/.
"""
