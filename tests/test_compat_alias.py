"""The torch alias (tensorgrad.compat): a PyTorch-style script runs unchanged through `python -m tensorgrad.compat`
and prints what it prints under real torch; missing torch features are named; install() refuses to mix with real
torch. Each alias run is a subprocess, so this process keeps the real torch it compares against."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch  # noqa: F401  (the oracle is imported here, so in-process install() must refuse)

import tensorgrad.compat as compat

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "torch_scripts", "fixed_mlp.py")
REPO = os.path.dirname(HERE)


def _run(args, cwd=None):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd or REPO, env=env,
                          timeout=300)


def test_script_prints_what_real_torch_prints():
    real = _run([SCRIPT, "3"])
    alias = _run(["-m", "tensorgrad.compat", SCRIPT, "3"])
    assert real.returncode == 0, real.stderr
    assert alias.returncode == 0, alias.stderr
    assert "epoch 2 loss" in real.stdout
    assert alias.stdout == real.stdout


def _alias_stdout(code, tmp_path, *args):
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(code))
    r = _run(["-m", "tensorgrad.compat", str(path), *args], cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_script_sees_argv_main_and_its_folder(tmp_path):
    (tmp_path / "helper_mod.py").write_text("VALUE = 7\n")
    out = _alias_stdout("""
        import sys
        import helper_mod
        import torch
        print(sys.argv[1:], __name__, helper_mod.VALUE, torch.__name__, torch.tensor([1.5]).sum().item())
    """, tmp_path, "--lr", "3")
    assert out.split() == ["['--lr',", "'3']", "__main__", "7", "torch", "1.5"]


def test_namespaces_resolve_to_tensorgrad(tmp_path):
    out = _alias_stdout("""
        import tensorgrad
        import torch, torch.nn, torch.nn.functional, torch.optim, torch.optim.lr_scheduler, torch.utils.data
        import torch.cuda, torch.cuda.amp, torch.backends, torch.backends.cudnn, torch.distributed
        import torch.nn.parallel, torch.autograd, torch.amp, torch.utils.checkpoint, torch.linalg
        from torch.utils.data.dataloader import DataLoader
        from torch.nn.parallel import DistributedDataParallel
        pairs = [(torch.nn.Linear, tensorgrad.nn.Linear), (torch.nn.functional.relu, tensorgrad.nn.functional.relu),
                 (torch.optim.AdamW, tensorgrad.optim.AdamW), (DataLoader, tensorgrad.utils.data.DataLoader),
                 (torch.cuda.is_available, tensorgrad.cuda.is_available), (torch.Tensor, tensorgrad.Tensor),
                 (torch.autograd.grad, tensorgrad.autograd.grad), (torch.amp.GradScaler, tensorgrad.amp.GradScaler),
                 (DistributedDataParallel, tensorgrad.nn.parallel.DistributedDataParallel)]
        print(all(a is b for a, b in pairs))
        torch.backends.cudnn.benchmark = True          # writes reach tensorgrad's module
        torch.backends.cuda.matmul.allow_tf32 = True
        print(tensorgrad.backends.cudnn.benchmark, tensorgrad.backends.cuda.matmul.allow_tf32)
        print(type(tensorgrad.cuda).__name__, tensorgrad.cuda.__name__)   # tensorgrad's own modules stay its own
    """, tmp_path)
    assert out.split() == ["True", "True", "True", "module", "tensorgrad.cuda"]


def test_torch_version_module_matches_torch_version(tmp_path):
    # torch.version.__version__ is torch.__version__ (environment reports print one, version gates read the other);
    # torch.version.cuda is None without a GPU, as torch's CPU build says
    out = _alias_stdout("""
        import torch, torch.version
        print(torch.version.__version__ == torch.__version__, torch.version.cuda)
    """, tmp_path)
    assert out.split() == ["True", "None"]


def test_missing_torch_features_are_named(tmp_path):
    out = _alias_stdout("""
        import torch
        for stmt in ["import torch.fx", "torch.nested", "torch.export", "from torch.nn import NoSuchLayer",
                     "from torch.nn.functional import no_such_fn", "import torch.nn.utils.no_such_module",
                     "torch.nn.NoSuch"]:
            try:
                exec(stmt)
                print("no error:", stmt)
            except (ImportError, AttributeError) as e:
                print(type(e).__name__, "|", e)
    """, tmp_path)
    lines = out.strip().splitlines()
    assert len(lines) == 7, out
    for line, what in zip(lines, ["torch.fx", "torch.nested", "torch.export", "torch.nn.NoSuchLayer",
                                  "torch.nn.functional.no_such_fn", "torch.nn.utils.no_such_module",
                                  "torch.nn.NoSuch"]):
        kind, msg = line.split(" | ")
        assert kind in ("ModuleNotFoundError", "AttributeError"), line
        assert msg.startswith(what + ": a torch feature tensorgrad does not provide"), line


def test_import_only_namespaces_fail_at_use(tmp_path):
    # `import torch.onnx` at the top of a script that exports only on request (pytorch/examples'
    # word_language_model): the import works, using it fails naming the feature; torch.accelerator is mapped
    out = _alias_stdout("""
        import torch
        import torch.onnx
        print(torch.accelerator.is_available(), torch.accelerator.device_count())
        try:
            torch.onnx.export(None, (), "m.onnx")
        except AttributeError as e:
            print(e)
    """, tmp_path)
    assert out.splitlines() == ["False 0", "torch.onnx.export: a torch feature tensorgrad does not provide (this "
                                           "'torch' is tensorgrad, aliased by tensorgrad.compat)"], out


def test_script_errors_exit_nonzero_with_traceback(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("import torch\nraise ValueError('boom')\n")
    r = _run(["-m", "tensorgrad.compat", str(path)])
    assert r.returncode == 1 and "ValueError: boom" in r.stderr


def test_run_module_and_usage(tmp_path):
    (tmp_path / "progmod.py").write_text("import sys, torch\nprint(__name__, sys.argv[1:], torch.cuda.device_count())\n")
    r = _run(["-m", "tensorgrad.compat", "-m", "progmod", "x"], cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["__main__", "['x']", "0"]
    r = _run(["-m", "tensorgrad.compat"])
    assert r.returncode == 2 and "usage:" in r.stderr


def test_install_uninstall_in_a_fresh_process():
    r = _run(["-c", textwrap.dedent("""
        import sys
        import tensorgrad, tensorgrad.compat as compat
        compat.install()
        import torch, torch.nn.functional as F
        print(torch.nn.Linear is tensorgrad.nn.Linear, compat.is_installed())
        compat.uninstall()
        print(compat.is_installed(), any(k == "torch" or k.startswith("torch.") for k in sys.modules))
        import torch
        print(torch.__name__, hasattr(torch, "_C"))      # the real torch again
    """)])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "True", "False", "False", "torch", "True"]


def test_install_refuses_when_real_torch_is_loaded():
    assert "torch" in sys.modules and not compat.is_installed()
    with pytest.raises(RuntimeError, match="real torch is already imported"):
        compat.install()
    assert not compat.is_installed()


def test_importing_tensorgrad_leaves_torch_alone():
    r = _run(["-c", "import sys, tensorgrad, tensorgrad.compat; print('torch' in sys.modules)"])
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


def test_torchvision_resolves_to_tensorgrad_vision(tmp_path):
    out = _alias_stdout("""
        import tensorgrad, tensorgrad.vision
        import torch, torchvision
        from torchvision import datasets, transforms, models
        import torchvision.transforms.functional as TF
        from torchvision.utils import save_image
        from torchvision.models import resnet18
        from torchvision.datasets.mnist import MNIST
        pairs = [(transforms.ToTensor, tensorgrad.vision.transforms.ToTensor), (datasets.MNIST, MNIST),
                 (TF.resize, tensorgrad.vision.transforms.functional.resize), (resnet18, models.resnet18),
                 (save_image, tensorgrad.vision.utils.save_image), (torchvision.models.ResNet,
                                                                   tensorgrad.vision.models.ResNet)]
        print(all(a is b for a, b in pairs), torchvision.__name__, transforms.__name__)
        x = transforms.ToTensor()(__import__("numpy").zeros((2, 3, 1), "uint8"))
        print(isinstance(x, torch.Tensor), tuple(x.shape))
    """, tmp_path)
    assert out.split() == ["True", "torchvision", "torchvision.transforms", "True", "(1,", "2,", "3)"]


def test_missing_torchvision_features_are_named(tmp_path):
    out = _alias_stdout("""
        import torchvision
        for stmt in ["import torchvision.tv_tensors", "from torchvision.transforms import v2", "torchvision.ops.nms",
                     "from torchvision.datasets import ImageNet", "import torchvision.models.detection"]:
            try:
                exec(stmt)
                print("no error:", stmt)
            except (ImportError, AttributeError) as e:
                print(type(e).__name__, "|", e)
    """, tmp_path)
    lines = out.strip().splitlines()
    assert len(lines) == 5, out
    for line, what in zip(lines, ["torchvision.tv_tensors", "torchvision.transforms.v2", "torchvision.ops.nms",
                                  "torchvision.datasets.ImageNet", "torchvision.models.detection"]):
        kind, msg = line.split(" | ")
        assert kind in ("ModuleNotFoundError", "AttributeError", "ImportError"), line
        assert msg.startswith(what + ": a torchvision feature tensorgrad does not provide (this 'torchvision' is "
                                     "tensorgrad.vision"), line


def test_module_dict_lists_functions_and_classes(tmp_path):
    # pytorch/examples' imagenet: model_names = sorted(n for n in models.__dict__ if n.islower() and callable(...))
    out = _alias_stdout("""
        import torch, torch.nn as nn, torch.nn.functional as F
        names = sorted(n for n in nn.__dict__ if not n.startswith("_") and callable(nn.__dict__[n]))
        print("Linear" in names, "Conv2d" in names, "relu" in F.__dict__)
        orig = F.relu
        F.relu = lambda x: x * 0
        print(float(F.relu(torch.ones(1))), F.__dict__["relu"] is F.relu)
        F.relu = orig
        torch.backends.cudnn.benchmark = True
        print(torch.backends.cudnn.benchmark)
    """, tmp_path)
    assert out.split() == ["True", "True", "True", "0.0", "True", "True"], out


def test_torch_functional_module(tmp_path):
    # `import torch.functional as F` (introyt's modelsyt_tutorial): torch's module of that name, the same functions
    import torch.functional as TF
    out = _alias_stdout("""
        import tensorgrad
        import torch, torch.functional as F
        print(sorted(F.__all__))
        print(all(getattr(F, n) is getattr(tensorgrad, n) for n in F.__all__))
        a, b = F.meshgrid(torch.arange(2), torch.arange(3), indexing="ij")
        print(F.einsum("ij,ij->", a.float(), b.float()).item(), [t.shape[0] for t in F.split(torch.arange(5), 2)])
        """, tmp_path)
    lines = out.splitlines()
    assert lines[0] == str(sorted(TF.__all__))
    assert lines[1] == "True"
    a, b = TF.meshgrid(torch.arange(2), torch.arange(3), indexing="ij")
    assert lines[2] == f"{TF.einsum('ij,ij->', a.float(), b.float()).item()} {[t.shape[0] for t in TF.split(torch.arange(5), 2)]}"
