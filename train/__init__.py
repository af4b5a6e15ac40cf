"""GalleryGPT's fine-tuning: LoRA on the LLM and the projector trained, vision tower frozen.

`critic train` reads a LLaVA conversation JSON, trains with accelerate (one GPU, several, or
DeepSpeed ZeRO-2/3), checkpoints so that a killed run resumes exactly, and writes the
adapter in the layout `critic convert --lora` reads.
"""
