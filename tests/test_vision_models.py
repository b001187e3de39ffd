"""tensorgrad.vision.models against torch modules of the same architecture written here (torchvision itself cannot
be imported beside this torch): state_dict keys equal (and equal to the reference's, which follows torchvision's
layout), and with the weights copied across, the outputs (train and eval mode) and every parameter's gradient
agree. Pretrained weights are refused clearly."""
import numpy as np
import pytest
import torch
from torch import nn as tnn

import tensorgrad as tg
from tensorgrad.vision import models


# ---- torch references, module for module as torchvision builds them -------------------------------------------

class RefBasic(tnn.Module):
    expansion = 1

    def __init__(self, inp, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = tnn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.relu = tnn.ReLU(inplace=True)
        self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class RefBottleneck(tnn.Module):
    expansion = 4

    def __init__(self, inp, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = tnn.Conv2d(inp, planes, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.conv2 = tnn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.conv3 = tnn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = tnn.BatchNorm2d(planes * 4)
        self.relu = tnn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn3(self.conv3(self.relu(self.bn2(self.conv2(out)))))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class RefResNet(tnn.Module):
    def __init__(self, block, layers, num_classes):
        super().__init__()
        self.inplanes = 64
        self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = tnn.BatchNorm2d(64)
        self.relu = tnn.ReLU(inplace=True)
        self.maxpool = tnn.MaxPool2d(3, 2, 1)
        for k, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
            setattr(self, f"layer{k + 1}", self._layer(block, planes, n, 1 if k == 0 else 2))
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(512 * block.expansion, num_classes)

    def _layer(self, block, planes, n, stride):
        down = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            down = tnn.Sequential(tnn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                                  tnn.BatchNorm2d(planes * block.expansion))
        blocks = [block(self.inplanes, planes, stride, down)]
        self.inplanes = planes * block.expansion
        blocks += [block(self.inplanes, planes) for _ in range(1, n)]
        return tnn.Sequential(*blocks)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _cna(inp, out, k=3, stride=1, groups=1):
    return tnn.Sequential(tnn.Conv2d(inp, out, k, stride, (k - 1) // 2, groups=groups, bias=False),
                          tnn.BatchNorm2d(out), tnn.ReLU6(inplace=True))


class RefInverted(tnn.Module):
    def __init__(self, inp, oup, stride, t):
        super().__init__()
        hidden = int(round(inp * t))
        self.use_res = stride == 1 and inp == oup
        layers = [_cna(inp, hidden, 1)] if t != 1 else []
        layers += [_cna(hidden, hidden, 3, stride, hidden), tnn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
                   tnn.BatchNorm2d(oup)]
        self.conv = tnn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class RefMobileNetV2(tnn.Module):
    def __init__(self, num_classes):
        super().__init__()
        feats, c_in = [_cna(3, 32, 3, 2)], 32
        for t, c, n, s in [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2],
                           [6, 320, 1, 1]]:
            for i in range(n):
                feats.append(RefInverted(c_in, c, s if i == 0 else 1, t))
                c_in = c
        feats.append(_cna(c_in, 1280, 1))
        self.features = tnn.Sequential(*feats)
        self.classifier = tnn.Sequential(tnn.Dropout(0.2), tnn.Linear(1280, num_classes))

    def forward(self, x):
        x = tnn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


class RefAlexNet(tnn.Module):
    def __init__(self, num_classes):
        super().__init__()
        R = lambda: tnn.ReLU(inplace=True)  # noqa: E731
        self.features = tnn.Sequential(
            tnn.Conv2d(3, 64, 11, 4, 2), R(), tnn.MaxPool2d(3, 2), tnn.Conv2d(64, 192, 5, padding=2), R(),
            tnn.MaxPool2d(3, 2), tnn.Conv2d(192, 384, 3, padding=1), R(), tnn.Conv2d(384, 256, 3, padding=1), R(),
            tnn.Conv2d(256, 256, 3, padding=1), R(), tnn.MaxPool2d(3, 2))
        self.avgpool = tnn.AdaptiveAvgPool2d((6, 6))
        self.classifier = tnn.Sequential(tnn.Dropout(), tnn.Linear(9216, 4096), R(), tnn.Dropout(),
                                         tnn.Linear(4096, 4096), R(), tnn.Linear(4096, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# ---- comparison --------------------------------------------------------------------------------------------------

def _copy_weights(mine, ref):
    sd = {k: torch.from_numpy(np.array(v.detach().numpy())) for k, v in mine.state_dict().items()}
    ref.load_state_dict(sd)


def _compare(mine, ref, x, train, rtol=1e-7, atol=1e-9):
    """In float64, so that deep batch-normalized nets agree to rounding instead of to float32's accumulated noise."""
    assert list(mine.state_dict()) == list(ref.state_dict())
    mine.double()
    ref.double()
    _copy_weights(mine, ref)
    x = x.astype(np.float64)
    mine.train(train)
    ref.train(train)
    y = mine(tg.from_numpy(x))
    r = ref(torch.from_numpy(x))
    np.testing.assert_allclose(y.detach().numpy(), r.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(0).standard_normal(r.shape)
    y.backward(tg.from_numpy(g))
    r.backward(torch.from_numpy(g))
    ref_params = dict(ref.named_parameters())
    # absolute tolerance against the largest gradient: a batch norm's bias whose shift the next train-mode batch
    # norm removes has a true gradient of 0, computed by both as rounding noise (1e-15 against gradients of 100)
    top = max(np.abs(p.grad.numpy()).max() for p in ref.parameters())
    for name, p in mine.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), ref_params[name].grad.numpy(), rtol=1e-6, atol=1e-10 * top,
                                   err_msg=name)
    if train:  # the BN running statistics moved the same way
        ref_buffers = dict(ref.named_buffers())
        for name, b in mine.named_buffers():
            np.testing.assert_allclose(b.numpy(), ref_buffers[name].numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("train", [True, False])
def test_resnet18_matches_torch(train):
    tg.manual_seed(0)
    x = np.random.default_rng(1).standard_normal((2, 3, 40, 40)).astype(np.float32)
    _compare(models.resnet18(num_classes=7), RefResNet(RefBasic, [2, 2, 2, 2], 7), x, train)


# (in train mode the last blocks' batch norm should see more than two values per channel: with two it maps them to
# +-1, an ill-conditioned step)
@pytest.mark.parametrize("train,size", [(True, 64), (False, 32)])
def test_resnet50_matches_torch(train, size):
    tg.manual_seed(1)
    x = np.random.default_rng(2).standard_normal((2, 3, size, size)).astype(np.float32)
    _compare(models.resnet50(num_classes=4), RefResNet(RefBottleneck, [3, 4, 6, 3], 4), x, train)


def test_resnet34_keys_and_custom_resnet():
    assert list(models.resnet34().state_dict()) == list(RefResNet(RefBasic, [3, 4, 6, 3], 1000).state_dict())
    tiny = models.ResNet(models.BasicBlock, [1, 1, 1, 1], num_classes=3, zero_init_residual=True)
    assert all(float(m.bn2.weight.abs().sum()) == 0 for m in tiny.modules() if isinstance(m, models.BasicBlock))
    x = np.random.default_rng(3).standard_normal((2, 3, 32, 32)).astype(np.float32)
    _compare(tiny, RefResNet(RefBasic, [1, 1, 1, 1], 3), x, False)


@pytest.mark.parametrize("train,size", [(True, 64), (False, 32)])
def test_mobilenet_v2_matches_torch(train, size):
    tg.manual_seed(2)
    x = np.random.default_rng(4).standard_normal((2, 3, size, size)).astype(np.float32)
    mine, ref = models.mobilenet_v2(num_classes=5), RefMobileNetV2(5)
    mine.classifier[0].p = ref.classifier[0].p = 0.0  # dropout draws differ between the frameworks
    _compare(mine, ref, x, train)


def test_alexnet_matches_torch():
    tg.manual_seed(3)
    x = np.random.default_rng(5).standard_normal((2, 3, 67, 67)).astype(np.float32)
    mine, ref = models.alexnet(num_classes=6), RefAlexNet(6)
    mine.classifier[0].p = mine.classifier[3].p = 0.0  # dropout draws differ between the frameworks
    ref.classifier[0].p = ref.classifier[3].p = 0.0
    _compare(mine, ref, x, True)


def test_vgg_layout():
    keys = list(models.vgg11_bn(num_classes=10).state_dict())
    convs = [i for i, k in enumerate(keys) if k.endswith("running_var")]
    assert len(convs) == 8 and keys[:7] == ["features.0.weight", "features.0.bias", "features.1.weight",
                                           "features.1.bias", "features.1.running_mean", "features.1.running_var",
                                           "features.1.num_batches_tracked"]
    assert keys[-6:] == ["classifier.0.weight", "classifier.0.bias", "classifier.3.weight", "classifier.3.bias",
                         "classifier.6.weight", "classifier.6.bias"]
    layers = models.vgg.make_layers(models.vgg.cfgs["D"])
    assert sum(isinstance(m, tg.nn.Conv2d) for m in layers) == 13


def test_registry_and_weight_refusal():
    assert {"resnet18", "resnet50", "vgg16", "alexnet", "mobilenet_v2"} <= set(models.list_models())
    assert models.list_models(include="resnet1*") == ["resnet101", "resnet152", "resnet18"]
    m = models.get_model("resnet18", num_classes=3)
    assert isinstance(m, models.ResNet) and m.fc.out_features == 3
    for kwargs in ({"weights": "IMAGENET1K_V1"}, {"pretrained": True}):
        with pytest.raises(NotImplementedError, match="resnet18: pretrained weights"):
            models.resnet18(**kwargs)
    assert isinstance(models.resnet18(pretrained=False), models.ResNet)
    with pytest.raises(ValueError, match="unknown model"):
        models.get_model("resnet7")
