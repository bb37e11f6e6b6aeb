"""A tiny local model, built here from nothing, for fast tests of the transformers adapter.

The tokenizer is a byte-level BPE trained on a few sentences (so multi-byte
characters are split across tokens); the model is a random two-layer Llama
whose output head never favours a special token: greedy decoding never ends
early, so ``max_tokens`` decides every length.
"""

from __future__ import annotations

import os

# Before torch is first imported (see adapters/transformers_local/__init__.py): spinning
# OpenMP threads next to the engine thread and the event loop make the real-model tests 5-10x slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = [
    "The capital of France is Paris. The bank approved the loan.",
    "Ledger entries balance: debit and credit, interest and principal.",
    "Grüße aus München, déjà vu, naïve café, 中文 字符, emoji 🙂 and 🏦.",
    "system user assistant: what is the answer? It is forty two.",
] * 8


def build_tiny_model(directory: Path) -> Path:
    """Write a tokenizer and a random Llama (hidden 32, 2 layers) to ``directory``."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=384,
            special_tokens=SPECIAL_TOKENS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHATML
    tokenizer.save_pretrained(directory)

    special_ids: list[int] = tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS)  # type: ignore[assignment]
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=8192,  # room for the long generations that tests cancel
        bos_token_id=special_ids[1],
        eos_token_id=special_ids[2],
        pad_token_id=special_ids[0],
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        # Spread the logits far apart (no near-ties that float noise could flip) and give
        # special tokens a zero logit, which the best of ~380 random ones always beats.
        model.lm_head.weight.mul_(200.0)
        model.lm_head.weight[special_ids] = 0.0
    model.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def model_cache_dir() -> Path:
    """Where real models are converted once and reused: ``$GATEWAY_MODEL_CACHE`` or ``var/models``."""
    configured = os.environ.get("GATEWAY_MODEL_CACHE")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "var" / "models"
