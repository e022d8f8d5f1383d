"""Plugins: the API plugins import (``studio.plugins.api``), manifests and discovery.

No Qt and no engine internals here: a plugin depends only on this package and studio.core.
"""
