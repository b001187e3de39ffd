"""Models built on tensorgrad.nn."""
from .gpt import GPT, GPTConfig

__all__ = ["GPT", "GPTConfig"]
