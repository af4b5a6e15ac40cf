"""convert: a GalleryGPT (LLaVA-1.5 + LoRA) checkpoint to the GGUF files critic runs
(or, with ``--to hf``, to a transformers folder for serving engines).

Needs the `convert` extra (torch, transformers, peft, safetensors, sentencepiece). The
LLM and mmproj writers stream one tensor at a time, so memory stays a small fraction of
the model's size.
"""
