"""The one colour scale of a picture: log10 of the gradient magnitude -> a viridis colour.

Viridis (dark purple = small, yellow = large) is readable in greyscale and by colour-blind
readers, its lightness grows monotonically with the value, and it has no red, which is kept for
NaN/Inf. The anchors are written out so that drawing never needs matplotlib.

Example:
    >>> scale = ColorScale(1e-4, 0.5)
    >>> scale.low, scale.high
    (0.0001, 1.0)
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


def _round_sig(value, digits, up):
    """``value`` rounded to ``digits`` significant digits, up or down (never past the value)."""
    exponent = math.floor(math.log10(value)) - digits + 1
    step = 10.0 ** exponent
    rounded = (math.ceil if up else math.floor)(value / step - (1e-9 if up else -1e-9)) * step
    return float(f"{rounded:.{digits}g}")


class ColorScale:
    """Maps a positive magnitude to a colour on a log10 scale spanning the picture's range.

    Args:
        smallest, largest: the range of the magnitudes in the picture (positive, finite). The scale
            runs from ``smallest`` rounded down to ``largest`` rounded up: to whole decades when
            the range spans more than a decade, else to two significant digits, so that a range
            1.0 .. 1.1 uses the whole colour bar as 1e-40 .. 1e1 does. Equal values get equal
            colours; a single value sits in the middle of the bar.

    Example:
        >>> s = ColorScale(3e-7, 2.0)
        >>> s.low, s.high, s.position(1e-3)
        (1e-07, 10.0, 0.5)
        >>> narrow = ColorScale(1.0, 1.1)
        >>> narrow.low, narrow.high, narrow.color(1.0) != narrow.color(1.1)
        (1.0, 1.1, True)
    """

    def __init__(self, smallest, largest):
        if not (smallest > 0 and largest >= smallest and math.isfinite(largest)):
            raise ValueError(f"a colour scale needs 0 < smallest <= largest < inf, got "
                             f"{smallest!r}, {largest!r}")
        if math.log10(largest) - math.log10(smallest) >= 1:
            self._log_low = math.floor(math.log10(smallest))
            self._log_high = math.ceil(math.log10(largest))
            self.low, self.high = 10.0 ** self._log_low, 10.0 ** self._log_high
        else:
            self.low = _round_sig(smallest, 2, up=False)
            self.high = _round_sig(largest, 2, up=True)
            self._log_low, self._log_high = math.log10(self.low), math.log10(self.high)

    @classmethod
    def for_range(cls, magnitude_range):
        """A scale for ``(smallest, largest)``, or a default 1e-3..1e0 scale for None.

        Example:
            >>> s = ColorScale.for_range(None)
            >>> s.low, s.high
            (0.001, 1.0)
        """
        return cls(1e-3, 1.0) if magnitude_range is None else cls(*magnitude_range)

    @property
    def decades(self):
        """How many decades the scale spans (0 for a one-value scale)."""
        return self._log_high - self._log_low

    def position(self, value):
        """Where ``value`` sits on the scale, 0 (smallest) .. 1 (largest); 0.5 for a one-value scale."""
        if self._log_high == self._log_low:
            return 0.5
        return (math.log10(value) - self._log_low) / (self._log_high - self._log_low)

    def color(self, value):
        """The fill colour for a positive finite magnitude, taken at the two significant digits a
        label prints: two nodes whose labels read the same get the same colour.

        Example:
            >>> s = ColorScale(1.0, 1.1)
            >>> s.color(1.0812) == s.color(1.0849), s.color(1.0812) == s.color(1.0451)
            (True, False)
        """
        printed = float(f"{value:.1e}")
        return interpolate(self.position(min(max(printed, self.low), self.high)))

    def ticks(self, count=5):
        """Up to ``count`` tick values along the scale, both ends included: decades when the
        scale spans several, else evenly spaced on the log axis, with the fewest significant digits
        (two at least) that keep them apart.

        Example:
            >>> ColorScale(1e-8, 1.0).ticks(5)
            [1e-08, 1e-06, 0.0001, 0.01, 1.0]
            >>> ColorScale(1.0, 1.1).ticks(3)
            [1.0, 1.05, 1.1]
            >>> ColorScale(0.22, 1.0).ticks(5)
            [0.22, 0.32, 0.47, 0.69, 1.0]
        """
        if self._log_high == self._log_low:
            return [self.low]
        span = round(self._log_high - self._log_low, 9)
        if span >= 1 and span == int(span):
            decades = int(span)
            step = max(1, math.ceil(decades / max(1, count - 1)))
            exps = list(range(int(round(self._log_low)), int(round(self._log_high)) + 1, step))
            if exps[-1] != int(round(self._log_high)):
                exps.append(int(round(self._log_high)))
            return [10.0 ** e if e > -300 else 10.0 ** -300 for e in exps]
        values = [10 ** (self._log_low + k * (self._log_high - self._log_low) / (count - 1))
                  for k in range(count)]
        # the fewest significant digits (two at least) that keep the ticks apart: 0.22, 0.32, ...
        # rather than 0.321, but 1.02, 1.05 on a range 1.0 to 1.1
        for digits in range(2, 16):
            rounded = [float(f"{v:.{digits}g}") for v in values]
            if all(a < b for a, b in zip(rounded, rounded[1:])):
                return rounded
        return values


def tick_text(value):
    """A tick label: ``1e-3`` for a decade, else up to three significant digits.

    Example:
        >>> tick_text(0.001), tick_text(1.05), tick_text(10.0)
        ('1e-3', '1.05', '1e1')
    """
    exponent = math.log10(value)
    if abs(exponent - round(exponent)) < 1e-9:
        return f"1e{int(round(exponent))}"
    return f"{value:.3g}"
