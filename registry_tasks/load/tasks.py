"""The tasks a closed-loop user chooses among: the names `--tags`, scenario weights and the web UI use."""

from __future__ import annotations

MANIFEST_GET = "manifest-get"
BLOB_GET = "blob-get"
IMAGE_PULL = "image-pull"
CHUNKED_UPLOAD = "chunked-upload"
MANIFEST_PUT = "manifest-put"
IMAGE_PUSH = "image-push"

TAGS_LIST = "tags-list"
CATALOG = "catalog"
TAG_CHURN = "tag-churn"
MANIFEST_DELETE = "manifest-delete"
ARTIFACT_PUSH = "artifact-push"
REFERRERS_GET = "referrers-get"

PULL_TASKS = (MANIFEST_GET, BLOB_GET, IMAGE_PULL)
PUSH_TASKS = (CHUNKED_UPLOAD, MANIFEST_PUT, IMAGE_PUSH)
BROWSE_TASKS = (TAGS_LIST, CATALOG)
CHURN_TASKS = (TAG_CHURN, MANIFEST_DELETE)
ARTIFACT_TASKS = (ARTIFACT_PUSH, REFERRERS_GET)
TASK_NAMES = (*PULL_TASKS, *PUSH_TASKS, *BROWSE_TASKS, *CHURN_TASKS, *ARTIFACT_TASKS)
USER_NAMES = ("pull", "push", "browse", "churn", "artifact")
"""User classes by the name weights give them: pull users run PULL_TASKS, push users PUSH_TASKS; browse and churn
users (none unless weighted, or picked with --tags) BROWSE_TASKS and CHURN_TASKS, artifact users (likewise)
ARTIFACT_TASKS."""
TASKS_OF = {"pull": PULL_TASKS, "push": PUSH_TASKS, "browse": BROWSE_TASKS, "churn": CHURN_TASKS,
            "artifact": ARTIFACT_TASKS}  # fmt: skip
"""Which kind of user runs each task (the plugin checks its classes against this)."""
ASKED_ONLY = {"browse": BROWSE_TASKS, "churn": CHURN_TASKS, "artifact": ARTIFACT_TASKS}
"""User classes that run only when weighted, or when --tags (or task weights) pick their tasks."""
