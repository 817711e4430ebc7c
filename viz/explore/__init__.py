"""viz.explore: one self-contained interactive page to walk an unrolled graph and replay its backward pass.

See :func:`viz.explore.explore`; the page's JavaScript API is documented in ``docs/viz.md``.
"""
from .page import Explorer, explore

__all__ = ["explore", "Explorer"]
