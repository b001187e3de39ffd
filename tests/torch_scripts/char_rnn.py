"""Character-level language model (LSTM), trained by truncated BPTT with a hand-written SGD step through ``p.data``,
in the style of the classic word-language-model examples. Weights and data come from NumPy, so the printed numbers
are the same under real torch and under `python -m tensorgrad.compat` (tests/test_swapin_corpus.py).

usage: python char_rnn.py [--epochs N] [--cell LSTM|GRU|RNN_TANH]
"""
import argparse
import math

import numpy as np
import torch
import torch.nn as nn

TEXT = ("the quick brown fox jumps over the lazy dog. a stitch in time saves nine. "
        "all that glitters is not gold. fortune favours the bold. ") * 3


class Corpus:
    def __init__(self, text):
        self.chars = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.itos = {i: c for c, i in self.stoi.items()}
        self.data = torch.tensor([self.stoi[c] for c in text], dtype=torch.long)


class RNNModel(nn.Module):
    def __init__(self, cell, ntoken, ninp, nhid, nlayers, dropout=0.0):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if cell in ("LSTM", "GRU"):
            self.rnn = getattr(nn, cell)(ninp, nhid, nlayers, dropout=dropout)
        else:
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity="tanh", dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.cell, self.nhid, self.nlayers = cell, nhid, nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output).view(-1, self.ntoken)
        return torch.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.cell == "LSTM":
            return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))
        return weight.new_zeros(self.nlayers, bsz, self.nhid)


def repackage_hidden(h):
    """Detach hidden states from their history."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].reshape(-1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--cell", default="LSTM")
    parser.add_argument("--lr", type=float, default=2.0)
    parser.add_argument("--clip", type=float, default=0.25)
    parser.add_argument("--bptt", type=int, default=12)
    args = parser.parse_args()
    torch.manual_seed(1111)

    corpus = Corpus(TEXT)
    train_data = batchify(corpus.data, 4)
    ntokens = len(corpus.chars)
    model = RNNModel(args.cell, ntokens, 16, 24, 2)
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.uniform(-0.2, 0.2, size=tuple(p.shape)).astype(np.float32)))
    criterion = nn.NLLLoss()
    print("params", sum(p.numel() for p in model.parameters()), [n for n, _ in model.named_parameters()][:4])

    lr = args.lr
    for epoch in range(1, args.epochs + 1):
        model.train()
        total_loss = 0.0
        hidden = model.init_hidden(4)
        nb = 0
        for batch, i in enumerate(range(0, train_data.size(0) - 1, args.bptt)):
            data, targets = get_batch(train_data, i, args.bptt)
            model.zero_grad()
            hidden = repackage_hidden(hidden)
            output, hidden = model(data, hidden)
            loss = criterion(output, targets)
            loss.backward()
            total_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            total_loss += loss.item()
            nb += 1
            if batch % 4 == 0:
                print(f"epoch {epoch} batch {batch} loss {loss.item():.6g} grad_norm {float(total_norm):.6g}")
        cur_loss = total_loss / nb
        print(f"| end of epoch {epoch} | lr {lr:.3f} | loss {cur_loss:5.4f} | ppl {math.exp(cur_loss):8.4f}")
        lr /= 1.5
        for p in model.parameters():   # grads reset by hand as well (older scripts do both)
            p.grad.zero_()

    # greedy generation
    model.eval()
    with torch.no_grad():
        hidden = model.init_hidden(1)
        inp = torch.tensor([[corpus.stoi["t"]]], dtype=torch.long)
        out = ["t"]
        for _ in range(40):
            output, hidden = model(inp, hidden)
            idx = int(output[-1].argmax())
            inp.fill_(idx)
            out.append(corpus.itos[idx])
    print("sample", repr("".join(out)))
    print("hidden sum", f"{(hidden[0] if isinstance(hidden, tuple) else hidden).sum().item():.6g}")


if __name__ == "__main__":
    main()
