"""Tiny randomly initialised checkpoints of the real architectures, built fully offline.

They go through exactly the path a real checkpoint takes (``AutoProcessor`` /
``AutoModelForImageTextToText.from_pretrained``), so tests exercise the real runtime with a
model of about a megabyte. Recipe (REFERENCE.md section 4): a byte-level BPE tokenizer trained
on a few sentences, image processors built from keyword arguments, then ``save_pretrained``.

Every family is a transformers-native class; each tokenizer carries its family's real special
tokens and a chat template shaped like the one its released checkpoints ship.
"""

from __future__ import annotations

from pathlib import Path

FAMILIES = ("qwen2_5_vl", "qwen2_vl", "llava", "idefics3", "gemma3", "internvl")

# Families whose processor takes several images in one prompt (all six do, through their chat
# template placing one image placeholder per image).
MULTI_IMAGE_FAMILIES = FAMILIES

_CORPUS = [
    "Is this a CT image? Yes. Is this an MRI scan? No. Which imaging modality is shown? CT.",
    "Answer with the letter of the correct option. The answer is A. The answer is B. C. D. E.",
    "Think step by step, then put the final answer in \\boxed{}. <think>reasoning</think>",
    "fundus photograph, light microscopy, histopathology, magnetic resonance, computed tomography",
    "system user assistant You are a helpful medical assistant. left right chest abdomen head",
    "0 1 2 3 4 5 6 7 8 9 yes no normal abnormal lung liver heart brain kidney",
]

# MiMo-VL (a Qwen2.5-VL fine-tune) adds <think> and </think> to the Qwen vocabulary. Here they are
# special tokens on purpose: the harshest case for decoding, which must still keep them.
THINK_TOKENS = ["<think>", "</think>"]
QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>", *THINK_TOKENS]
LLAVA_SPECIAL = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
IDEFICS3_SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|finetune_right_pad_id|>", "<fake_token_around_image>",
                    "<image>", "<end_of_utterance>", "<global-img>",
                    *[f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]]
GEMMA3_SPECIAL = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>",
                  "<end_of_image>", "<image_soft_token>"]
INTERNVL_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>", "<video>"]


def _parts(image_markup: str) -> str:
    """Jinja for one message's content: a string, or parts where each image becomes ``image_markup``."""
    return ("{% if message['content'] is string %}{{ message['content'] }}"
            "{% else %}{% for part in message['content'] %}"
            "{% if part['type'] == 'image' %}" + image_markup +
            "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}")


# ChatML, as Qwen2-VL, Qwen2.5-VL and its fine-tunes (MiMo-VL, Lingshu) ship it, images before text.
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    + _parts("<|vision_start|><|image_pad|><|vision_end|>") +
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# LLaVA-1.5 / HuatuoGPT-Vision style "USER: <image>\n... ASSISTANT:".
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    + _parts("<image>\n") +
    "{% if message['role'] == 'user' %} {% else %}</s>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
# Idefics3 / SmolVLM: "User:<image>question<end_of_utterance>\nAssistant:".
IDEFICS3_CHAT_TEMPLATE = (
    "<|begin_of_text|>{% for message in messages %}{{ message['role'] | capitalize }}:"
    + _parts("<image>") +
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)
# Gemma 3 / MedGemma: turns named user/model, each image a <start_of_image> the processor expands.
GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<start_of_turn>"
    "{% if message['role'] == 'assistant' %}model{% else %}{{ message['role'] }}{% endif %}{{ '\\n' }}"
    + _parts("<start_of_image>") +
    "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
# InternVL3-hf: ChatML with <IMG_CONTEXT> per image, expanded by the processor to <img>...</img>.
INTERNVL_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    + _parts("<IMG_CONTEXT>\n") +
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _tokenizer(special: list[str], vocab_size: int, **named):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_CORPUS, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, padding_side="left", **named)


def _small_text(**overrides) -> dict:
    """A two-layer decoder, the same size for every family."""
    return {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "max_position_embeddings": 2048, **overrides}


