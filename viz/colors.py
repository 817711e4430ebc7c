"""The one colour scale of a picture: log10 of the gradient magnitude -> a viridis colour.

Viridis (dark purple = small, yellow = large) is readable in greyscale and by colour-blind
readers, its lightness grows monotonically with the value, and it has no red, which is kept for
NaN/Inf. The anchors are written out so that drawing never needs matplotlib.

Example:
    >>> scale = ColorScale(1e-4, 0.5)
    >>> scale.low_exp, scale.high_exp
    (-4, 0)
    >>> scale.color(1e-4), scale.color(1.0)
    ('#440154', '#fde725')
"""
import math

# matplotlib's viridis sampled at 0, 0.1, ..., 1.
VIRIDIS = ("#440154", "#482475", "#414487", "#355f8d", "#2a788e", "#21918c", "#22a884",
           "#44bf70", "#7ad151", "#bddf26", "#fde725")

NO_GRAD_FILL = "#eeeeee"     # no gradient computed/kept (inputs, constants, not reached)
ZERO_GRAD_FILL = "#ffffff"   # a gradient that is exactly zero (e.g. masked steps)
BAD_FILL = "#e31a1c"         # NaN or Inf
MASKED_FILL = "#d9d9d9"      # background of a step whose state got no gradient


def _rgb(hex_color):
    return tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))


def _hex(rgb):
    return "#" + "".join(f"{max(0, min(255, int(round(c)))):02x}" for c in rgb)


def interpolate(position):
    """The viridis colour at ``position`` in [0, 1] (clipped), linearly between anchors.

    Example:
        >>> interpolate(0.0), interpolate(0.05), interpolate(2.0)
        ('#440154', '#461264', '#fde725')
    """
    p = min(1.0, max(0.0, float(position))) * (len(VIRIDIS) - 1)
    i = min(int(p), len(VIRIDIS) - 2)
    frac = p - i
    a, b = _rgb(VIRIDIS[i]), _rgb(VIRIDIS[i + 1])
    return _hex(tuple(x + (y - x) * frac for x, y in zip(a, b)))


def luminance(hex_color):
    """Relative luminance (0 black .. 1 white) of ``"#rrggbb"``, to pick a readable font colour.

    Example:
        >>> round(luminance("#ffffff"), 3), round(luminance("#000000"), 3)
        (1.0, 0.0)
    """
    def channel(c):
        c /= 255.0
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in _rgb(hex_color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def font_color(fill):
    """Black on light fills, white on dark ones.

    Example:
        >>> font_color("#fde725"), font_color("#440154")
        ('black', 'white')
    """
    return "black" if luminance(fill) > 0.18 else "white"


class ColorScale:
    """Maps a positive magnitude to a colour on a log10 scale spanning whole decades.

    Args:
        smallest, largest: the range of the magnitudes in the picture (positive, finite). The scale
            runs from ``floor(log10(smallest))`` to ``ceil(log10(largest))`` (at least one decade).

    Example:
        >>> s = ColorScale(3e-7, 2.0)
        >>> s.low_exp, s.high_exp, s.position(1e-3)
        (-7, 1, 0.5)
    """

    def __init__(self, smallest, largest):
        if not (smallest > 0 and largest >= smallest and math.isfinite(largest)):
            raise ValueError(f"a colour scale needs 0 < smallest <= largest < inf, got "
                             f"{smallest!r}, {largest!r}")
        self.low_exp = math.floor(math.log10(smallest))
        self.high_exp = math.ceil(math.log10(largest))
        if self.high_exp <= self.low_exp:
            self.high_exp = self.low_exp + 1

    @classmethod
    def for_range(cls, magnitude_range):
        """A scale for ``(smallest, largest)``, or a default 1e-3..1e0 scale for None.

        Example:
            >>> s = ColorScale.for_range(None)
            >>> s.low_exp, s.high_exp
            (-3, 0)
        """
        return cls(1e-3, 1.0) if magnitude_range is None else cls(*magnitude_range)

    def position(self, value):
        """Where ``value`` sits on the scale, 0 (smallest) .. 1 (largest)."""
        return (math.log10(value) - self.low_exp) / (self.high_exp - self.low_exp)

    def color(self, value):
        """The fill colour for a positive finite magnitude."""
        return interpolate(self.position(value))

    def ticks(self, count=5):
        """Up to ``count`` decade exponents along the scale, both ends included.

        Example:
            >>> ColorScale(1e-8, 1.0).ticks(5)
            [-8, -6, -4, -2, 0]
        """
        span = self.high_exp - self.low_exp
        step = max(1, math.ceil(span / max(1, count - 1)))
        exps = list(range(self.low_exp, self.high_exp + 1, step))
        if exps[-1] != self.high_exp:
            exps.append(self.high_exp)
        return exps
