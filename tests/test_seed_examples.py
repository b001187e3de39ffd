"""The three worked examples of SEED_EXAMPLES.md: exact float64 values (to 1e-6) and the printed digits of the text."""
import math
import os
import subprocess
import sys

import pytest

from helpers import load_example

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _close(actual, expected, tol=1e-6):
    if isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            _close(a, e, tol)
    else:
        assert actual == pytest.approx(expected, abs=tol), (actual, expected)


# ------------------------------------------------------------------------------------------------ A
def test_a_exact_values():
    r = load_example("seed_a_221_sigmoid_net").run()
    # "Exact float64" line of SEED_EXAMPLES.md A
    _close(r["a"], [0.646799, 0.678088])
    _close(r["y_hat"], 0.762033)
    _close(r["L"], 0.028314)
    _close(r["delta_o"], -0.043153)
    _close(r["dL_dW1"], [-0.001972, -0.003549, -0.002119, -0.003815])
    _close(r["y_hat_after"], 0.765528)
    _close(r["L_after"], 0.027488)
    # the relations the text states between them
    _close(r["dL_dW2"], [r["delta_o"] * a for a in r["a"]], 1e-12)
    w2 = [0.40, 0.45]
    _close(r["delta_h"], [w * r["delta_o"] * a * (1 - a) for w, a in zip(w2, r["a"])], 1e-12)
    x = [0.50, 0.90]
    _close(r["dL_dW1"], [d * xi for d in r["delta_h"] for xi in x], 1e-12)


def test_a_printed_digits(capsys):
    load_example("seed_a_221_sigmoid_net").main()
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "a = [0.647, 0.678]",
        "y_hat = 0.762",
        "L = 0.028",
        "delta_o = -0.043",
        "dL/dW2 = [-0.028, -0.029]",
        "delta_h = [-0.004, -0.004]",
        "dL/dW1 = [-0.002, -0.004, -0.002, -0.004]",
        "after one SGD step (eta = 0.5): y_hat = 0.766, L = 0.027",
    ]


# ------------------------------------------------------------------------------------------------ B
def test_b_exact_values():
    r = load_example("seed_b_relu_sigmoid_chain").run()
    _close(r["z1"], 1.1, 1e-12)
    _close(r["h1"], 1.1, 1e-12)
    _close(r["z2"], 0.53, 1e-12)
    # "Exact float64 values" of SEED_EXAMPLES.md B
    _close(r["y"], 0.629483)
    _close(r["L"], 0.462856)
    _close(r["dL_dw2"], -0.407569)
    _close(r["dL_dw1"], -0.222310)
    _close(r["dL_db1"], -0.111155)
    # chain-rule identities, exactly
    y = r["y"]
    _close(r["dL_dy"], -1 / y, 1e-12)
    _close(r["dy_dz2"], y * (1 - y), 1e-12)
    _close(r["dL_dz2"], y - 1, 1e-12)
    _close(r["dL_db2"], r["dL_dz2"], 1e-12)
    _close(r["dL_dh1"], 0.3 * r["dL_dz2"], 1e-12)
    _close(r["dL_dz1"], r["dL_dh1"], 1e-12)  # relu passes (z1 > 0)


def test_b_printed_digits(capsys):
    load_example("seed_b_relu_sigmoid_chain").main()
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "z1 = 1.1, h1 = 1.1, z2 = 0.53, y = 0.629",
        # the text's L = 0.464 is -log(0.629), the rounded y; the exact loss is 0.462856
        "L = 0.464 (text: -log of the rounded y = 0.629); exact L = 0.462856",
        "dL/dy = -1.59, dy/dz2 = 0.233, dL/dz2 = -0.371",
        "dL/dw2 = -0.408, dL/db2 = -0.371, dL/dh1 = -0.111, dL/dz1 = -0.111",
        "dL/dw1 = -0.222, dL/db1 = -0.111",
    ]


# ------------------------------------------------------------------------------------------------ C
def test_c_exact_values():
    r = load_example("seed_c_movie_neuron").run()
    z = 8 * 0.7 + 3 * 0.3 - 2
    s = 1 / (1 + math.exp(-z))
    ds = s * (1 - s)
    _close(r["prediction"], 4.5, 1e-12)
    _close(r["sigma"], s, 1e-12)
    _close(r["sigma_prime"], ds, 1e-12)
    _close(r["L"], 0.5 * s * s, 1e-12)
    _close(r["dL_dw_action"], s * ds * 8, 1e-12)
    _close(r["w_action_after"], 0.7 - 0.1 * s * ds * 8, 1e-12)
    _close(r["w_comedy_after"], 0.3 - 0.1 * s * ds * 3, 1e-12)
    # the text's rounded numbers
    _close(r["sigma"], 0.989, 5e-4)
    _close(r["sigma_prime"], 0.0109, 5e-5)
    _close(r["dL_dw_action"], 0.086, 5e-4)
    _close(r["w_action_after"], 0.691, 5e-4)


def test_c_printed_digits(capsys):
    load_example("seed_c_movie_neuron").main()
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "prediction = 4.5",
        "sigma(4.5) = 0.989",
        "sigma'(4.5) = 0.0109",
        "dL/dw_action = 0.086",
        "w_action after one step (eta = 0.1) = 0.691",
    ]


def test_examples_run_as_scripts(tmp_path):
    # Each script runs as __main__ in a fresh interpreter started outside the repo with no PYTHONPATH
    # (one interpreter for the three, to keep the suite fast).
    code = "import runpy, sys\nfor p in sys.argv[1:]:\n    runpy.run_path(p, run_name='__main__')\n"
    paths = [os.path.join(ROOT, "examples", n + ".py")
             for n in ("seed_a_221_sigmoid_net", "seed_b_relu_sigmoid_chain", "seed_c_movie_neuron")]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, "-c", code, *paths], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for line in ("a = [0.647, 0.678]", "dL/dw1 = -0.222, dL/db1 = -0.111", "w_action after one step (eta = 0.1) = 0.691"):
        assert line in out
