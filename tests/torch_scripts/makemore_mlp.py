"""A makemore-style character MLP language model over a small list of names, written the way the lecture notebooks
write it: a manual parameter list (C, W1, b1, W2, b2) with requires_grad set by hand, embedding lookup C[X],
torch.tanh, F.cross_entropy, minibatches from NumPy indices, p.grad = None and p.data += -lr * p.grad, split
losses under torch.no_grad(), and a hand-written batch norm (bnmean/bnstd running statistics updated under
no_grad) in the second model. Sampling draws from the softmax with NumPy uniforms. Everything starts from NumPy,
so tests/test_swapin_corpus.py compares the printed numbers with real torch.

usage: python makemore_mlp.py [--steps N] [--batchnorm 0|1]
"""
import argparse

import numpy as np
import torch
import torch.nn.functional as F

WORDS = """emma olivia ava isabella sophia charlotte mia amelia harper evelyn abigail emily elizabeth mila ella
avery sofia camila aria scarlett victoria madison luna grace chloe penelope layla riley zoey nora lily eleanor
hannah lillian addison aubrey ellie stella natalie zoe leah hazel violet aurora savannah audrey brooklyn bella
claire skylar lucy paisley everly anna caroline nova genesis emilia kennedy samantha maya willow kinsley naomi
aaliyah elena sarah ariana allison gabriella alice madelyn cora ruby eva serenity autumn adeline hailey gianna
valentina isla eliana quinn nevaeh ivy sadie piper lydia alexa josephine emery julia delilah arianna vivian
kaylee sophie brielle madeline liam noah william james oliver benjamin elijah lucas mason logan alexander ethan
jacob michael daniel henry jackson sebastian aiden matthew samuel david joseph carter owen wyatt john jack luke
jayden dylan grayson levi isaac gabriel julian mateo anthony jaxon lincoln joshua christopher andrew theodore
caleb ryan asher nathan thomas leo isaiah charles josiah hudson christian hunter connor eli ezra aaron landon
adrian jonathan nolan jeremiah easton elias colton cameron carson robert angel maverick nicholas dominic jaxson
greyson adam ian austin santiago jordan cooper brayden roman evan ezekiel xavier jose jace jameson leonardo
bryson axel everett parker kayden miles sawyer jason""".split()


def build_dataset(words, stoi, block_size):
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + '.':
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    X = torch.tensor(X)
    Y = torch.tensor(Y)
    return X, Y


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--steps', type=int, default=200)
    parser.add_argument('--batchnorm', type=int, default=0)
    args = parser.parse_args()

    chars = sorted(list(set(''.join(WORDS))))
    stoi = {s: i + 1 for i, s in enumerate(chars)}
    stoi['.'] = 0
    itos = {i: s for s, i in stoi.items()}
    vocab_size = len(itos)
    block_size = 3
    print('words', len(WORDS), 'vocab', vocab_size)

    rng = np.random.default_rng(2147483647)
    words = list(WORDS)
    rng.shuffle(words)
    n1 = int(0.8 * len(words))
    n2 = int(0.9 * len(words))
    Xtr, Ytr = build_dataset(words[:n1], stoi, block_size)
    Xdev, Ydev = build_dataset(words[n1:n2], stoi, block_size)
    Xte, Yte = build_dataset(words[n2:], stoi, block_size)
    print('splits', Xtr.shape[0], Xdev.shape[0], Xte.shape[0])

    n_embd, n_hidden = 10, 64

    def randn(*shape):
        return torch.from_numpy(rng.standard_normal(shape).astype(np.float32))

    C = randn(vocab_size, n_embd)
    W1 = randn(n_embd * block_size, n_hidden) * (5 / 3) / ((n_embd * block_size) ** 0.5)
    b1 = randn(n_hidden) * 0.01
    W2 = randn(n_hidden, vocab_size) * 0.01
    b2 = randn(vocab_size) * 0
    bngain = torch.ones((1, n_hidden))
    bnbias = torch.zeros((1, n_hidden))
    bnmean_running = torch.zeros((1, n_hidden))
    bnstd_running = torch.ones((1, n_hidden))
    parameters = [C, W1, b1, W2, b2] + ([bngain, bnbias] if args.batchnorm else [])
    print('parameters', sum(p.nelement() for p in parameters))
    for p in parameters:
        p.requires_grad = True

    batch_size = 32
    lossi = []
    for i in range(args.steps):
        ix = torch.from_numpy(rng.integers(0, Xtr.shape[0], size=batch_size))
        Xb, Yb = Xtr[ix], Ytr[ix]
        emb = C[Xb]
        embcat = emb.view(emb.shape[0], -1)
        hpreact = embcat @ W1 + b1
        if args.batchnorm:
            bnmeani = hpreact.mean(0, keepdim=True)
            bnstdi = hpreact.std(0, keepdim=True)
            hpreact = bngain * (hpreact - bnmeani) / bnstdi + bnbias
            with torch.no_grad():
                bnmean_running = 0.999 * bnmean_running + 0.001 * bnmeani
                bnstd_running = 0.999 * bnstd_running + 0.001 * bnstdi
        h = torch.tanh(hpreact)
        logits = h @ W2 + b2
        loss = F.cross_entropy(logits, Yb)
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = 0.1 if i < args.steps // 2 else 0.01
        for p in parameters:
            p.data += -lr * p.grad
        if i % 50 == 0:
            print(f'{i:7d}/{args.steps:7d}: {loss.item():.4f}')
        lossi.append(loss.log10().item())
    print('mean log10 loss', f'{sum(lossi) / len(lossi):.6g}', 'W1 grad norm', f'{W1.grad.norm().item():.6g}')
    print('saturated', f'{(h.abs() > 0.97).float().mean().item():.4f}')

    @torch.no_grad()
    def split_loss(split):
        x, y = {'train': (Xtr, Ytr), 'val': (Xdev, Ydev), 'test': (Xte, Yte)}[split]
        emb = C[x]
        embcat = emb.view(emb.shape[0], -1)
        hpreact = embcat @ W1 + b1
        if args.batchnorm:
            hpreact = bngain * (hpreact - bnmean_running) / bnstd_running + bnbias
        h = torch.tanh(hpreact)
        logits = h @ W2 + b2
        loss = F.cross_entropy(logits, y)
        print(split, f'{loss.item():.5f}')

    split_loss('train')
    split_loss('val')

    for _ in range(5):
        out = []
        context = [0] * block_size
        while True:
            emb = C[torch.tensor([context])]
            h = torch.tanh(emb.view(1, -1) @ W1 + b1)
            logits = h @ W2 + b2
            probs = F.softmax(logits, dim=1)
            cdf = np.cumsum(probs.detach().numpy()[0].astype(np.float64))
            ix = int(min(np.searchsorted(cdf, rng.random() * cdf[-1]), vocab_size - 1))
            context = context[1:] + [ix]
            out.append(ix)
            if ix == 0 or len(out) > 12:
                break
        print(''.join(itos[i] for i in out))


if __name__ == '__main__':
    main()
