"""Measured visual facts: what is on the canvas, in numbers, with Pillow and numpy only.

A language model can describe the painting it remembers instead of the one in front of it.
These measures say part of what is actually there, so a reader (and `critic analyze`) can
set the model's words beside them, and `check_analysis` can flag the words they contradict.

API: `measure(image, k=None) -> Facts`; `facts_paragraph(facts)`; `grounding_summary(facts)`;
`check_analysis(text, facts) -> list[Flag]`; in `critic.facts.render` (Rich):
`render_facts(facts)`, `render_flags(text, flags)`, `palette_strip(facts)`, `value_bar(facts)`.

Every measure, what it computes, and what its words mean in numbers
====================================================================

All measures run on a working copy whose longest side is 320 px (box-reduced, then
bilinear), so they do not depend on the file's resolution. Colours are converted from sRGB
to CIELAB (D65): L* is lightness, 0 black to 100 white; C* is chroma, 0 for grey, about 30
for an earth colour, above 60 for a pigment straight from the tube; h is the hue angle in
degrees (red ≈ 40, orange ≈ 60, yellow ≈ 100, green ≈ 135, cyan ≈ 195, blue ≈ 290–305,
violet ≈ 310, magenta ≈ 330).

Palette
    Every pixel takes a name (`critic.facts.colour_names`), by rules in L*, C* and h: a neutral
    (black, charcoal, greys, white) below C* 5; a light neutral (cream, beige, greyish beige:
    family "cream", "light neutrals/creams") when light (L* ≥ 64), warm (h 30–115) and below
    C* 22; a greyish hue ("greyish mauve", "dark greyish blue") below C* 14, in its hue's family;
    else the nearest, hue first, of 44 painters' names such as ochre, ultramarine, umber, each
    with a reference sRGB colour. Every name has a family: one of the eleven basic colour terms,
    or "cream". Each of the *swatches* is one name: its
    *share* is the fraction of pixels that took it, its colour (*rgb*, *hex*, *lab*) the mean of
    those pixels. Automatic k: every
    name covering at least 4% of the canvas, at most 8 (and at least one); `k=N` gives the N
    largest. `families` adds the shares up by family, every pixel counted.

Value
    mean, median, p5, p95 of L*. *Key*: low below a mean of 40, high above 60, else middle.
    *Contrast*: p95 − p5, the span of the middle 90% of pixels; its *contrast_level* is low
    below 35, high above 65, else moderate. *dark_share* / *light_share*: pixels below L* 25 / above 75.
    *Separability*: Otsu's split of the L* histogram, between-class variance over total
    variance (1 for a pure two-tone image, 0.75 for an even ramp). *two_sided* (the value
    structure of chiaroscuro): separability ≥ 0.85, each side ≥ 10% of the canvas, and the
    two sides' mean lightness ≥ 40 apart. *histogram*: shares of ten L* bands, 0–10 … 90–100.

Temperature and chroma
    Each hue has a warmth from −1 to +1, linear between anchors (`TEMPERATURE_ANCHORS`):
    +1 from red-orange to orange (h 25–75), +0.6 at yellow (100) and at crimson (0), 0 at
    yellow-green (115), −0.6 at green (140), −1 from cyan to blue (180–290), −0.5 at violet
    (315), +0.2 at red-violet (335) — Itten's warm and cool halves of the wheel.
    *temperature_balance*:
    the chroma-weighted mean warmth of pixels with C* ≥ 4 (greys have no temperature). Warm
    at ≥ +0.25, cool at ≤ −0.25, else balanced; neutral when the mean C* is below 6.
    *warm_share* / *cool_share*: chroma weight on hues warmer than +0.2 / cooler than −0.2.
    *Colourfulness*: Hasler and Süsstrunk's (2003) M, from the sRGB opponent channels
    rg = R − G and yb = (R + G)/2 − B: the root of their variances' sum plus 0.3 times the
    root of their squared means' sum. Its *colourfulness_label* is the paper's category: not
    colourful below 15, slightly below 33, moderately below 45, averagely below 59, quite
    below 82, highly from 82. *mean_chroma* (mean C*) is reported beside it, and
    *vivid_chroma*, the C* reached by the most vivid tenth of the canvas (90th percentile).
    *families* (coverage): for each basic colour family, the share of pixels its *loose*
    rule accepts (generous: every shade someone might call so) and its *core* rule accepts
    (strict: unmistakably that colour); the rules, in L*, C* and h, are `FAMILY_RULES`.

Composition
    Edge energy is the Sobel gradient of L* (L* per pixel at the working size).
    *weight_centre*: the centroid of edge energy, x and y as fractions of width and height
    from the top left; its *weight_position* is centred within 0.05 of the middle each way,
    else left/right of centre and high/low. *nearest_anchor*: the centre or the thirds
    intersection nearest that centroid, and its *anchor_distance*; "near" when ≤ 0.08. *grid*: shares of edge energy in the
    nine cells of the thirds grid. *edge_density*: share of pixels whose gradient exceeds
    4 L* per pixel; its *detail_level* is sparse below 10%, dense above 30%. *focal_area*:
    the edge map averaged over a window a fifth of the longest side, its peak (*focal_point*)
    named by its thirds cell when the peak is at least 1.5× the mean (*focal_strength*),
    else "spread across the canvas".
    *Lines*: orientations from the structure tensor (gradient products averaged over 5×5
    px), at pixels with energy above 4 L*/px and coherence ≥ 0.5, weighted by energy ×
    coherence. An edge pixel is *curving* when the orientation 5 px ahead and 5 px behind
    along the edge differ by 4°–40° (a radius of curvature between about 14 and 140 px),
    otherwise horizontal (within 22.5° of level), vertical, or diagonal. The four shares
    sum to 1; *dominant* is the largest when it reaches 40%, else mixed ("none" without edges).
    *Symmetry*: the image reduced to 32 px wide in CIELAB, each row's mean removed (so only
    what varies across the width counts), then correlated with its left–right mirror: 1 a
    mirror image, about 0 unrelated halves, −1 one half the negative of the other; 1 when
    nothing varies across the width. Its *symmetry_level*: symmetric ≥ 0.75, roughly
    symmetric ≥ 0.45, partly symmetric ≥ 0.2, asymmetric below.

A detail against the whole (`critic.facts.detail.compare_to_whole`)
    A detail's facts are measured on its crop like any picture's, then set against the whole
    painting's: darker or lighter when mean L* is 5 or more apart, warmer or cooler at 0.15 of
    temperature balance (not between two neutral pictures), more colourful or more muted at 10
    of colourfulness M, more contrasted or softer at 10 of contrast, busier or calmer at 5
    points of edge density; then the largest colour family and the dominant line direction
    where they differ. Nothing past its threshold: "much like the painting overall".

Checking an analysis (`check_analysis`)
    Sentences are read for four kinds of claim and flagged only when the measurement is far
    past the word's threshold (`FLAG_*` in `critic.facts.check`); negated, hedged ("may",
    "perhaps", "if"), questioned, or local claims are skipped, as are contrast claims that
    talk of colour rather than light and dark.
    - colour: a family said to rule the canvas ("dominated by blues", "blues dominate", "a
      palette of reds", "the palette is fiery red throughout", "a red palette", "predominantly
      green" with a global subject) when it is neither a substantial share nor among the largest
      families: its *tinted* coverage (the loose rule down to C* 4, so greyed "slate blues"
      count) is under 10% of the canvas and under a quarter of the largest family's; a hue said
      to be absent ("no red", "devoid of yellow") whose core coverage is 0.3% or more (5% for
      black, white and grey), or that has a vivid accent; "greyscale"/"colourless" when vivid
      chroma is 36 or more.
    - value: "dark overall"/"low-key"/"shadows dominate" on a high-key picture (mean L* above
      60) whose median L* is above 60 and under a quarter of which is darker than L* 40; "light
      overall"/"high-key"/"a pale palette" on a low-key picture whose median is below 40 and
      under a quarter of which is lighter than L* 60; "strong contrast"/"chiaroscuro" when
      contrast is under 25; "low contrast" when it is above 75.
    - temperature: a warm palette/tones claim (global), or a warm word attached to hues that
      rule the canvas ("warm reds and oranges dominate", unless the sentence names a part of
      the picture such as the sky), when the balance is −0.4 or lower; a cool one when it is
      +0.4 or higher; sentences naming both warm and cool are skipped.
    - symmetry: "symmetrical" when symmetry is −0.1 or lower; "asymmetrical" when it is
      0.85 or higher.
"""

from __future__ import annotations

from critic.facts.check import Flag, check_analysis
from critic.facts.describe import MEASURED_LABEL, facts_paragraph, grounding_summary
from critic.facts.measure import Facts, measure

__all__ = [
    "Facts",
    "Flag",
    "MEASURED_LABEL",
    "check_analysis",
    "facts_paragraph",
    "grounding_summary",
    "measure",
]
