"""Getting models: pull a converted one from a hub, build GalleryGPT from its release, push one for others.

huggingface_hub and gdown (the ``hub`` extra) are imported only inside these commands.
"""
