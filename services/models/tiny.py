"""Tiny randomly initialised checkpoints of the real architectures, built fully offline.

They go through exactly the path a real checkpoint takes (``AutoProcessor`` /
``AutoModelForImageTextToText.from_pretrained``), so tests exercise the real runtime with a
model of about a megabyte. Recipe (REFERENCE.md section 4): a byte-level BPE tokenizer trained
on a few sentences, image processors built from keyword arguments, then ``save_pretrained``.
"""

from __future__ import annotations

from pathlib import Path

FAMILIES = ("qwen2_5_vl", "llava")

_CORPUS = [
    "Is this a CT image? Yes. Is this an MRI scan? No. Which imaging modality is shown? CT.",
    "Answer with the letter of the correct option. The answer is A. The answer is B. C. D. E.",
    "Think step by step, then put the final answer in \\boxed{}. <think>reasoning</think>",
    "fundus photograph, light microscopy, histopathology, magnetic resonance, computed tomography",
    "system user assistant You are a helpful medical assistant. left right chest abdomen head",
    "0 1 2 3 4 5 6 7 8 9 yes no normal abnormal lung liver heart brain kidney",
]

QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]
LLAVA_SPECIAL = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]

# ChatML, as Qwen2.5-VL and its fine-tunes (MiMo-VL, Lingshu) ship it, images before text.
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# LLaVA-1.5 / HuatuoGPT-Vision style "USER: <image>\n... ASSISTANT:".
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{% if message['role'] == 'user' %} {% else %}</s>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
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


def make_tiny(family: str, out: str | Path, seed: int = 0) -> Path:
    """Build and save a tiny checkpoint of ``family`` under ``out``; returns the folder."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; valid families: {', '.join(FAMILIES)}")
    import torch

    torch.manual_seed(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model, processor = (_qwen2_5_vl if family == "qwen2_5_vl" else _llava)()
    model.generation_config.do_sample = False
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def _qwen2_5_vl():
    from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor,
                              Qwen2VLImageProcessor, Qwen2VLVideoProcessor)

    tokenizer = _tokenizer(QWEN_SPECIAL, 320, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL}
    config = Qwen2_5_VLConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                     "max_position_embeddings": 2048,
                     "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]},
                     "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
                     "pad_token_id": ids["<|endoftext|>"]},
        vision_config={"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 4,
                       "out_hidden_size": 32, "fullatt_block_indexes": [1], "window_size": 56},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    # Few pixels keep the image to at most 16 vision tokens.
    pixels = {"min_pixels": 56 * 56, "max_pixels": 112 * 112}
    processor = Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(**pixels), tokenizer=tokenizer,
                                    video_processor=Qwen2VLVideoProcessor(**pixels), chat_template=QWEN_CHAT_TEMPLATE)
    return model, processor


def _llava():
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    tokenizer = _tokenizer(LLAVA_SPECIAL, 320, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                           pad_token="<pad>")
    image_token = tokenizer.convert_tokens_to_ids("<image>")
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              image_size=28, patch_size=14, projection_dim=32)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=image_token,
                         vision_feature_layer=-1, vision_feature_select_strategy="default")
    model = LlavaForConditionalGeneration(config).eval()
    image_processor = CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=14,
                               num_additional_image_tokens=1,  # the CLIP class token
                               vision_feature_select_strategy="default", chat_template=LLAVA_CHAT_TEMPLATE)
    return model, processor
