"""How big a seed may be: two numbers the window needs before the parameter schemas load.

``studio.core.params`` validates parameters with pydantic (~200 ms to import); the Generate
panel's seed box only needs these bounds, so they live here and ``params`` re-exports them.
"""

from __future__ import annotations

# Seeds are unsigned 64-bit end to end: ComfyUI writes seeds up to 2**64 - 1 and A1111 up
# to 2**32 - 1, and torch.Generator.manual_seed / numpy's SeedSequence take the whole range.
SEED_MAX = 2**64 - 1
# Seeds the studio draws itself stay in A1111's 32-bit range: short enough to read and type.
RANDOM_SEED_MAX = 2**32 - 1