def make_tiny(family: str, out: str | Path, seed: int = 0) -> Path:
    """Build and save a tiny checkpoint of ``family`` under ``out``; returns the folder."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; valid families: {', '.join(FAMILIES)}")
    import torch

    torch.manual_seed(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model, processor = _BUILDERS[family]()
    model.generation_config.do_sample = False
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def _qwen_vl(version: str):
    import transformers as tf

    tokenizer = _tokenizer(QWEN_SPECIAL, 320, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL}
    text = _small_text(vocab_size=len(tokenizer),
                       rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]},
                       bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
                       pad_token_id=ids["<|endoftext|>"])
    tokens = dict(image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                  vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    if version == "2.5":
        config = tf.Qwen2_5_VLConfig(
            text_config=text, vision_config={"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 4,
                                             "out_hidden_size": 32, "fullatt_block_indexes": [1], "window_size": 56},
            **tokens)
        model_class, processor_class = tf.Qwen2_5_VLForConditionalGeneration, tf.Qwen2_5_VLProcessor
    else:
        config = tf.Qwen2VLConfig(
            text_config=text, vision_config={"depth": 2, "embed_dim": 32, "hidden_size": 32, "mlp_ratio": 2,
                                             "num_heads": 4},
            **tokens)
        model_class, processor_class = tf.Qwen2VLForConditionalGeneration, tf.Qwen2VLProcessor
    model = model_class(config).eval()
    # Few pixels keep the image to at most 16 vision tokens.
    pixels = {"min_pixels": 56 * 56, "max_pixels": 112 * 112}
    processor = processor_class(image_processor=tf.Qwen2VLImageProcessor(**pixels), tokenizer=tokenizer,
                                video_processor=tf.Qwen2VLVideoProcessor(**pixels), chat_template=QWEN_CHAT_TEMPLATE)
    return model, processor


def _llava():
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    tokenizer = _tokenizer(LLAVA_SPECIAL, 320, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                           pad_token="<pad>")
    image_token = tokenizer.convert_tokens_to_ids("<image>")
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              image_size=28, patch_size=14, projection_dim=32)
    text = LlamaConfig(**_small_text(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                                     eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=image_token,
                         vision_feature_layer=-1, vision_feature_select_strategy="default")
    model = LlavaForConditionalGeneration(config).eval()
    image_processor = CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=14,
                               num_additional_image_tokens=1,  # the CLIP class token
                               vision_feature_select_strategy="default", chat_template=LLAVA_CHAT_TEMPLATE)
    return model, processor


def _idefics3():
    from transformers import (Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessor,
                              Idefics3Processor, Idefics3VisionConfig, LlamaConfig)

    tokenizer = _tokenizer(IDEFICS3_SPECIAL, 360, bos_token="<|begin_of_text|>", eos_token="<end_of_utterance>",
                           pad_token="<|finetune_right_pad_id|>")
    # 56 px images in 14 px patches, pixel-shuffled by 2: (56 / 14) ** 2 / 2 ** 2 = 4 tokens per image.
    vision = Idefics3VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                  image_size=56, patch_size=14)
    text = LlamaConfig(**_small_text(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                                     eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    config = Idefics3Config(vision_config=vision, text_config=text, scale_factor=2,
                            image_token_id=tokenizer.convert_tokens_to_ids("<image>"))
    model = Idefics3ForConditionalGeneration(config).eval()
    image_processor = Idefics3ImageProcessor(do_image_splitting=False, size={"longest_edge": 56},
                                             max_image_size={"longest_edge": 56})
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=4,
                                  chat_template=IDEFICS3_CHAT_TEMPLATE)
    return model, processor


def _gemma3():
    from transformers import (Gemma3Config, Gemma3ForConditionalGeneration, Gemma3ImageProcessor, Gemma3Processor,
                              Gemma3TextConfig, SiglipVisionConfig)

    tokenizer = _tokenizer(GEMMA3_SPECIAL, 320, pad_token="<pad>", eos_token="<end_of_turn>", bos_token="<bos>",
                           unk_token="<unk>",
                           extra_special_tokens={"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                                                 "image_token": "<image_soft_token>"})
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in GEMMA3_SPECIAL}
    # 28 px images in 7 px patches (4 x 4), average-pooled to 2 x 2 = 4 soft tokens per image.
    vision = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                image_size=28, patch_size=7, vision_use_head=False)
    text = Gemma3TextConfig(**_small_text(vocab_size=len(tokenizer), head_dim=8, query_pre_attn_scalar=8,
                                          sliding_window=64, bos_token_id=ids["<bos>"],
                                          eos_token_id=[ids["<eos>"], ids["<end_of_turn>"]], pad_token_id=ids["<pad>"]))
    config = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4,
                          boi_token_index=ids["<start_of_image>"], eoi_token_index=ids["<end_of_image>"],
                          image_token_index=ids["<image_soft_token>"])
    model = Gemma3ForConditionalGeneration(config).eval()
    image_processor = Gemma3ImageProcessor(size={"height": 28, "width": 28}, do_pan_and_scan=False)
    processor = Gemma3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_length=4,
                                chat_template=GEMMA3_CHAT_TEMPLATE)
    return model, processor


def _internvl():
    from transformers import (GotOcr2ImageProcessor, InternVLConfig, InternVLForConditionalGeneration,
                              InternVLProcessor, InternVLVideoProcessor, InternVLVisionConfig, Qwen2Config)

    tokenizer = _tokenizer(INTERNVL_SPECIAL, 320, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                           extra_special_tokens={"start_image_token": "<img>", "end_image_token": "</img>",
                                                 "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"})
    # 56 px images in 14 px patches (4 x 4), pixel-shuffled by 0.5 to 2 x 2 = 4 tokens per image.
    vision = InternVLVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                  image_size=(56, 56), patch_size=(14, 14))
    text = Qwen2Config(**_small_text(vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id,
                                     pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.pad_token_id))
    config = InternVLConfig(vision_config=vision, text_config=text, downsample_ratio=0.5, image_seq_length=4,
                            image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"))
    model = InternVLForConditionalGeneration(config).eval()
    size = {"height": 56, "width": 56}
    processor = InternVLProcessor(image_processor=GotOcr2ImageProcessor(size=size, crop_to_patches=False),
                                  tokenizer=tokenizer, video_processor=InternVLVideoProcessor(size=size),
                                  image_seq_length=4, chat_template=INTERNVL_CHAT_TEMPLATE)
    return model, processor


_BUILDERS = {
    "qwen2_5_vl": lambda: _qwen_vl("2.5"),
    "qwen2_vl": lambda: _qwen_vl("2"),
    "llava": _llava,
    "idefics3": _idefics3,
    "gemma3": _gemma3,
    "internvl": _internvl,
}
