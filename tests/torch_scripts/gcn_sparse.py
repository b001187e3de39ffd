"""A graph convolutional network (Kipf & Welling) in the style of common PyTorch GCN code: a random graph made with
NumPy, its normalized adjacency D^-1/2 (A + I) D^-1/2 as a sparse COO tensor, two GraphConvolution layers built on
torch.spmm, Adam with weight decay, masked NLL loss. Weights come from NumPy (not torch's RNG) and there is no
dropout, so the printed losses are the same under real torch and under `python -m tensorgrad.compat`
(tests/test_swapin_corpus.py).

usage: python gcn_sparse.py [--epochs N] [--nodes N] [--hidden N]
"""
import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class GraphConvolution(nn.Module):
    def __init__(self, in_features, out_features, rng):
        super().__init__()
        bound = 1.0 / np.sqrt(out_features)
        self.weight = nn.Parameter(torch.FloatTensor(rng.uniform(-bound, bound, (in_features, out_features))))
        self.bias = nn.Parameter(torch.FloatTensor(rng.uniform(-bound, bound, out_features)))

    def forward(self, input, adj):
        support = torch.mm(input, self.weight)
        output = torch.spmm(adj, support)
        return output + self.bias


class GCN(nn.Module):
    def __init__(self, nfeat, nhid, nclass, rng):
        super().__init__()
        self.gc1 = GraphConvolution(nfeat, nhid, rng)
        self.gc2 = GraphConvolution(nhid, nclass, rng)

    def forward(self, x, adj):
        x = F.relu(self.gc1(x, adj))
        x = self.gc2(x, adj)
        return F.log_softmax(x, dim=1)


def normalize_adj(edges, n):
    """D^-1/2 (A + I) D^-1/2 of the symmetrized edge list, as a sparse COO tensor."""
    edges = np.concatenate([edges, edges[:, ::-1], np.stack([np.arange(n)] * 2, 1)])
    idx = torch.from_numpy(edges.T.copy()).long()
    adj = torch.sparse_coo_tensor(idx, torch.ones(len(edges)), (n, n)).coalesce()
    adj = torch.sparse_coo_tensor(adj.indices(), (adj.values() > 0).float(), (n, n))   # duplicate edges count once
    deg = torch.sparse.sum(adj, dim=1).to_dense()
    d_inv_sqrt = deg.pow(-0.5)
    d_inv_sqrt[torch.isinf(d_inv_sqrt)] = 0.0
    i = adj._indices()
    values = d_inv_sqrt[i[0]] * adj._values() * d_inv_sqrt[i[1]]
    return torch.sparse_coo_tensor(i, values, (n, n)).coalesce()


def accuracy(output, labels):
    preds = output.max(1)[1].type_as(labels)
    return preds.eq(labels).double().sum() / len(labels)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--nodes", type=int, default=120)
    parser.add_argument("--hidden", type=int, default=16)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    n, nfeat, nclass = args.nodes, 24, 3
    labels_np = rng.integers(0, nclass, n)
    protos = rng.random((nclass, nfeat)) < 0.3
    feats = ((rng.random((n, nfeat)) < 0.05) | (protos[labels_np] & (rng.random((n, nfeat)) < 0.5)))
    src, dst = rng.integers(0, n, 4 * n), rng.integers(0, n, 4 * n)
    keep = (src != dst) & ((labels_np[src] == labels_np[dst]) | (rng.random(4 * n) < 0.2))
    edges = np.stack([src[keep], dst[keep]], 1)

    adj = normalize_adj(edges, n)
    features = torch.FloatTensor(feats.astype(np.float32))
    features = features / features.sum(1, keepdim=True).clamp(min=1)
    features = features.to_sparse()   # row-normalized bag of words, sparse as in Cora loaders
    labels = torch.LongTensor(labels_np)
    idx_train, idx_val = torch.arange(0, n // 2), torch.arange(n // 2, n)
    print(f"nodes {n} edges {adj._nnz()} features {features._nnz()} nnz layout {adj.layout == torch.sparse_coo}")

    model = GCN(nfeat, args.hidden, nclass, rng)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    for epoch in range(args.epochs):
        model.train()
        optimizer.zero_grad()
        output = model(features, adj)
        loss_train = F.nll_loss(output[idx_train], labels[idx_train])
        acc_train = accuracy(output[idx_train], labels[idx_train])
        loss_train.backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            output = model(features, adj)
            loss_val = F.nll_loss(output[idx_val], labels[idx_val])
            acc_val = accuracy(output[idx_val], labels[idx_val])
        if epoch % 5 == 0 or epoch == args.epochs - 1:
            print(f"Epoch: {epoch + 1:04d} loss_train: {loss_train.item():.4f} acc_train: {acc_train.item():.4f} "
                  f"loss_val: {loss_val.item():.4f} acc_val: {acc_val.item():.4f}")
    print(f"grad norm gc1 {model.gc1.weight.grad.norm().item():.5f}")


if __name__ == "__main__":
    main()
