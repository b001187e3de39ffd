"""A variational autoencoder on small synthetic binary-ish images: Linear encoder/decoder, the reparameterization
trick with the noise drawn from NumPy (so torch and the alias see the same noise), BCE-with-logits reconstruction
plus the analytic KL term, Adam; prints losses, a gradient norm and a few decoded values
(tests/test_swapin_corpus.py compares them with real torch).

usage: python vae.py [--epochs N] [--batch-size B]
"""
import argparse

import numpy as np
import torch
import torch.utils.data
from torch import nn, optim
from torch.nn import functional as F

D_IN, D_H, D_Z = 64, 32, 4


class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()
        self.fc1 = nn.Linear(D_IN, D_H)
        self.fc21 = nn.Linear(D_H, D_Z)
        self.fc22 = nn.Linear(D_H, D_Z)
        self.fc3 = nn.Linear(D_Z, D_H)
        self.fc4 = nn.Linear(D_H, D_IN)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar, eps):
        std = torch.exp(0.5 * logvar)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return self.fc4(h3)  # logits

    def forward(self, x, eps):
        mu, logvar = self.encode(x.view(-1, D_IN))
        z = self.reparameterize(mu, logvar, eps)
        return self.decode(z), mu, logvar


def loss_function(recon_logits, x, mu, logvar):
    BCE = F.binary_cross_entropy_with_logits(recon_logits, x.view(-1, D_IN), reduction='sum')
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD, BCE, KLD


def main():
    parser = argparse.ArgumentParser(description='VAE')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--epochs', type=int, default=4)
    parser.add_argument('--log-interval', type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(1)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    rng = np.random.default_rng(3)
    protos = (rng.random((4, 8, 8)) > 0.5).astype(np.float32)
    labels = rng.integers(0, 4, size=128)
    images = np.clip(protos[labels] + rng.normal(0, 0.15, size=(128, 8, 8)), 0, 1).astype(np.float32)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels))
    train_loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=False)

    model = VAE().to(device)
    wrng = np.random.default_rng(11)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(wrng.standard_normal(p.shape).astype(np.float32) * 0.1))
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    noise = np.random.default_rng(5)

    for epoch in range(1, args.epochs + 1):
        model.train()
        train_loss = 0
        for batch_idx, (data, _) in enumerate(train_loader):
            data = data.to(device)
            eps = torch.from_numpy(noise.standard_normal((data.shape[0], D_Z)).astype(np.float32)).to(device)
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data, eps)
            loss, bce, kld = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
            if batch_idx % args.log_interval == 0:
                print('Train Epoch: {} [{}/{}]\tLoss: {:.6f} (BCE {:.6f} KLD {:.6f})'.format(
                    epoch, batch_idx * len(data), len(train_loader.dataset),
                    loss.item() / len(data), bce.item() / len(data), kld.item() / len(data)))
        print('====> Epoch: {} Average loss: {:.4f}'.format(epoch, train_loss / len(train_loader.dataset)))
        print('      fc1 grad norm {:.6g}, logvar mean {:.6g}'.format(
            model.fc1.weight.grad.norm().item(), logvar.mean().item()))

    model.eval()
    with torch.no_grad():
        z = torch.from_numpy(noise.standard_normal((3, D_Z)).astype(np.float32)).to(device)
        sample = torch.sigmoid(model.decode(z)).cpu()
        print('sample', list(sample.shape), ['%.5f' % v for v in sample[:, :4].flatten().tolist()])
        recon, mu, logvar = model(dataset.tensors[0][:4], torch.zeros(4, D_Z))
        print('recon mse {:.6g}'.format(F.mse_loss(torch.sigmoid(recon), dataset.tensors[0][:4].view(-1, D_IN)).item()))
        print('mu', ['%.5g' % v for v in mu.numpy()[0]])


if __name__ == "__main__":
    main()
