"""The swap-in corpus (issue 17): PyTorch programs written in the style of common public PyTorch code
(tests/torch_scripts/*.py), each run unchanged twice in subprocesses -- once with real torch, once under the
tensorgrad alias (`python -m tensorgrad.compat script.py args`) -- and their printed outputs compared.

Every program takes its weights and data from NumPy (or loads them), so both runs start from the same numbers
without relying on the two frameworks' RNG streams. The outputs must have the same structure: every piece of text
between numbers is identical, integers are identical, and each printed float agrees with the oracle's to rtol 1e-4
plus one unit in its last printed digit (float32 accumulation order differs between the frameworks; a rounding flip
in the last printed digit is not a mismatch)."""
import math
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "torch_scripts")
REPO = os.path.dirname(HERE)
RTOL = 1e-4

# script, args ("{tmp}" becomes a per-run scratch folder)
CORPUS = [
    ("char_rnn.py", ["--epochs", "3"]),
    ("char_rnn.py", ["--epochs", "2", "--cell", "GRU"]),
    ("cnn_dataloader.py", ["--epochs", "2"]),
    ("cnn_dataloader.py", ["--epochs", "2", "--optimizer", "sgd", "--lr", "0.05"]),
    ("gpt_resume.py", ["{tmp}", "--max-iters", "8", "--resume-at", "5"]),
    ("gpt_resume.py", ["{tmp}", "--max-iters", "6", "--resume-at", "3", "--flash", "0", "--compile", "1"]),
    ("vae.py", ["--epochs", "3"]),
    ("seq2seq_transformer.py", ["--steps", "20"]),
    ("device_format.py", ["--epochs", "3"]),
    ("makemore_mlp.py", ["--steps", "200"]),
    ("makemore_mlp.py", ["--steps", "100", "--batchnorm", "1"]),
    ("regression_modules.py", ["{tmp}", "--epochs", "8"]),
    ("gan_bn_cnn.py", ["--gan-steps", "20", "--cnn-epochs", "4"]),
    # (L-BFGS iterates part at 1e-4 after ~90 evaluations of a float64 fit: 3 steps, 68 evaluations, agree)
    ("upscale_lbfgs.py", ["--sr-steps", "30", "--lbfgs-steps", "3"]),
    ("text_classify.py", []),
    ("distributions_fit.py", ["--steps", "80"]),
    ("custom_function.py", ["--steps", "12"]),
    ("gcn_sparse.py", ["--epochs", "30"]),
    # torchvision under the alias (tensorgrad.vision) against the same computation in plain torch (real torchvision
    # cannot be imported beside this torch: the program falls back to plain torch code there)
    ("vision_transforms.py", ["--steps", "6"]),
    # torch.save(model) / torch.load(weights_only=False) of whole modules, as word_language_model and super_resolution
    ("whole_model_checkpoint.py", ["{tmp}", "--epochs", "3"]),
    # llama2.c's train.py shape: uint16 memmap shards, RMSNorm, rotary, grouped-query heads, tied weights, exports
    ("llama_pretok.py", ["{tmp}", "--iters", "12"]),
    ("llama_pretok.py", ["{tmp}", "--iters", "5", "--accum", "1", "--kv-heads", "4", "--flash", "0"]),
]

_NUM = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])|(?<![\w])[-+]?(?:nan|inf)(?![\w])")


def _split(text):
    """(texts, numbers): the text between numeric tokens, and the numeric tokens (as printed)."""
    return _NUM.split(text), _NUM.findall(text)


def _ulp(token):
    """One unit in the last printed digit of a float token, or None for an integer token (compared exactly)."""
    m = re.fullmatch(r"[-+]?(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?", token)
    if m is None or (m.group(2) is None and m.group(3) is None):
        return None
    decimals = len(m.group(2) or "")
    return 10.0 ** (-decimals + int(m.group(3) or 0))


# Known differences in how values print, each a finding (issue 17) that tensorgrad has not closed yet, as (pattern,
# replacement) pairs: the torch side is rewritten to tensorgrad's spelling before comparing, so that the numbers around
# it are still checked. None is left that the corpus programs print (Tensor.shape is a Size that prints as torch.Size
# under the alias; grad_fn names carry torch's overload index, MulBackward0). Still different, and kept out of the
# programs' printed output: dtypes print as NumPy's (float32, torch: torch.float32);
# test_known_print_differences_persist fails (XPASS, strict) once tensorgrad prints those as torch does.
KNOWN_PRINT_DIFFERENCES = []


