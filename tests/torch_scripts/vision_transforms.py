"""An image-classification program in the style of public torchvision code: images built with NumPy pass through a
transforms pipeline (ToTensor, Normalize, CenterCrop, Pad, a horizontal flip, an antialiased tensor Resize,
Grayscale), make_grid tiles them, and a small ResNet made of torchvision's BasicBlock trains a few SGD steps;
it prints the pipeline's numbers, the grid and the losses.

Real torchvision cannot be imported beside the torch of the test suite (and cannot run on tensorgrad: it loads
torch's C++ ops), so this program imports torchvision when it can -- under the tensorgrad alias, `import
torchvision` is tensorgrad.vision -- and otherwise runs the equivalent plain-torch code, which computes what
torchvision's v1 transforms and BasicBlock compute. tests/test_swapin_corpus.py runs it both ways and compares the
printed numbers, so the alias's torchvision is checked against plain torch.

usage: python vision_transforms.py [--steps N]
"""
import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import torchvision
    from torchvision import transforms
    from torchvision.models.resnet import BasicBlock
    from torchvision.utils import make_grid
except ImportError:
    torchvision = None

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def pipeline_torchvision(img):
    t = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD), transforms.CenterCrop((14, 12)),
                            transforms.Pad([1, 2], padding_mode="reflect"), transforms.RandomHorizontalFlip(p=1.0),
                            transforms.Resize((9, 7), antialias=True)])
    x = t(img)
    gray = transforms.Grayscale()(transforms.ToTensor()(img))
    return x, gray


def pipeline_plain(img):
    x = torch.from_numpy(img.transpose(2, 0, 1).copy()).float().div(255)
    x = (x - torch.tensor(MEAN).view(-1, 1, 1)) / torch.tensor(STD).view(-1, 1, 1)
    top, left = int(round((x.shape[1] - 14) / 2.0)), int(round((x.shape[2] - 12) / 2.0))
    x = x[:, top:top + 14, left:left + 12]
    x = F.pad(x[None], [1, 1, 2, 2], mode="reflect")[0]
    x = x.flip(-1)
    x = F.interpolate(x[None], size=(9, 7), mode="bilinear", align_corners=False, antialias=True)[0]
    f = torch.from_numpy(img.transpose(2, 0, 1).copy()).float().div(255)
    gray = (0.2989 * f[0] + 0.587 * f[1] + 0.114 * f[2]).unsqueeze(0)
    return x, gray


def grid_plain(batch, nrow, padding):
    n, c, h, w = batch.shape
    cols, rows = min(nrow, n), -(-n // min(nrow, n))
    grid = batch.new_full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), 0.0)
    for k in range(n):
        r, q = divmod(k, cols)
        y0, x0 = r * (h + padding) + padding, q * (w + padding) + padding
        grid[:, y0:y0 + h, x0:x0 + w] = batch[k]
    return grid


class PlainBasicBlock(nn.Module):
    """torchvision's BasicBlock, module for module."""
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + identity)


class TinyResNet(nn.Module):
    def __init__(self, block, classes=4):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        down = nn.Sequential(nn.Conv2d(8, 16, 1, 2, bias=False), nn.BatchNorm2d(16))
        self.layer1 = nn.Sequential(block(8, 8), block(8, 16, 2, down))
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        x = self.layer1(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 17, 15, 3), dtype=np.uint8)
    labels = torch.from_numpy(rng.integers(0, 4, 6).astype(np.int64))
    use_tv = torchvision is not None
    xs = []
    for k, img in enumerate(images):
        x, gray = pipeline_torchvision(img) if use_tv else pipeline_plain(img)
        xs.append(x)
        print(f"image {k} shape {list(x.shape)} mean {x.mean().item():.5f} std {x.std().item():.5f} "
              f"corner {x[0, 0, 0].item():.5f} gray {gray.sum().item():.4f}")
    batch = torch.stack(xs)
    grid = make_grid(batch, nrow=4, padding=1) if use_tv else grid_plain(batch, 4, 1)
    print(f"grid {list(grid.shape)} sum {grid.sum().item():.4f} max {grid.max().item():.5f}")

    model = TinyResNet(BasicBlock if use_tv else PlainBasicBlock)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight") and p.dim() > 1:
                p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.2))
            elif name == "fc.bias":  # the batch norms start at weight 1, bias 0 in both frameworks
                p.copy_(torch.from_numpy(rng.uniform(-0.1, 0.1, tuple(p.shape)).astype(np.float32)))
    print("params", sum(p.numel() for p in model.parameters()), sorted(model.state_dict())[:4])
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for step in range(args.steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(batch), labels)
        loss.backward()
        opt.step()
        print(f"step {step} loss {loss.item():.5f}")
    model.eval()
    with torch.no_grad():
        pred = model(batch).argmax(1)
    print("eval predictions", pred.tolist(), "accuracy", (pred == labels).float().mean().item())


if __name__ == "__main__":
    main()
