"""Capturable AdamW / GradScaler (CPU and CUDA) and CUDA graph capture of whole training steps (CUDA only).

The CPU tests run everywhere: AdamW(capturable=True) keeps lr and the step count in device scalars and must
give exactly the updates of the ordinary AdamW, follow lr changes, skip on found_inf without advancing the
bias correction, and round-trip through state_dict. The GPU tests capture a small GPT's whole training step
(forward, backward, clip, AdamW, and in fp16 the GradScaler) and check that replaying it N times gives the
losses and weights of N eager steps.
"""
import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad.amp import GradScaler, autocast
from tensorgrad.models import GPT, GPTConfig
from tensorgrad.nn.utils import clip_grad_norm_
from tensorgrad.optim import Adam, AdamW

gpu = pytest.mark.skipif(not tg.cuda_available(), reason="needs CuPy and a CUDA GPU")


def _run_adam(cls, capturable, steps=6, found=()):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((7, 5)).astype(np.float32)
    b0 = rng.standard_normal(5).astype(np.float32)
    w, b = tg.tensor(w0, requires_grad=True), tg.tensor(b0, requires_grad=True)
    opt = cls([{"params": [w], "weight_decay": 0.1}, {"params": [b], "weight_decay": 0.0}], lr=1e-2,
              betas=(0.9, 0.95), capturable=capturable)
    grads = np.random.default_rng(1)
    for i in range(steps):
        w.grad = tg.tensor(grads.standard_normal(w0.shape).astype(np.float32))
        b.grad = tg.tensor(grads.standard_normal(b0.shape).astype(np.float32))
        for g in opt.param_groups:
            g["lr"] = 1e-2 / (i + 1)
        if i in found:
            if capturable:
                opt.step(found_inf=np.array(1.0, np.float32))
            continue
        opt.step(**({"found_inf": np.array(0.0, np.float32)} if capturable else {}))
    return w.array.copy(), b.array.copy(), opt


