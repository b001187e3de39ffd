"""Character-level tokenizer: one id per distinct character, ids in sorted character order (as nanoGPT's
shakespeare_char). It serialises to a plain JSON-able dict so checkpoints never need pickle."""
import numpy as np


class CharTokenizer:
    def __init__(self, chars):
        chars = list(chars)
        if len(set(chars)) != len(chars):
            raise ValueError("CharTokenizer: characters must be distinct")
        self.itos = chars
        self.stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text):
        if not text:
            raise ValueError("CharTokenizer.from_text: the text is empty")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self):
        return len(self.itos)

    def encode(self, text):
        """str -> int64 array of ids. Unknown characters raise ValueError naming them."""
        try:
            return np.fromiter((self.stoi[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError:
            bad = sorted({c for c in text if c not in self.stoi})
            raise ValueError(f"CharTokenizer.encode: {len(bad)} character(s) not in the vocabulary "
                             f"({self.vocab_size} chars): {''.join(bad)[:40]!r}") from None

    def decode(self, ids):
        itos = self.itos
        return "".join(itos[int(i)] for i in np.asarray(ids).reshape(-1))

    def to_dict(self):
        return {"type": "char", "chars": "".join(self.itos)}

    @classmethod
    def from_dict(cls, d):
        if d.get("type") != "char":
            raise ValueError(f"CharTokenizer.from_dict: unknown tokenizer type {d.get('type')!r}")
        return cls(d["chars"])

    def __repr__(self):
        return f"CharTokenizer(vocab_size={self.vocab_size})"
