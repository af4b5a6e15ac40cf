"""The claim checker's held-out set: claims about the generated pictures in `painted.py`.

Written and labelled by looking at the pictures, before the checker was run on any of them,
and not to be edited to suit it: a label is what a careful viewer says about the claim
(True: the picture contradicts it). The thresholds are tuned on the other set, in
`test_facts_check.py`; this one only measures.

Each entry is (picture, kind, text, contradicted), `kind` being the sort of claim the text
makes, for the per-kind confusion counts ("paragraph" for a whole accurate analysis).
"""

from __future__ import annotations

HELD_OUT: list[tuple[str, str, str, bool]] = [
    # A grey harbour with one small red boat.
    ("harbour", "dominance", "Red dominates the harbour scene.", True),
    ("harbour", "dominance", "The palette is dominated by reds.", True),
    ("harbour", "dominance", "Cool greys and slate blues dominate the palette.", False),
    ("harbour", "absence", "There is no red anywhere in the picture.", True),
    ("harbour", "local", "A single red boat stands out against the grey water.", False),
    ("harbour", "palette", "The palette is fiery red throughout.", True),
    ("harbour", "lightness", "The scene is dark and low-key overall.", True),
    ("harbour", "local", "The red sail is the most saturated colour on the canvas.", False),
    # Green fields, a blue sky, a strip of yellow flowers.
    ("fields", "absence", "There is no yellow in the landscape.", True),
    ("fields", "dominance", "Greens dominate the landscape.", False),
    ("fields", "dominance", "The palette is dominated by purples and pinks.", True),
    ("fields", "absence", "The painting contains no red.", False),
    ("fields", "temperature", "Cool blues and greens dominate the landscape.", False),
    ("fields", "temperature", "A warm palette of oranges and reds fills the canvas.", True),
    ("fields", "local", "The sky is pale blue.", False),
    # A navy night harbour with a row of small lit windows and a pale moon.
    ("nocturne", "lightness", "The painting is light overall, high in key.", True),
    ("nocturne", "palette", "The palette is fiery red throughout.", True),
    ("nocturne", "palette", "A palette of deep blues sets the night.", False),
    ("nocturne", "lightness", "A bright, luminous palette fills the canvas.", True),
    ("nocturne", "local", "The lit windows are warm yellow points in the darkness.", False),
    ("nocturne", "absence", "There is no yellow in the painting.", True),
    ("nocturne", "temperature", "Cool blues dominate the night scene.", False),
    ("nocturne", "temperature", "The picture is dominated by warm tones.", True),
    # An orange-to-red sunset over a dark red-brown field, black trees, a pale sun.
    ("sunset", "temperature", "Cool blues and greens dominate the canvas.", True),
    ("sunset", "palette", "The palette is fiery red and orange throughout.", False),
    ("sunset", "palette", "A palette of pure blues sets a calm mood.", True),
    ("sunset", "absence", "There is no blue anywhere in the picture.", False),
    ("sunset", "temperature", "The overall palette is warm.", False),
    ("sunset", "temperature", "The colour scheme is cool.", True),
    ("sunset", "dominance", "Greens dominate the landscape.", True),
    ("sunset", "local", "The sun is a pale yellow disc low in the sky.", False),
    # A dark umber interior with one lit face, a white collar and hands.
    ("interior", "lightness", "The scene is light overall, high in key.", True),
    ("interior", "value", "Dramatic chiaroscuro shapes the figure.", False),
    ("interior", "dominance", "Earthy browns dominate the room.", False),
    ("interior", "lightness", "A pale, airy palette of light tones fills the canvas.", True),
    ("interior", "local", "The face is light against the dark room.", False),
    ("interior", "dominance", "Blues dominate the interior.", True),
    ("interior", "lightness", "The painting is predominantly dark.", False),
    # A pale pastel morning: cream, soft pink, pale blue, faint lilac.
    ("pastel", "lightness", "The painting is dark and low-key.", True),
    ("pastel", "palette", "A palette of soft pastels fills the canvas.", False),
    ("pastel", "lightness", "Deep shadows dominate the composition.", True),
    ("pastel", "lightness", "The palette is high-key and pale.", False),
    ("pastel", "dominance", "Black dominates the canvas.", True),
    # A grey foggy river, a grey bridge, one small blue boat.
    ("fog", "dominance", "Blue dominates the composition.", True),
    ("fog", "palette", "The palette is muted grey throughout.", False),
    ("fog", "local", "A small blue boat is the only colour in the fog.", False),
    ("fog", "dominance", "Vivid reds and oranges dominate the picture.", True),
    ("fog", "absence", "There is no blue in the picture.", True),
    # A lagoon: deep blue sky, turquoise water, green palms, one small orange boat.
    ("lagoon", "temperature", "A warm palette of reds and oranges dominates the lagoon.", True),
    ("lagoon", "dominance", "Cool blues and turquoise dominate.", False),
    ("lagoon", "absence", "There is no orange in the picture.", True),
    ("lagoon", "palette", "The palette is fiery red throughout.", True),
    ("lagoon", "dominance", "Greens and blues dominate the palette.", False),
    # Whole accurate analyses: no sentence in them may be flagged.
    ("harbour", "paragraph",
     "The composition is quiet and horizontal. A pale grey sky fills the upper half above slate-grey "
     "water, and a dark pier cuts in diagonally from the left. The only strong colour is the small red "
     "boat on the right, which draws the eye. The palette is cool and restrained, dominated by greys.",
     False),
    ("sunset", "paragraph",
     "The sky burns from orange at the top to red at the horizon, and the low sun is a pale yellow "
     "disc. Two black trees frame the scene like silhouettes. The palette is warm throughout, with no "
     "blue at all, and the dark foreground grounds the blaze above.",
     False),
    ("nocturne", "paragraph",
     "This is a low-key nocturne: deep navy blues fill the sky and water. A row of small yellow "
     "windows and a pale moon provide the only light. The mood is quiet and cool.",
     False),
]
