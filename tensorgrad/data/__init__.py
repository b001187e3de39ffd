"""Data for the main job: the embedded default corpus, UTF-8 files, a char tokenizer and random batches."""
from .corpus import load_default_corpus, load_text, corpus_info, STDLIB_FILES
from .tokenizer import CharTokenizer
from .batches import BatchSampler, train_val_split

__all__ = ["load_default_corpus", "load_text", "corpus_info", "STDLIB_FILES", "CharTokenizer", "BatchSampler",
           "train_val_split"]
