"""sRGB to CIELAB (D65), in numpy.

Written here rather than taken from a library because the light core allows only Pillow and
numpy: Pillow's own LAB mode (ImageCms) rounds L*, a* and b* to 8 bits and uses the D50
white of ICC profiles, while these few formulas are exact and take a few milliseconds on a
working copy of a painting. Formulas: IEC 61966-2-1 (sRGB), CIE 15 (CIELAB). CIELAB gives
the measures and the colour names their familiar scales (L* 0–100, chroma C*, hue angle).
"""

from __future__ import annotations

import numpy as np

# sRGB primaries to CIE XYZ, D65 white (IEC 61966-2-1), rows X, Y, Z.
_RGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ],
    dtype=np.float64,
)
_WHITE_D65 = _RGB_TO_XYZ.sum(axis=1)  # XYZ of sRGB white, Y = 1


def _linear_lut() -> np.ndarray:
    """The sRGB decoding curve for each 8-bit code value."""
    v = np.arange(256, dtype=np.float64) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


_LINEAR = _linear_lut()
# Rows of the matrix already divided by the white point, so X/Xn etc. come out directly.
_RGB_TO_XYZ_N = (_RGB_TO_XYZ / _WHITE_D65[:, None]).astype(np.float32)


def _lab_f(t: np.ndarray) -> np.ndarray:
    delta = 6.0 / 29.0
    return np.where(t > delta**3, np.cbrt(t), t / (3 * delta**2) + 4.0 / 29.0)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of 8-bit sRGB values, any leading shape, last axis 3; float32."""
    rgb = np.asarray(rgb)
    linear = _LINEAR.astype(np.float32)[rgb.astype(np.uint8)]
    xyz = linear @ _RGB_TO_XYZ_N.T
    f = _lab_f(np.clip(xyz, 0.0, None))
    lab = np.empty(xyz.shape, dtype=np.float32)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def chroma_hue(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CIE LCh chroma C* and hue angle h (degrees, 0–360) of Lab values."""
    a, b = lab[..., 1], lab[..., 2]
    return np.hypot(a, b), np.degrees(np.arctan2(b, a)) % 360.0
