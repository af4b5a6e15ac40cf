"""The transformers `LlavaConfig` of a checkpoint: the model train/ fine-tunes and convert/ verifies against."""

from __future__ import annotations

from critic.llava.checkpoint import Checkpoint


def llava_config(ckpt: Checkpoint):
    """A transformers LlavaConfig with the checkpoint's shapes."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    t, v = ckpt.llm, ckpt.vision
    text = LlamaConfig(
        vocab_size=t.vocab, hidden_size=t.hidden, intermediate_size=t.ffn, num_hidden_layers=t.layers,
        num_attention_heads=t.heads, num_key_value_heads=t.kv_heads, rms_norm_eps=t.rms_eps,
        rope_theta=t.rope_theta, max_position_embeddings=t.context, bos_token_id=1, eos_token_id=2,
        tie_word_embeddings=False,
    )
    vision = CLIPVisionConfig(
        hidden_size=v.hidden, intermediate_size=v.ffn, num_hidden_layers=v.layers, num_attention_heads=v.heads,
        image_size=v.image_size, patch_size=v.patch_size, hidden_act=v.act, layer_norm_eps=v.eps,
        projection_dim=v.hidden,
    )
    # image_token_index is never looked up: callers splice image features themselves.
    return LlavaConfig(text_config=text, vision_config=vision, vision_feature_layer=v.select_layer,
                       vision_feature_select_strategy="default", projector_hidden_act="gelu",
                       image_token_index=t.vocab, tie_word_embeddings=False)
