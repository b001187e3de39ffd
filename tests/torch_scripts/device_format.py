"""A beginner-tutorial style training script: device selection by torch.cuda.is_available(), torch.manual_seed,
cudnn.benchmark, .to(device), nn.Sequential classifier with CrossEntropyLoss and SGD, printing f"{loss:.4f}"
(Tensor.__format__), f"{acc:.2%}", .item(), .cpu().numpy(), .detach(), .size(0), dtype aliases
(torch.float / torch.long). Data and weights from NumPy (tests/test_swapin_corpus.py compares with real torch).

usage: python device_format.py [--epochs N]
"""
import argparse

import numpy as np
import torch
from torch import nn

torch.manual_seed(42)
if torch.cuda.is_available():
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    torch.cuda.manual_seed_all(42)
elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
    device = torch.device("mps")
else:
    device = torch.device("cpu")
torch.backends.cudnn.benchmark = True
print(f"Using {device} device")


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(4 * 4, 24),
            nn.ReLU(),
            nn.Linear(24, 24),
            nn.ReLU(),
            nn.Linear(24, 3),
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


def train_loop(X, y, model, loss_fn, optimizer, batch_size):
    size = X.size(0)
    model.train()
    for batch, start in enumerate(range(0, size, batch_size)):
        xb = X[start:start + batch_size].to(device)
        yb = y[start:start + batch_size].to(device)
        pred = model(xb)
        loss = loss_fn(pred, yb)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if batch % 2 == 0:
            current = start + len(xb)
            print(f"loss: {loss:.4f}  [{current:>3d}/{size:>3d}]  (item {loss.item():>7f})")


def test_loop(X, y, model, loss_fn):
    model.eval()
    with torch.no_grad():
        pred = model(X.to(device))
        test_loss = loss_fn(pred, y.to(device)).item()
        correct = (pred.argmax(1) == y.to(device)).type(torch.float).sum().item()
    acc = correct / X.size(0)
    print(f"Test Error: \n Accuracy: {acc:.2%}, Avg loss: {test_loss:>8f} \n")
    return test_loss


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(123)
    centers = rng.normal(0, 1, size=(3, 4, 4))
    y_np = rng.integers(0, 3, size=60)
    X_np = centers[y_np] + rng.normal(0, 0.8, size=(60, 4, 4))
    X = torch.tensor(X_np, dtype=torch.float)
    y = torch.tensor(y_np, dtype=torch.long)
    X_train, y_train, X_test, y_test = X[:48], y[:48], X[48:], y[48:]

    model = NeuralNetwork().to(device)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(p.shape).astype(np.float32) * 0.2))
    print(model.linear_relu_stack[0].weight.size(), next(model.parameters()).device)

    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for t in range(args.epochs):
        print(f"Epoch {t+1}\n-------------------------------")
        train_loop(X_train, y_train, model, loss_fn, optimizer, batch_size=16)
        test_loop(X_test, y_test, model, loss_fn)
    logits = model(X_test[:3].to(device))
    probs = nn.Softmax(dim=1)(logits)
    print("probs", np.array2string(probs.detach().cpu().numpy(), precision=4, suppress_small=True))
    print(f"first prob {probs[0, 0]:.5f}, max {probs.max():.5f}, pred {probs.argmax(1).tolist()}")
    print("Done!")


if __name__ == "__main__":
    main()
