"""The kit's folder in the user's cache, where every cache of the kit lives.

On Linux it is ``$XDG_CACHE_HOME/dl-basics-grader`` (``~/.cache/dl-basics-grader`` when the variable is unset
or not an absolute path, as the XDG spec says); on other systems, wherever :mod:`platformdirs` puts a user
cache. Under it: ``jax-compile-*`` (:mod:`grader.engine.compile_cache`), ``reference-*`` (the reference observations,
:mod:`grader.grading`) and ``fashion-mnist`` (:mod:`grader.data.datasets`). Tests isolate the caches by setting
``XDG_CACHE_HOME``; the folder is computed on every call, so such a change takes effect at once.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP = "dl-basics-grader"


def root() -> Path:
    """The kit's cache folder (not created here)."""
    return Path(platformdirs.user_cache_dir(APP))