@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_capturable_adam_matches_plain(cls):
    for found in ((), (0, 3)):
        wp, bp, _ = _run_adam(cls, False, found=found)
        wc, bc, opt = _run_adam(cls, True, found=found)
        np.testing.assert_allclose(wc, wp, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(bc, bp, rtol=1e-6, atol=1e-7)
        # a skipped step does not count: the device step equals the number of real updates
        assert float(opt._step_dev[id(opt.param_groups[0])].array) == 6 - len(found)


def test_capturable_adamw_state_dict_round_trip():
    _, _, opt = _run_adam(AdamW, True, steps=3)
    sd = opt.state_dict()
    assert [int(round(float(np.asarray(s["step"].array)))) for s in sd["state"].values()] == [3, 3]
    w = tg.tensor(np.zeros((7, 5), np.float32), requires_grad=True)
    b = tg.tensor(np.zeros(5, np.float32), requires_grad=True)
    opt2 = AdamW([{"params": [w]}, {"params": [b]}], capturable=True)
    opt2.load_state_dict(sd)
    w.grad, b.grad = tg.zeros(7, 5), tg.zeros(5)
    opt2.step()
    assert float(opt2._step_dev[id(opt2.param_groups[0])].array) == 4


def test_capturable_rejects_amsgrad_and_found_inf_without_it():
    w = tg.tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.raises(ValueError, match="amsgrad"):
        AdamW([w], amsgrad=True, capturable=True)
    w.grad = tg.ones(3)
    with pytest.raises(TypeError, match="capturable"):
        AdamW([w]).step(found_inf=np.array(0.0, np.float32))


def test_graphed_step_needs_cuda_inputs_and_capturable_optimizer():
    x = tg.zeros(2, 3)
    with pytest.raises(TypeError, match="cuda Tensor"):
        tg.cuda.GraphedStep(lambda x: x, x)


# ------------------------------------------------------------------------------------------------ GPU
def _gpt(seed=0, dropout=0.0):
    tg.manual_seed(seed)
    cfg = GPTConfig(n_layer=2, n_head=2, n_embd=64, block_size=32, vocab_size=50, dropout=dropout)
    return GPT(cfg)


def _batches(n, B=4, T=32, V=50):
    rng = np.random.default_rng(3)
    return [(tg.tensor(rng.integers(0, V, (B, T)), device="cuda"), tg.tensor(rng.integers(0, V, (B, T)), device="cuda"))
            for _ in range(n)]


def _train(half, graph, n=10, inject_inf_at=None, dropout=0.0):
    model = _gpt(dropout=dropout)
    initial = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    model.to("cuda")
    opt = model.configure_optimizers(0.1, 3e-3, (0.9, 0.95), capturable=True)
    scaler = GradScaler(enabled=half, init_scale=2.0 ** 10, growth_interval=3)
    data = _batches(n)
    poison = tg.zeros(1, device="cuda")    # inf on the step we want to overflow: scales loss, so every grad

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        with autocast(dtype=tg.float16, enabled=half):
            _, loss = model(x, y)
        scaler.scale(loss * (poison.sum() + 1.0)).backward()
        scaler.unscale_(opt)
        clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        return loss

    losses, scales = [], []
    if graph:
        # warm-up steps are real steps too: run them on the first batches, then replay the rest
        warm = 2
        for x, y in data[:warm]:
            losses.append(float(step(x, y).item()))
            scales.append(scaler.get_scale())
        run = tg.cuda.GraphedStep(step, *data[warm], optimizers=[opt], warmup=0)
        rest = data[warm:]
    else:
        run, rest = step, data
        warm = 0
    for i, (x, y) in enumerate(rest, start=warm):
        opt.param_groups[0]["lr"] = opt.param_groups[1]["lr"] = 3e-3 * (1 - i / (2 * n))   # a schedule
        poison.array[...] = np.inf if i == inject_inf_at else 0.0
        losses.append(float(run(x, y).item()))
        scales.append(scaler.get_scale())
    weights = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return losses, scales, (initial, weights)


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("half", [False, True])
def test_graphed_training_step_matches_eager(half):
    le, se, we = _train(half, graph=False, inject_inf_at=5 if half else None)
    lg, sg, wg = _train(half, graph=True, inject_inf_at=5 if half else None)
    # Not bit-identical even in fp32: the attention backward (dq) and embedding backward add with float atomics,
    # whose order differs run to run, and Adam amplifies such last-bit differences in near-zero gradients.
    np.testing.assert_allclose(lg, le, rtol=2e-3)
    assert sg == se
    if half:
        assert se[5] == se[4] / 2, se                      # the overflow halved the scale...
        assert se[5 + 3] == se[5] * 2, se                  # ...and 3 clean steps doubled it again
    # Weights: Adam turns last-bit differences in near-zero gradient entries into +-lr steps, so compare the
    # difference with the size of the whole update instead of elementwise (a wrong lr, step count or a missed
    # update would make it O(1)).
    (w0, we), (_, wg) = we, wg
    for k in we:
        if k.endswith("attn.c_attn.bias"):
            # The key third of this bias has an exactly-zero gradient (softmax ignores a per-row constant), so
            # its "update" is Adam applied to rounding noise; compare the query and value thirds only.
            c = we[k].shape[0] // 3
            keep = np.r_[0:c, 2 * c:3 * c]
            we[k], wg[k], w0[k] = we[k][keep], wg[k][keep], w0[k][keep]
        update = np.linalg.norm(we[k] - w0[k])
        assert update > 0, k
        assert np.linalg.norm(wg[k] - we[k]) <= (0.1 if half else 0.05) * update, (k, np.linalg.norm(wg[k] - we[k]), update)


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("half", [False, True])
def test_graphed_step_with_dropout_matches_eager(half):
    """Dropout under capture (embedding dropout, attention dropout inside the fused kernel, bias + dropout + residual
    add): each replay reads (seed, offset) from the graph's device state, rewritten before every launch, so replay
    k draws the masks eager step k draws from the same generator state. Masks repeated across replays, or frozen
    at the capture's offsets, would make the losses drift from eager's from the first replay on."""
    le, _, we = _train(half, graph=False, dropout=0.2)
    lg, _, wg = _train(half, graph=True, dropout=0.2)
    np.testing.assert_allclose(lg, le, rtol=2e-3)
    assert len(set(np.round(lg, 6))) == len(lg)
    for k in we[1]:
        update = np.linalg.norm(we[1][k] - we[0][k])
        assert update > 0, k
        assert np.linalg.norm(wg[1][k] - we[1][k]) <= (0.1 if half else 0.05) * update, k


@gpu
@pytest.mark.gpu
def test_capture_draws_from_registered_generators_only():
    import cupy as cp
    from tensorgrad.nn import functional as F
    x = tg.ones(1000, device="cuda")
    gen = tg.Generator(device="cuda", seed=5)
    g = tg.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match="Generator the graph does not know.*register_generator_state"):
        with g.capture():
            F.dropout(x, 0.5, generator=gen)
    g = tg.cuda.CUDAGraph()
    g.register_generator_state(gen)
    with g.capture():
        y = F.dropout(x, 0.5, generator=gen)
        z = tg.randn(64, device="cuda")
    masks, normals = [], []
    for _ in range(3):
        g.replay()
        masks.append(cp.asnumpy(y.array).copy())
        normals.append(cp.asnumpy(z.array).copy())
    # fresh draws on every replay, equal to eager draws from the generators' state at that replay
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(normals[1], normals[2])
    eager_gen = tg.Generator(device="cuda", seed=5)
    for k in range(3):
        want = F.dropout(x, 0.5, generator=eager_gen)
        np.testing.assert_array_equal(masks[k], cp.asnumpy(want.array))


