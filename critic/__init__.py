"""critic: formal analysis of paintings, offline, with GalleryGPT through llama.cpp."""

__version__ = "0.1.0"
