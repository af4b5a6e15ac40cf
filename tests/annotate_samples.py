"""Answers an LLM gives to the pipeline's analysis prompts: real formal analyses that must be
kept, and each kind of non-analysis that must not. annotate.validate's thresholds were chosen
on these (see its docstring); the validator tests and the scripted runs use them.

The analyses are written the way GPT-4-class models answer "Write one paragraph of formal
analysis ... Answer with the paragraph only": no title, no artist, one paragraph.
"""

from __future__ import annotations

GOOD = {
    "overall_night_sky": (
        "The composition is dominated by a vast, turbulent sky that occupies more than two "
        "thirds of the canvas, its surface churned into spiralling eddies of ultramarine, "
        "cobalt and pale turquoise. A dark, flame-like form rises in the left foreground and "
        "cuts vertically through the horizon, anchoring the restless movement above and "
        "providing a strong counterweight to the swirls. Below, a small village of low houses "
        "and a slender church spire is rendered in muted blues and greys, its calm geometry "
        "contrasting with the agitation of the heavens. Points of light, haloed in concentric "
        "rings of yellow and white, punctuate the sky, while a crescent moon glows in the upper "
        "right corner. The paint is applied in thick, directional strokes that remain visible "
        "across the entire surface, so that texture and rhythm become the main carriers of "
        "expression; contours are emphatic, and the interplay of complementary blue and yellow "
        "heightens the vibrating, almost electric quality of the night."
    ),
    "overall_wave_print": (
        "A towering wave curls across the picture from the left, its crest breaking into "
        "claw-like fingers of white foam that seem to reach toward three slender boats below. "
        "The design is built on bold, flat areas of Prussian blue, pale blue and off-white, "
        "bounded by crisp outlines rather than modelled with shadow, so depth is suggested by "
        "overlap and scale rather than atmosphere. A small snow-capped mountain sits low in the "
        "middle ground, dwarfed by the wave, and its triangular silhouette echoes the shape of "
        "the smaller swell in the foreground. The strong diagonal of the great wave and the "
        "repeated curves of the foam create a powerful rhythm that pulls the eye from left to "
        "right and down into the trough, while the empty, pale sky above offers a quiet "
        "counterbalance to the churning water."
    ),
    "overall_portrait": (
        "A half-length figure is set against a dark, almost featureless background, turned "
        "slightly toward the viewer with hands folded in the lower foreground. Soft, gradual "
        "transitions from light to shadow model the face and hands without hard edges, giving "
        "the flesh a smoky, veiled quality. Behind the figure, a distant landscape of winding "
        "paths, bluish rocks and water recedes into a hazy atmosphere, its horizon deliberately "
        "set at different heights on either side. The palette is restrained: warm browns, "
        "muted greens and ochres, with cooler blue-greens in the distance that enhance the "
        "sense of depth. The pyramidal arrangement of the body lends stability and calm, while "
        "the subtle asymmetry of the background introduces a faint sense of unease."
    ),
    "overall_abstract_two_paragraphs": (
        "Two soft-edged rectangles float one above the other on a deep maroon field. The upper "
        "block is a glowing orange-red, the lower a darker, brooding crimson, and their edges "
        "dissolve into the ground so that the shapes seem to hover rather than sit on the "
        "surface.\n\nThin, stained layers of colour allow the weave of the support to show "
        "through, creating a luminous, breathing texture instead of a flat plane. There is no "
        "line and no perspective; space is created entirely by the push and pull of warm hues "
        "against each other, and the composition's near symmetry invites slow, contemplative "
        "looking."
    ),
    "overall_scream_like": (
        "The picture is organised around a long bridge railing that shoots diagonally from the "
        "lower right into the distance, carrying the eye past two dark figures toward a fjord "
        "and hills. In the foreground a gaunt, skull-like figure clutches its face, its body "
        "reduced to a sinuous, boneless shape that echoes the undulating lines of the landscape "
        "behind it. The sky is a band of rippling orange, red and yellow streaks that contrast "
        "violently with the deep blue-black of the water below. Colours are applied in long, "
        "fluid strokes with little modelling, so that figure, land and sky seem to be made of "
        "the same agitated matter. The stark contrast between the rigid straight diagonal of "
        "the railing and the swirling curves everywhere else creates a sense of tension and "
        "disorientation."
    ),
    "composition_short": (
        "The composition is anchored by a strong horizontal band of dark earth across the lower "
        "third, above which a pale sky opens out. A single leaning tree on the left breaks the "
        "horizon and leads the eye upward, balancing the empty expanse on the right."
    ),
    "color_american": (
        "The color palette is dominated by saturated yellows and golden ochres, set against "
        "small, intense accents of cobalt blue and emerald green. Warm hues advance while the "
        "cooler blues recede, and the complementary pairing of yellow and violet in the shadows "
        "makes both colors appear more vivid. Thick touches of pure, unmixed pigment sit side "
        "by side rather than being blended, so the colors seem to vibrate when seen from a "
        "distance."
    ),
    "light_with_cannot": (
        "Light enters from a high window on the left and falls across the figure in a single "
        "raking beam, leaving the right side of the room in deep shadow. The values move "
        "abruptly from brilliant highlights on the face and sleeve to almost black darkness, a "
        "theatrical chiaroscuro that models the forms with sculptural weight. The eye cannot "
        "find a resting place outside the illuminated zone, which becomes the focal point of "
        "the whole scene."
    ),
    "line_no_opening": (
        "No single contour dominates; instead, countless short, curving lines trace the edges "
        "of the hills and the cypress, bending and flickering like flames. Their direction "
        "changes constantly, from the vertical thrust of the tree to the long horizontal "
        "undulations of the fields, so the eye is carried around the surface in a restless "
        "circuit. Outlines are drawn in dark blue paint, which flattens the shapes and gives "
        "them a graphic, almost woodcut-like clarity."
    ),
    "form_still_life": (
        "The forms are reduced to simple geometric volumes: the apples read as spheres, the jug "
        "as a cylinder, and the folded cloth as a cascade of angular planes. Each shape is "
        "built from small, parallel patches of colour that shift from warm to cool as the "
        "surface turns away from the light, so modelling is achieved through colour rather "
        "than through shading. The tabletop tilts forward and the objects seem slightly "
        "unstable, giving the solid masses a subtle tension."
    ),
    "space_landscape": (
        "Depth is built in a sequence of overlapping planes: a dark screen of trees in the "
        "foreground, a sunlit meadow in the middle ground and a range of pale blue hills on "
        "the horizon. Atmospheric perspective softens the distant forms, whose edges and "
        "colours fade into the haze, while the winding river diminishes in width as it "
        "recedes, drawing the eye deep into the picture space."
    ),
    "texture_impasto": (
        "The surface is thick with impasto: paint has been laid on with a loaded brush and in "
        "places with a palette knife, so that ridges and peaks catch the light and cast tiny "
        "shadows of their own. In the sky the brushwork is broad and sweeping, while in the "
        "flowers it becomes short, stabbing daubs of pure colour. The handling varies from "
        "area to area, and the visible marks give the whole picture a tactile, almost "
        "sculptural presence."
    ),
    "balance_asymmetry": (
        "Visual weight is distributed asymmetrically: the large dark mass of the building on "
        "the right is balanced by the smaller but brighter patch of red in the figure's dress "
        "on the left. The proportions of the parts are carefully judged, with the horizon "
        "placed near the upper third and the open space of the square giving the figures room "
        "to breathe, so the picture feels stable despite its lack of symmetry."
    ),
    "rhythm_dancers": (
        "Rhythm arises from the repetition of similar shapes across the surface: the arms, "
        "skirts and legs of the dancers form a chain of curving diagonals that carries the eye "
        "from left to right. The pattern of light tutus against the darker floor is echoed by "
        "the vertical lines of the stage flats, and the staggered placement of the figures "
        "creates a sense of movement, as if the scene were caught in the middle of a turn."
    ),
}
"""Real formal analyses, overall and one per perspective: the validator must keep every one."""