@gpu
@pytest.mark.gpu
def test_graphed_step_rejects_plain_optimizer():
    model = _gpt()
    model.to("cuda")
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.95))
    (x, y), = _batches(1)
    with pytest.raises(TypeError, match="capturable=True"):
        tg.cuda.GraphedStep(lambda x, y: model(x, y)[1], x, y, optimizers=[opt])


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_cublas_gemm_layouts_match_cupy(dtype):
    import cupy as cp
    from tensorgrad.backend import cublas
    rng = np.random.default_rng(0)
    for m, k, n in [(5, 7, 3), (1, 9, 4), (6, 1, 1), (64, 384, 1152), (3, 0, 2)]:
        a0 = rng.standard_normal((m, k)).astype(dtype)
        b0 = rng.standard_normal((k, n)).astype(dtype)
        want = a0.astype(np.float64) @ b0.astype(np.float64)
        for fa in (False, True):
            for fb in (False, True):
                a = cp.asarray(np.asfortranarray(a0) if fa else a0)
                b = cp.asarray(np.asfortranarray(b0) if fb else b0)
                got = cublas.gemm(a, b)
                assert got is not None and got.dtype == dtype and got.shape == (m, n)
                tol = 2e-2 if dtype == np.float16 else 1e-4 if dtype == np.float32 else 1e-10
                np.testing.assert_allclose(cp.asnumpy(got).astype(np.float64), want, rtol=tol, atol=tol * max(k, 1) ** 0.5)
    # not covered -> None (the caller falls back to cupy): batched, mixed dtypes, non-contiguous
    x = cp.ones((2, 3, 4), np.float32)
    assert cublas.gemm(x, cp.ones((4, 5), np.float32)) is None
    assert cublas.gemm(cp.ones((3, 4), np.float16), cp.ones((4, 5), np.float32)) is None
    assert cublas.gemm(cp.ones((3, 8), np.float32)[:, ::2], cp.ones((4, 5), np.float32)) is None


def test_train_cuda_graph_needs_cuda_no_accumulation():
    from tensorgrad.train import train
    with pytest.raises(ValueError, match=r"--cuda-graph needs --device cuda \(got cpu\) and --gradient-accumulation-steps 1 \(got 2\)$"):
        train(cuda_graph=True, device="cpu", dropout=0.1, gradient_accumulation_steps=2, max_iters=1, verbose=False)


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("dtype,dropout", [("float32", 0.0), ("float16", 0.0), ("float16", 0.2)])
def test_train_cuda_graph_matches_eager(tmp_path, dtype, dropout):
    from tensorgrad.train import train
    kw = dict(n_layer=2, n_head=2, n_embd=64, block_size=32, batch_size=8, max_iters=12, eval_interval=6,
              eval_iters=2, dropout=dropout, device="cuda", dtype=dtype, sample_tokens=0, plot=False, verbose=False,
              log_interval=0, warmup_iters=2)
    eager = train(out_dir=str(tmp_path / "eager"), **kw)
    graph = train(out_dir=str(tmp_path / "graph"), cuda_graph=True, **kw)
    le = [l for _, l in eager.train_losses]
    lg = [l for _, l in graph.train_losses]
    assert len(lg) == len(le) == 12
    np.testing.assert_allclose(lg, le, rtol=3e-3)            # lr schedule (warmup + decay) followed by the replays
    np.testing.assert_allclose([e[2] for e in graph.evals], [e[2] for e in eager.evals], rtol=3e-3)
