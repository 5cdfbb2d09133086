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

PULL_TASKS = (MANIFEST_GET, BLOB_GET, IMAGE_PULL)
PUSH_TASKS = (CHUNKED_UPLOAD, MANIFEST_PUT, IMAGE_PUSH)
BROWSE_TASKS = (TAGS_LIST, CATALOG)
TASK_NAMES = (*PULL_TASKS, *PUSH_TASKS, *BROWSE_TASKS)
USER_NAMES = ("pull", "push", "browse")
"""User classes by the name weights give them: pull users run PULL_TASKS, push users PUSH_TASKS, browse users
(none unless weighted, or picked with --tags) BROWSE_TASKS."""