def _known(text):
    for pattern, repl in KNOWN_PRINT_DIFFERENCES:
        text = pattern.sub(repl, text)
    return text


def compare_outputs(real, alias):
    """A list of mismatch descriptions (empty when the alias run printed what real torch printed, up to the known
    print differences above)."""
    real = _known(real)
    problems = []
    rl, al = real.splitlines(), alias.splitlines()
    if len(rl) != len(al):
        problems.append(f"{len(rl)} lines under torch, {len(al)} under the alias")
    for n, (r, a) in enumerate(zip(rl, al), 1):
        rt, rn = _split(r)
        at, an = _split(a)
        if rt != at or len(rn) != len(an):
            problems.append(f"line {n}: structure differs\n  torch: {r}\n  alias: {a}")
            continue
        for x, y in zip(rn, an):
            ulp = _ulp(x)
            if ulp is None or _ulp(y) is None:
                ok = x == y
            else:
                fx, fy = float(x), float(y)
                ok = (math.isnan(fx) and math.isnan(fy)) or fx == fy or \
                    abs(fx - fy) <= 1.01 * max(ulp, _ulp(y)) + RTOL * abs(fx)
            if not ok:
                problems.append(f"line {n}: {x} (torch) vs {y} (alias)\n  torch: {r}\n  alias: {a}")
    return problems


def _env():
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _start(argv, cwd):
    return subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd, env=_env())


def run_both(script, args, tmp_path):
    """Run the script with real torch and under the alias (concurrently); return (real, alias) as
    (returncode, stdout, stderr) triples."""
    path = os.path.join(SCRIPTS, script)
    runs = {}
    for kind in ("torch", "alias"):
        scratch = tmp_path / kind
        scratch.mkdir()
        argv = [a.replace("{tmp}", str(scratch)) for a in args]
        prefix = [] if kind == "torch" else ["-m", "tensorgrad.compat"]
        runs[kind] = _start(prefix + [path, *argv], cwd=str(scratch))
    out = {}
    for kind, p in runs.items():
        try:
            stdout, stderr = p.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            p.kill()
            stdout, stderr = p.communicate()
        out[kind] = (p.returncode, stdout, stderr)
    return out["torch"], out["alias"]


@pytest.mark.parametrize("script,args", CORPUS, ids=[f"{s[:-3]}{'-' + '_'.join(x for x in a if x != '{tmp}') if a else ''}" for s, a in CORPUS])
def test_program_prints_what_torch_prints(script, args, tmp_path):
    (rc_r, out_r, err_r), (rc_a, out_a, err_a) = run_both(script, args, tmp_path)
    assert rc_r == 0, f"real torch run failed:\n{err_r}"
    assert rc_a == 0, f"alias run failed:\n{err_a[-4000:]}"
    assert out_r.strip(), "the program printed nothing"
    problems = compare_outputs(out_r, out_a)
    assert not problems, "\n".join(problems[:20])


def test_compare_outputs_tolerance():
    assert compare_outputs("loss 3.04147 norm 0.864056\n", "loss 3.04147 norm 0.864057\n") == []
    assert compare_outputs("loss 2.9973\n", "loss 2.9974\n") == []          # last printed digit
    assert compare_outputs("loss 1.2345e-05\n", "loss 1.2346e-05\n") == []
    assert compare_outputs("acc 0.51\n", "acc 0.53\n")                       # two units: mismatch
    assert compare_outputs("step 8 loss 1.0\n", "step 9 loss 1.0\n")          # integers exact
    assert compare_outputs("loss 3.0414\n", "loss 3.1414\n")
    assert compare_outputs("sample 'abc'\n", "sample 'abd'\n")                 # text exact
    assert compare_outputs("a\nb\n", "a\n")                                    # line count
    assert compare_outputs("x [1.5, 2.25]\n", "x [1.5, 2.25]\n") == []
    assert compare_outputs("params ['rnn.weight_ih_l0']\n", "params ['rnn.weight_hh_l0']\n")
    assert compare_outputs("s torch.Size([3, 64]) torch.Size([])\n", "s torch.Size([3, 64]) torch.Size([])\n") == []
    assert compare_outputs("s torch.Size([3, 64])\n", "s (3, 64)\n")        # a plain tuple is a mismatch


@pytest.mark.xfail(strict=True, reason="known print difference: dtype repr without 'torch.'")
def test_known_print_differences_persist(tmp_path):
    (rc_r, out_r, err_r), (rc_a, out_a, err_a) = run_both("print_reprs.py", [], tmp_path)
    assert rc_r == 0 and rc_a == 0, err_r + err_a
    assert out_a == out_r
