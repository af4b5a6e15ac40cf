"""A LLaVA-1.5 checkpoint as both train/ and convert/ read it: the floor beneath those two stages.

`critic.llava.checkpoint` opens either layout (original LLaVA or transformers' native folder) and
names every tensor canonically, `critic.llava.tensors` reads the files lazily and by rows, and
`critic.llava.hf_config` builds the transformers `LlavaConfig` of a checkpoint. It imports only
the light core of `critic` (errors, images); torch and transformers are imported where a
tensor or a config is made, so opening a checkpoint's description stays cheap.
"""
