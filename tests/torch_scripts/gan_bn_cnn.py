"""Two more common patterns in one program. (1) A DCGAN-style training step on 1-D toy data: generator and
discriminator (BatchNorm1d, LeakyReLU), two Adam optimizers with betas=(0.5, 0.999), BCEWithLogitsLoss with
real/fake label tensors from torch.full, the fake batch detached for the discriminator step, latent noise from
NumPy. (2) A BatchNorm CNN (Conv2d + BatchNorm2d + ReLU + AdaptiveAvgPool2d) trained with SGD (nesterov,
weight_decay) and CosineAnnealingLR under CrossEntropyLoss(label_smoothing), then evaluated in eval() mode with the
running statistics; prints running_mean/var and num_batches_tracked. tests/test_swapin_corpus.py compares with torch.

usage: python gan_bn_cnn.py [--gan-steps N] [--cnn-epochs N]
"""
import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim


def weights_from_numpy(module, rng, scale=0.1):
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("weight") and p.dim() == 1:   # norm gains
                p.copy_(torch.from_numpy(1.0 + scale * rng.standard_normal(p.shape).astype(np.float32)))
            else:
                p.copy_(torch.from_numpy(scale * rng.standard_normal(p.shape).astype(np.float32)))


class Generator(nn.Module):
    def __init__(self, nz=4, ngf=16, nout=2):
        super().__init__()
        # no bias before a BatchNorm (as DCGAN): its true gradient is 0, the computed one is float rounding noise
        # (~1e-9), and Adam normalizes that noise to full +-lr steps, so such a bias would follow the rounding of
        # whichever framework runs it
        self.main = nn.Sequential(
            nn.Linear(nz, ngf, bias=False), nn.BatchNorm1d(ngf), nn.ReLU(True),
            nn.Linear(ngf, ngf, bias=False), nn.BatchNorm1d(ngf), nn.ReLU(True),
            nn.Linear(ngf, nout))

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self, nin=2, ndf=16):
        super().__init__()
        self.main = nn.Sequential(
            nn.Linear(nin, ndf), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(ndf, ndf), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(ndf, 1))

    def forward(self, input):
        return self.main(input).view(-1)


def gan(steps):
    rng = np.random.default_rng(10)
    netG, netD = Generator(), Discriminator()
    weights_from_numpy(netG, rng, 0.3)
    weights_from_numpy(netD, rng, 0.3)
    criterion = nn.BCEWithLogitsLoss()
    real_label, fake_label = 1., 0.
    optimizerD = optim.Adam(netD.parameters(), lr=2e-3, betas=(0.5, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=2e-3, betas=(0.5, 0.999))
    fixed_noise = torch.from_numpy(rng.standard_normal((5, 4)).astype(np.float32))
    for i in range(steps):
        angle = rng.uniform(0, 2 * np.pi, size=32)
        real = torch.from_numpy(np.stack([np.cos(angle), np.sin(angle)], 1).astype(np.float32))
        b_size = real.size(0)
        # (1) update D: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        label = torch.full((b_size,), real_label, dtype=torch.float)
        output = netD(real)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = torch.sigmoid(output).mean().item()
        noise = torch.from_numpy(rng.standard_normal((b_size, 4)).astype(np.float32))
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = torch.sigmoid(output).mean().item()
        errD = errD_real + errD_fake
        optimizerD.step()
        # (2) update G: maximize log(D(G(z)))
        netG.zero_grad()
        label.fill_(real_label)
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = torch.sigmoid(output).mean().item()
        optimizerG.step()
        if i % 5 == 0:
            print('[%d/%d]\tLoss_D: %.4f\tLoss_G: %.4f\tD(x): %.4f\tD(G(z)): %.4f / %.4f'
                  % (i, steps, errD.item(), errG.item(), D_x, D_G_z1, D_G_z2))
    netG.eval()
    with torch.no_grad():
        fake = netG(fixed_noise).detach().cpu()
    print('fixed samples', [f'{v:.4f}' for v in fake.flatten().tolist()])
    bn = netG.main[1]
    print('G bn1 running_mean[:4]', [f'{v:.5f}' for v in bn.running_mean[:4].tolist()],
          'tracked', int(bn.num_batches_tracked))


class BNNet(nn.Module):
    def __init__(self, num_classes=3):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((1, 1)))
        self.classifier = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def bn_cnn(epochs):
    rng = np.random.default_rng(20)
    y = rng.integers(0, 3, size=48)
    x = rng.normal(0, 1, size=(48, 1, 8, 8)).astype(np.float32)
    x[y == 0, :, :4, :] += 1.5
    x[y == 1, :, 4:, :] += 1.5
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    model = BNNet()
    weights_from_numpy(model, rng, 0.3)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    for epoch in range(epochs):
        model.train()
        for start in range(0, 48, 16):
            inputs, targets = X[start:start + 16], Y[start:start + 16]
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            _, predicted = outputs.max(1)
            correct = predicted.eq(targets).sum().item()
        scheduler.step()
        model.eval()
        with torch.no_grad():
            out = model(X)
            eval_loss = criterion(out, Y).item()
            acc = (out.argmax(1) == Y).float().mean().item()
        print(f'epoch {epoch} train loss {loss.item():.5f} batch correct {correct} eval loss {eval_loss:.5f} '
              f'acc {acc:.4f} lr {scheduler.get_last_lr()[0]:.5f}')
    bn = model.features[1]
    print('bn running_mean', [f'{v:.5f}' for v in bn.running_mean[:4].tolist()],
          'running_var', [f'{v:.5f}' for v in bn.running_var[:4].tolist()], 'tracked', bn.num_batches_tracked.item())
    print('conv grad norm', f'{model.features[0].weight.grad.norm().item():.6g}')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--gan-steps', type=int, default=20)
    parser.add_argument('--cnn-epochs', type=int, default=4)
    args = parser.parse_args()
    gan(args.gan_steps)
    bn_cnn(args.cnn_epochs)


if __name__ == '__main__':
    main()
