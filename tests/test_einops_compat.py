"""einops on tensorgrad through the torch alias: einops finds its torch backend by `import torch` (einops/_backends.py
TorchBackend), registers its ops with torch._dynamo at import (_torch_specific.py) and subclasses torch.nn.Module
for its layers, so it runs unchanged on tensorgrad under tensorgrad.compat.

The same einops calls (tests/einops_cases.py) run once under the alias in a subprocess and once here on real torch
(the two cannot both be `torch` in one process); every output, gradient and parameter after the optimizer steps is
compared. Also: torch.compiler / torch._dynamo (tensorgrad/compiler), which einops and lucidrains-style models probe.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import tensorgrad as tg
import tensorgrad.compiler  # noqa: F401  (a submodule, imported on use as torch.compiler under the alias)

einops = pytest.importorskip("einops")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _run_alias(argv, tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run([sys.executable, "-m", "tensorgrad.compat", *argv], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=600)


@pytest.fixture(scope="module")
def alias_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("einops")
    out = tmp / "alias.npz"
    proc = _run_alias([os.path.join(HERE, "einops_cases.py"), str(out)], tmp)
    assert proc.returncode == 0, proc.stderr[-4000:]
    with np.load(out) as f:
        return {k: f[k] for k in f.files}


import einops_cases  # noqa: E402  (after the skip: it imports einops)


@pytest.mark.parametrize("name", sorted(einops_cases.CASES))
def test_einops_case_matches_torch(name, alias_results):
    ours = {k.split("/", 1)[1]: v for k, v in alias_results.items() if k.split("/", 1)[0] == name}
    theirs = einops_cases.CASES[name]()
    assert sorted(ours) == sorted(theirs)
    for key, expected in theirs.items():
        got = ours[key]
        assert got.shape == expected.shape and got.dtype == expected.dtype, (key, got.shape, expected.shape,
                                                                            got.dtype, expected.dtype)
        if expected.dtype.kind == "f":
            tol = 1e-10 if expected.dtype == np.float64 else 2e-5
            np.testing.assert_allclose(got, expected, rtol=tol * 10, atol=tol, err_msg=key)
        else:
            np.testing.assert_array_equal(got, expected, err_msg=key)


def test_compiler_markers_as_torch():
    def f(x):
        return x * 2

    for ours, theirs in [(tg.compiler, torch.compiler), (tg.compiler, torch._dynamo)]:
        assert ours.disable(f)(3) == theirs.disable(f)(3) == 6
        assert ours.disable(recursive=False)(f)(3) == theirs.disable(recursive=False)(f)(3) == 6
        assert ours.is_compiling() == theirs.is_compiling() is False
        assert ours.allow_in_graph(f)(4) == theirs.allow_in_graph(f)(4)
        ours.reset()
    assert tg.compiler.is_dynamo_compiling() == torch.compiler.is_dynamo_compiling()
    x = tg.ones(2, 3)
    tg.compiler.mark_dynamic(x, 0)
    assert x.shape == (2, 3)


def test_dynamo_config_defaults_as_torch():
    for name in [n for n in vars(tg.compiler.config) if not n.startswith("_")]:
        assert getattr(tg.compiler.config, name) == getattr(torch._dynamo.config, name), name


def test_compiler_and_dynamo_under_the_alias(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(
        "import torch\n"
        "import torch._dynamo\n"
        "import torch._dynamo.config\n"
        "from torch._dynamo import allow_in_graph\n"
        "import torch.compiler\n"
        "torch._dynamo.config.cache_size_limit = 64\n"
        "torch._dynamo.config.some_new_knob = True\n"
        "@torch.compiler.disable\n"
        "def f(x): return x + 1\n"
        "print(f(1), torch.compiler.is_compiling(), torch._dynamo.config.cache_size_limit, allow_in_graph(f)(2))\n"
        "print(torch._dynamo.no_such_function)\n")
    proc = _run_alias([str(script)], tmp_path)
    assert proc.stdout == "2 False 64 3\n", proc.stderr[-3000:]
    assert "torch._dynamo.no_such_function" in proc.stderr and "AttributeError" in proc.stderr


def test_torch_version_under_the_alias_is_the_oracles(tmp_path):
    # libraries gate on torch.__version__ (einx refuses < 2.2, einops / x-transformers pick paths by it): under the
    # alias it is the torch API tensorgrad follows, the oracle's, with tensorgrad's version as the local label
    from tensorgrad.compat import TORCH_VERSION
    assert TORCH_VERSION.split("+")[0] == torch.__version__.split("+")[0]
    script = tmp_path / "version.py"
    script.write_text("import torch, tensorgrad\nprint(torch.__version__, tensorgrad.__version__)\n")
    proc = _run_alias([str(script)], tmp_path)
    assert proc.stdout.split() == [TORCH_VERSION, tg.__version__], proc.stderr[-3000:]
    assert TORCH_VERSION.endswith("+tensorgrad" + tg.__version__)
