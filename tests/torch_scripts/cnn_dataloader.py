"""An MNIST-style convolutional classifier on small synthetic 12x12 images: DataLoader over a TensorDataset,
Adadelta (or SGD with momentum) with a StepLR, model.train()/model.eval(), a test loop under torch.no_grad() with
accuracy via argmax. Weights and data come from NumPy (tests/test_swapin_corpus.py compares torch and the alias).

usage: python cnn_dataloader.py [--epochs N] [--optimizer adadelta|sgd] [--batch-size B]
"""
import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1, padding=1)
        self.dropout1 = nn.Dropout(0.0)
        self.fc1 = nn.Linear(16 * 5 * 5, 32)
        self.fc2 = nn.Linear(32, 4)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def make_data(rng, n):
    """Four classes: a bright bar in one of four places, plus noise."""
    y = rng.integers(0, 4, size=n)
    x = rng.normal(0.0, 0.3, size=(n, 1, 12, 12)).astype(np.float32)
    for i, c in enumerate(y):
        if c == 0:
            x[i, 0, 2:4, :] += 1.0
        elif c == 1:
            x[i, 0, 8:10, :] += 1.0
        elif c == 2:
            x[i, 0, :, 2:4] += 1.0
        else:
            x[i, 0, :, 8:10] += 1.0
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))


def train(args, model, device, train_loader, optimizer, epoch):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % args.log_interval == 0:
            print('Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader), loss.item()))


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    print('Test set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)'.format(
        test_loss, correct, len(test_loader.dataset), 100. * correct / len(test_loader.dataset)))
    return correct


def main():
    parser = argparse.ArgumentParser(description='small CNN')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--test-batch-size', type=int, default=50)
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--lr', type=float, default=1.0)
    parser.add_argument('--gamma', type=float, default=0.7)
    parser.add_argument('--optimizer', default='adadelta')
    parser.add_argument('--log-interval', type=int, default=3)
    parser.add_argument('--no-cuda', action='store_true', default=False)
    args = parser.parse_args()
    use_cuda = not args.no_cuda and torch.cuda.is_available()
    torch.manual_seed(1)
    device = torch.device("cuda" if use_cuda else "cpu")
    train_kwargs = {'batch_size': args.batch_size}
    test_kwargs = {'batch_size': args.test_batch_size}
    if use_cuda:
        cuda_kwargs = {'num_workers': 1, 'pin_memory': True}
        train_kwargs.update(cuda_kwargs)
        test_kwargs.update(cuda_kwargs)

    rng = np.random.default_rng(42)
    train_set = TensorDataset(*make_data(rng, 96))
    test_set = TensorDataset(*make_data(rng, 100))
    train_loader = torch.utils.data.DataLoader(train_set, shuffle=False, **train_kwargs)
    test_loader = DataLoader(test_set, shuffle=False, **test_kwargs)

    model = Net().to(device)
    wrng = np.random.default_rng(7)
    with torch.no_grad():
        for name, p in model.named_parameters():
            fan_in = p[0].numel() if p.dim() > 1 else p.numel()
            p.copy_(torch.from_numpy((wrng.standard_normal(p.shape) / np.sqrt(fan_in)).astype(np.float32)))
    if args.optimizer == 'adadelta':
        optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
    else:
        optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)

    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    test(model, device, test_loader)
    for epoch in range(1, args.epochs + 1):
        train(args, model, device, train_loader, optimizer, epoch)
        test(model, device, test_loader)
        scheduler.step()
        print('lr', scheduler.get_last_lr())
    print('conv1 grad norm {:.6g}'.format(model.conv1.weight.grad.norm().item()))
    print('fc2 bias', ['%.5g' % v for v in model.fc2.bias.tolist()])


if __name__ == '__main__':
    main()
