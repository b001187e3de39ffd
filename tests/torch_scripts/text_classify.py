# Text classification two ways, as public PyTorch tutorials write it: an EmbeddingBag (mean over each document's
# tokens, offsets marking where documents start) with a Linear and a Bilinear head, and a bidirectional GRU over
# padded batches packed with pack_padded_sequence (unsorted lengths); SGD, StepLR, clip_grad_norm_. Weights and
# data are deterministic functions of their positions, so both runs start from the same numbers.
import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence, pack_padded_sequence, pad_packed_sequence

torch.manual_seed(0)
V, D, C = 50, 16, 3
docs = [(torch.arange(3 + i % 6) * (i + 7)) % V for i in range(64)]
labels = torch.tensor([int(d.sum()) % C for d in docs])


class Bag(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.EmbeddingBag(V, D, mode="mean")
        self.fc = nn.Linear(D, C)
        self.bil = nn.Bilinear(D, D, C)

    def forward(self, text, offsets):
        e = self.emb(text, offsets)
        return self.fc(e) + 0.1 * self.bil(e, e)


class Rnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.gru = nn.GRU(D, D, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * D, C)

    def forward(self, padded, lengths):
        packed = pack_padded_sequence(self.emb(padded), lengths, batch_first=True, enforce_sorted=False)
        out, h = self.gru(packed)
        out, _ = pad_packed_sequence(out, batch_first=True)
        return self.fc(torch.cat([h[0], h[1]], 1)) + out.sum(1)[:, :C] * 0.01


def deterministic(model):
    with torch.no_grad():
        for k, p in enumerate(model.parameters()):
            p.copy_(0.3 * torch.sin(torch.arange(p.numel(), dtype=p.dtype) * 0.7 + k).reshape(p.shape))
    return model


for name, model in (("bag", deterministic(Bag())), ("rnn", deterministic(Rnn()))):
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.9)
    for epoch in range(3):
        total = 0.0
        for i in range(0, 64, 16):
            batch, y = docs[i:i + 16], labels[i:i + 16]
            if name == "bag":
                offsets = torch.tensor([0] + [len(d) for d in batch[:-1]]).cumsum(dim=0)
                logits = model(torch.cat(batch), offsets)
            else:
                logits = model(pad_sequence(batch, batch_first=True), torch.tensor([len(d) for d in batch]))
            loss = nn.functional.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            opt.step()
            total += loss.item()
        sched.step()
        print(f"{name} epoch {epoch} loss {total / 4:.6f}")
    with torch.no_grad():
        x = torch.linalg.svdvals(model.fc.weight)
        q = torch.quantile(model.fc.weight.flatten(), torch.tensor([0.1, 0.5, 0.9]))
    print(name, "svdvals", [round(v, 5) for v in x.tolist()], "quantiles", [round(v, 5) for v in q.tolist()])