BAD = {
    "refusal": "I'm sorry, but I can't provide a formal analysis of this painting.",
    "refusal_long": (
        "As an AI language model, I do not have the ability to view images, so I cannot "
        "describe the specific brushwork, colours or composition of this particular work. "
        "However, I can tell you that paintings of this period often used strong contrasts "
        "of light and shadow, warm earth tones and carefully balanced compositions, and I "
        "would be happy to discuss the general style if you provide more details about it."
    ),
    "yes_no": "Yes, I know this painting well.",
    "yes_then_analysis": (
        "Yes. The composition is built on a strong diagonal that leads from the lower left to "
        "the upper right, where a bright patch of yellow light meets the deep blue of the sky; "
        "the brushwork is loose and the forms are simplified into flat planes of colour, with "
        "dark contours that separate the foreground from the receding background."
    ),
    "apology": (
        "I apologize for the confusion in my previous answer. The painting shows a landscape "
        "with trees, a river and a sky, rendered in greens and blues with a clear horizon, "
        "soft light and a balanced composition of foreground and background planes."
    ),
    "json": '{"analysis": "The composition is balanced.", "perspectives": ["composition", "light"]}',
    "json_fenced": '```json\n{"composition": "diagonal", "color": "warm"}\n```',
    "perspective_list": "1. Composition\n2. Light and shadow\n3. Color palette\n4. Texture and brushwork",
    "bullets": (
        "- Composition: a strong diagonal leads the eye across the picture.\n"
        "- Colour: warm ochres against cool blues.\n"
        "- Light: a single source from the upper left casts long shadows.\n"
        "- Texture: thick, visible brushwork throughout."
    ),
    "headings": (
        "## Composition\nThe figures are arranged in a pyramid.\n"
        "## Colour\nWarm reds dominate the palette."
    ),
    "three_words": "Composition, light, colour.",
    "preamble": (
        "Sure! Here is a formal analysis of the painting: the composition is built around a "
        "central vertical axis, with warm colours in the foreground and cool blues in the "
        "background, soft light from the left and visible brushwork that gives the surface a "
        "lively texture and a clear sense of depth and balance."
    ),
    "off_topic_biography": (
        "This work was produced during a difficult period of the artist's life, shortly after "
        "a stay in a hospital in the south of the country. In letters to his brother he wrote "
        "about his hopes for the picture and about the money he still owed to his landlord. "
        "The painting was exhibited only once during his lifetime and was later bought by a "
        "collector, before entering the museum where it has been one of the most visited "
        "works for almost a century, reproduced on posters, mugs and umbrellas."
    ),
    "off_topic_history": (
        "In light of the political events of the decade, the commission came from a wealthy "
        "merchant family that wished to display its newfound status. The contract specified "
        "the price, the delivery date and the number of figures to be included, and it was "
        "paid in three instalments. Scholars have debated for many years whether the patron "
        "was satisfied, since the family sold it within a generation and it passed through "
        "several private collections before its acquisition by the state."
    ),
    "french": (
        "La composition est dominée par un ciel tourbillonnant qui occupe la plus grande partie "
        "de la toile, peint en touches épaisses de bleu outremer et de jaune. Au premier plan, "
        "une forme sombre s'élève verticalement et équilibre le mouvement du ciel, tandis que "
        "le village, plus calme, est rendu par des contours nets et des couleurs sourdes."
    ),
    "german": (
        "Die Komposition wird von einem bewegten Himmel beherrscht, der fast die ganze Fläche "
        "einnimmt und in dicken, kreisenden Pinselstrichen aus Blau und Gelb gemalt ist. Im "
        "Vordergrund erhebt sich eine dunkle, flammenartige Form, die der Unruhe des Himmels "
        "ein senkrechtes Gegengewicht gibt, während das Dorf darunter ruhig und klar umrissen "
        "bleibt und die Farben dort gedämpfter wirken."
    ),
    "spanish": (
        "La composición está dominada por un cielo turbulento que ocupa casi todo el lienzo, "
        "pintado con pinceladas gruesas de azul y amarillo. En primer plano, una forma oscura "
        "se eleva verticalmente y equilibra el movimiento del cielo, mientras que el pueblo, "
        "más tranquilo, aparece con contornos nítidos y colores apagados bajo la luz nocturna."
    ),
    "italian": (
        "La composizione è dominata da un cielo vorticoso che occupa quasi tutta la tela, "
        "dipinto con pennellate spesse di blu e di giallo. In primo piano una forma scura si "
        "innalza verticalmente e bilancia il movimento del cielo, mentre il villaggio, più "
        "tranquillo, è reso con contorni netti e colori smorzati sotto la luce della notte."
    ),
    "chinese": "画面构图以旋转的夜空为主，占据了画布的大部分，厚重的蓝色和黄色笔触形成强烈的节奏感。前景中深色的形体垂直升起，平衡了天空的运动。",
}
"""Answers that are not analyses, each named for what it is."""

EXPECTED = {
    "refusal": "refusal", "refusal_long": "refusal", "yes_no": "yes_no",
    "yes_then_analysis": "yes_no", "apology": "apology", "json": "json", "json_fenced": "json",
    "perspective_list": "list", "bullets": "list", "headings": "list", "three_words": "too_short",
    "preamble": "preamble", "off_topic_biography": "off_topic", "off_topic_history": "off_topic",
    "french": "wrong_language", "german": "wrong_language", "spanish": "wrong_language",
    "italian": "wrong_language", "chinese": "wrong_language",
}
"""The reason each bad answer must be rejected for."""
