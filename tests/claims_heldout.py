"""Labelled claims about the generated pictures in `painted.py`, for the claim checker.

Both sets were written and labelled by looking at the pictures, before the checker was run on
any of them, and are not to be edited to suit it: a label is what a careful viewer says about
the claim (True: the picture contradicts it).

`SEEN_WHEN_REVISING` was the first held-out set: its misses under the old rules named the
classes of claim the checker now reads, so it counts with the tuning claims. `HELD_OUT` was
written after that revision, on eight new pictures and in new words, and committed before the
revised checker first ran on it. One false flag found in that first run (green-grey storm
waves) led to the `tinted` coverage; nothing else was changed after seeing it.

Each entry is (picture, kind, text, contradicted), `kind` being the sort of claim the text
makes, for the per-kind confusion counts ("paragraph" for a whole accurate analysis).
"""

from __future__ import annotations

SEEN_WHEN_REVISING: list[tuple[str, str, str, bool]] = [
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


# The held-out set proper: the README's held-out figures come from this set alone.
HELD_OUT: list[tuple[str, str, str, bool]] = [
    # A spring orchard: pale sky, yellow-green grass, grey trunks, pink blossom.
    ("orchard", "dominance", "Deep blues dominate the orchard.", True),
    ("orchard", "absence", "There is no pink in the painting.", True),
    ("orchard", "palette", "The palette is fresh green and pink.", False),
    ("orchard", "lightness", "The picture is sombre and dark overall.", True),
    ("orchard", "temperature", "Warm reds and oranges dominate the canvas.", True),
    ("orchard", "local", "Grey trunks rise from the grass.", False),
    ("orchard", "dominance", "Yellow-greens dominate the lower half.", False),
    # A storm at sea: slate-dark sky, dark green-grey waves, one small white sail.
    ("storm", "lightness", "A luminous, pale palette fills the canvas.", True),
    ("storm", "lightness", "The scene is overwhelmingly dark.", False),
    ("storm", "absence", "There is no white anywhere.", True),
    ("storm", "palette", "The palette is a vivid crimson throughout.", True),
    ("storm", "temperature", "Cool greys and greens prevail.", False),
    ("storm", "dominance", "Golden yellows dominate the stormy sky.", True),
    ("storm", "local", "A lone white sail catches the eye.", False),
    # A desert noon: hazy pale sky, ochre dunes, one brown shadowed dune.
    ("desert", "temperature", "The colour scheme is cold.", True),
    ("desert", "temperature", "Warm ochres and golds fill the entire canvas.", False),
    ("desert", "dominance", "Greens and blues dominate the palette.", True),
    ("desert", "absence", "There is no brown in the picture.", True),
    ("desert", "lightness", "The painting is predominantly dark.", True),
    ("desert", "palette", "The palette is sandy and golden throughout.", False),
    # A winter village: grey-blue sky, white snow, black bare trees, one small red house.
    ("winter", "lightness", "The picture is low-key, dominated by deep shadow.", True),
    ("winter", "absence", "There is no red in the scene.", True),
    ("winter", "dominance", "Red dominates the winter scene.", True),
    ("winter", "palette", "The palette is white and grey-blue.", False),
    ("winter", "local", "A small red house sits among bare black trees.", False),
    ("winter", "temperature", "A warm palette of reds and browns fills the canvas.", True),
    # An autumn wood: orange and red foliage, brown ground, dark trunks.
    ("autumn", "temperature", "Cool blues and violets dominate the wood.", True),
    ("autumn", "palette", "The palette is a blaze of orange and red.", False),
    ("autumn", "absence", "There is not a trace of red.", True),
    ("autumn", "dominance", "Oranges and browns predominate.", False),
    ("autumn", "absence", "The painting contains no blue at all.", False),
    ("autumn", "lightness", "The scene is high-key and pale.", True),
    # A violet dusk: purple to lilac sky, a dark blue town, one small yellow street lamp.
    ("dusk", "dominance", "Violet and purple dominate the sky.", False),
    ("dusk", "absence", "There is no yellow in the painting.", True),
    ("dusk", "temperature", "Warm tones dominate the whole picture.", True),
    ("dusk", "palette", "The palette is green throughout.", True),
    ("dusk", "dominance", "Oranges dominate the composition.", True),
    ("dusk", "local", "A single yellow street lamp glows in the dark street.", False),
    # A market stall: awnings and fruit in eight hues on a beige ground.
    ("market", "absence", "The painting contains no green.", True),
    ("market", "absence", "There is no purple.", True),
    ("market", "dominance", "Blue dominates the canvas.", True),
    ("market", "palette", "A rainbow of reds, oranges, yellows, greens, blues and purples fills the stall.", False),
    ("market", "colourless", "The picture is rendered in greyscale.", True),
    ("market", "dominance", "Reds dominate the palette.", True),
    # A portrait in blue: deep blue ground, a figure in black, a pale face and hands.
    ("portrait", "dominance", "Deep blues and black dominate.", False),
    ("portrait", "temperature", "The palette is warm.", True),
    ("portrait", "absence", "The painting is without any blue.", True),
    ("portrait", "lightness", "A pale, high-key palette fills the portrait.", True),
    ("portrait", "palette", "A palette of earthy browns and ochres.", True),
    ("portrait", "local", "The pale face glows against the dark ground.", False),
    ("portrait", "symmetry", "The composition is strictly symmetrical around the figure.", False),
    # Whole accurate analyses.
    ("winter", "paragraph",
     "A quiet winter scene in a high key: white snow fills the lower half under a pale grey-blue sky. "
     "Three bare black trees make thin vertical accents, and a small red house on the right is the only "
     "warm note. The palette is cool and restrained.",
     False),
    ("autumn", "paragraph",
     "The wood is ablaze with autumn colour: oranges, reds and golden yellows crowd the upper canvas. "
     "Dark trunks cut vertically through the foliage. The palette is warm throughout, with no blue at all.",
     False),
    ("portrait", "paragraph",
     "The figure, dressed in black, stands against a deep blue ground. Only the pale face and hands are "
     "lit, so the value structure is strong. The colour is cool overall, dominated by blues.",
     False),
]
