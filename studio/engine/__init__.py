"""The shared inference engine (no Qt).

Submodules are imported explicitly; this package imports nothing so that
``studio.engine.client`` (used by the window) never drags torch in.
"""
