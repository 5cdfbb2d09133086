"""Readers of image fixtures (`docker save` tarballs, OCI layouts, synthetic specs); no HTTP, no Locust.

Every blob is a byte range of the original file (tar members are read in place: nothing is extracted or
written) and every digest is checked or computed once at load, so that a broken or hostile fixture fails
before the test starts, with one message naming the file, the member and the problem.
"""

from .docker_save import load_docker_save
from .fixtures import load_fixtures
from .members import FixtureError
from .oci_layout import load_oci_layout
from .synthetic import BUILTIN_SPEC, synthetic_image

__all__ = ["BUILTIN_SPEC", "FixtureError", "load_docker_save", "load_fixtures", "load_oci_layout", "synthetic_image"]
