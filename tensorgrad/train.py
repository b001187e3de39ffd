"""The training loop of the main job as a library function: ``train(TrainConfig(...))``; the CLI calls it.

nanoGPT's loop on tensorgrad: AdamW (decay / no-decay groups), linear warmup then cosine decay to min_lr,
gradient accumulation, gradient clipping, periodic evaluation (model.eval() + no_grad over eval_iters
batches of each split), checkpoints and a loss-curve PNG in out_dir, a sample at the end.

Determinism and resume. The model init and dropout draw from tensorgrad's default generator (seeded with
``seed``); training batches from their own PCG64 generator (``seed``); evaluation batches from a fresh
generator seeded with ``seed + 1`` at every evaluation (the same batches each time: a less noisy curve, and
evaluation never shifts the training stream). A checkpoint holds weights, optimizer state, iteration, best
val loss, the loss history and both generator states, so ``resume=True`` continues with exactly the losses
an uninterrupted run would have produced.

Files in out_dir: ``ckpt.safetensors`` (weights + optimizer state; the JSON metadata inside its header),
``ckpt.json`` (the same metadata, readable), ``loss.png``.
"""
import math
import os
import sys
import time
from dataclasses import dataclass, asdict, field

import numpy as np

from .backend.host_memory import tune_malloc  # noqa: F401 - re-exported: benchmarks import it from here

CKPT_NAME = "ckpt.safetensors"


@dataclass
class TrainConfig:
    # model
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 64
    dropout: float = 0.0
    bias: bool = False  # nanoGPT's train.py trains without biases (its GPTConfig default is True)
    # activation checkpointing over the blocks (tensorgrad.planner): none | all | sqrt | every=K | blocks=I,J-K |
    # budget=XMB (planned before the first step to fit X MB). None: the planner's default policy ('none').
    checkpoint: str = None
    # optimization
    batch_size: int = 12
    gradient_accumulation_steps: int = 1
    max_iters: int = 2000
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    lr_decay_iters: int = None  # None: max_iters
    decay_lr: bool = True
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # 0: off
    # evaluation / logging / output
    eval_interval: int = 250
    eval_iters: int = 20
    log_interval: int = 100  # 0: no log lines (the progress bar still runs)
    out_dir: str = "out"
    sample_tokens: int = 300
    sample_temperature: float = 0.8
    sample_top_k: int = 200
    plot: bool = True
    progress: bool = None  # None: a live bar when stderr is a terminal, a line every 30 s otherwise
    # data / system
    data: str = None  # None: the embedded default corpus (tensorgrad.data.corpus)
    seed: int = 1337
    device: str = "cpu"
    dtype: str = "float32"  # float16: autocast (fp16 matmuls, fp32 master weights) + dynamic loss scaling
    threads: int = None  # CPU threads for BLAS + tensorgrad's kernels; None: auto (1 on a busy machine, else as is)
    resume: bool = False
    verbose: bool = True
    cuda_graph: bool = False  # capture the training step in a CUDA graph (tensorgrad.cuda.GraphedStep)

    def to_dict(self):
        return asdict(self)


MODEL_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "bias", "dropout")


def get_lr(it, cfg):
    """nanoGPT's schedule: linear warmup to lr, cosine decay to min_lr at lr_decay_iters, then min_lr."""
    from .optim.lr_scheduler import get_lr as _get_lr
    decay_iters = cfg.lr_decay_iters if cfg.lr_decay_iters is not None else cfg.max_iters
    return _get_lr(it, max_lr=cfg.lr, min_lr=cfg.min_lr, warmup_iters=cfg.warmup_iters, lr_decay_iters=decay_iters)


def _load_corpus(data):
    from .data import load_default_corpus, load_text, corpus_info
    if data is None:
        text = load_default_corpus()
        return text, corpus_info(text, "default")
    text = load_text(data)
    return text, corpus_info(text, os.path.abspath(data))


@dataclass
class TrainResult:
    model: object
    tokenizer: object
    iter_num: int
    best_val_loss: float
    train_losses: list = field(default_factory=list)  # (iter, loss) for every iteration run in this call
    evals: list = field(default_factory=list)  # (iter, train_loss, val_loss), all evaluations incl. resumed ones
    wall_time: float = 0.0
    sample: str = None
    out_dir: str = None


def estimate_loss(model, sampler_factory, eval_iters):
    """Mean loss over eval_iters batches of each split, model in eval mode, no graph recorded."""
    from .autograd.grad_mode import no_grad
    out = {}
    was_training = model.training
    model.eval()
    sampler = sampler_factory()
    with no_grad():
        for split in ("train", "val"):
            losses = [float(model(*sampler.get_batch(split))[1].item()) for _ in range(eval_iters)]
            out[split] = float(np.mean(losses))
    model.train(was_training)
    return out


def save_loss_plot(path, history, evals):
    import io as _io
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from .io import atomic_write_bytes
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    if history:
        it, l = np.array(history, dtype=np.float64).T
        ax.plot(it, l, color="tab:blue", alpha=0.25, lw=0.8, label="train (per iteration)")
        k = max(1, len(l) // 50)
        if k > 1:
            sm = np.convolve(l, np.ones(k) / k, mode="valid")
            ax.plot(it[k - 1:], sm, color="tab:blue", lw=1.2, label=f"train (moving mean of {k})")
    if evals:
        e = np.array(evals, dtype=np.float64)
        ax.plot(e[:, 0], e[:, 1], "o-", color="tab:green", ms=3, label="train (eval)")
        ax.plot(e[:, 0], e[:, 2], "o-", color="tab:red", ms=3, label="val (eval)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("cross-entropy loss (nats/char)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = _io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _checkpoint_meta(cfg, model_cfg, tokenizer, corpus, iter_num, best_val_loss, sampler, history, evals, scaler):
    import tensorgrad as tg
    return {"config": cfg.to_dict(), "model_config": model_cfg.to_dict(), "tokenizer": tokenizer.to_dict(),
            "corpus": corpus, "iter_num": iter_num, "best_val_loss": best_val_loss,
            "rng": {"data": sampler.get_state(), "tensorgrad": tg.get_rng_state()},
            "grad_scaler": scaler.state_dict(),
            "history": history, "evals": evals, "tensorgrad_version": tg.__version__}


TRAIN_META_KEYS = ("config", "model_config", "tokenizer", "corpus", "iter_num", "best_val_loss", "rng", "history",
                   "evals", "optimizer")


def _require_train_meta(path, meta, keys):
    """A tensorgrad checkpoint written by something other than train() (or tampered with) lacks keys that
    resume/sample need: a CheckpointError naming them, not a KeyError traceback."""
    from .io import CheckpointError
    missing = [k for k in keys if k not in meta]
    if missing:
        raise CheckpointError(f"{path}: a tensorgrad checkpoint, but not one written by `tensorgrad train`: "
                              f"its metadata lacks {', '.join(missing)}")


def load_model(path, device="cpu", dtype=None):
    """A GPT and its tokenizer from a checkpoint file (or an out_dir holding ckpt.safetensors)."""
    import tensorgrad as tg
    from .data import CharTokenizer
    from .io import load_checkpoint
    from .models import GPT, GPTConfig
    if os.path.isdir(path) or not path.endswith(".safetensors"):
        path = os.path.join(path, CKPT_NAME)
    state, _, meta = load_checkpoint(path)
    _require_train_meta(path, meta, ("model_config", "tokenizer"))
    mcfg = GPTConfig.from_dict(meta["model_config"])
    model = GPT(mcfg)
    model.load_state_dict({k: tg.tensor(v) for k, v in state.items()})
    if dtype is not None:
        model.to(dtype=getattr(tg, dtype))
    if device != "cpu":
        model.to(device)
    return model, CharTokenizer.from_dict(meta["tokenizer"]), meta


def _thread_pools():
    """(name, set_fn, get_fn) for the OpenBLAS and OpenMP runtimes loaded in this process."""
    import ctypes
    try:
        from .backend import cpu as _cpu  # noqa: F401  (loads tensorgrad._C, hence its OpenMP runtime)
    except ImportError:
        pass
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({ln.split()[-1] for ln in f if ".so" in ln})
    except OSError:
        libs = []
    pools = []
    for path in libs:
        name = os.path.basename(path)
        if "openblas" in name:
            lib = ctypes.CDLL(path)
            for pre in ("scipy_openblas", "openblas"):
                for suf in ("64_", ""):
                    fs, fg = getattr(lib, f"{pre}_set_num_threads{suf}", None), getattr(lib, f"{pre}_get_num_threads{suf}", None)
                    if fs is not None and fg is not None:
                        pools.append((name, fs, fg))
                        break
                else:
                    continue
                break
        elif name.startswith(("libgomp", "libomp", "libiomp")):
            lib = ctypes.CDLL(path)
            if hasattr(lib, "omp_set_num_threads"):
                pools.append((name, lib.omp_set_num_threads, lib.omp_get_max_threads))
    return pools


def set_num_threads(n):
    """Limit the CPU thread pools this process computes with to n threads: OpenBLAS (NumPy's GEMMs) and
    OpenMP (tensorgrad._C's kernels), and torch's if torch is already imported (benchmarks). Small-matrix
    training is very sensitive to oversubscription (two busy-waiting pools, or more threads than free cores):
    on a loaded 2-core machine 2 threads can make a step several times slower than 1. Best effort; returns
    the previous thread count (the largest over the pools), to restore it later."""
    import ctypes
    prev = 0
    for _, fset, fget in _thread_pools():
        prev = max(prev, int(fget()))
        fset(ctypes.c_int(int(n)))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(n))
    return prev or None


def _cpu_times():
    """(idle, total) jiffies of all cores from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return fields[3] + fields[4], sum(fields)   # idle + iowait; user..steal


def _free_cores(window=0.15):
    """How many cores other work leaves free right now (a float), measured over a short window from /proc/stat
    while this process waits; the 1-minute load average where /proc/stat is missing. The load average, used
    before, still counted a training run that had just finished: a second run started right after it was put
    on one thread (120 s instead of 79 s for the baby GPT)."""
    n = os.cpu_count() or 1
    a = _cpu_times()
    if a is not None:
        time.sleep(window)
        b = _cpu_times()
        if b is not None and b[1] > a[1]:
            return n * (b[0] - a[0]) / (b[1] - a[1])
    if hasattr(os, "getloadavg"):
        return max(0.0, n - os.getloadavg()[0])
    return float(n)


def _log(cfg, msg):
    if cfg.verbose:
        from tqdm import tqdm
        tqdm.write(msg, file=sys.stdout)


GRAPH_WARMUP = 2


def _graph_step(graphed, step, optimizer, sampler, done):
    """One --cuda-graph iteration: the first GRAPH_WARMUP run eagerly (they compile the kernels and create the
    optimizer and scaler state, as real steps on real batches), the next one captures the step, and from then on
    every iteration replays it. Returns (loss as a float, the GraphedStep or None)."""
    from .cuda import GraphedStep
    x, y = sampler.get_batch("train")
    if graphed is None and done >= GRAPH_WARMUP:
        graphed = GraphedStep(step, x, y, optimizers=[optimizer], warmup=0)
    loss = graphed(x, y) if graphed is not None else step(x, y)
    return float(loss.item()), graphed


def train(cfg=None, **overrides):
    """Train (or resume) a GPT as configured; returns a TrainResult."""
    import tensorgrad as tg
    from tqdm import tqdm
    from .data import CharTokenizer, BatchSampler, train_val_split
    from .io import load_checkpoint, save_checkpoint
    from .models import GPT, GPTConfig
    from .nn.utils import clip_grad_norm_
    from .amp import autocast, GradScaler

    cfg = TrainConfig(**{**(cfg.to_dict() if cfg is not None else {}), **overrides})
    if cfg.dtype == "bfloat16":
        raise ValueError("train: --dtype bfloat16 is not available: NumPy and CuPy arrays have no bfloat16 type; "
                         "use --dtype float16 (autocast + loss scaling) or float32")
    if cfg.dtype not in ("float32", "float64", "float16"):
        raise ValueError(f"train: --dtype must be float32, float16 or float64, got {cfg.dtype!r}")
    for name in ("max_iters", "batch_size", "block_size", "eval_iters", "gradient_accumulation_steps"):
        if getattr(cfg, name) < (0 if name == "max_iters" else 1):
            raise ValueError(f"train: {name} must be positive, got {getattr(cfg, name)}")
    if cfg.eval_interval < 1:
        raise ValueError(f"train: eval_interval must be >= 1, got {cfg.eval_interval}")
    if cfg.cuda_graph:
        problems = [why for bad, why in (
            (not str(cfg.device).startswith("cuda"), f"--device cuda (got {cfg.device})"),
            (cfg.dropout != 0, f"--dropout 0 (got {cfg.dropout}: a captured mask would repeat every step)"),
            (cfg.gradient_accumulation_steps != 1,
             f"--gradient-accumulation-steps 1 (got {cfg.gradient_accumulation_steps})")) if bad]
        if problems:
            raise ValueError("train: --cuda-graph needs " + " and ".join(problems))
    if cfg.threads:
        set_num_threads(cfg.threads)
    elif cfg.device == "cpu" and os.cpu_count() and os.cpu_count() > 1:
        # Other processes hold cores: more threads than free cores make the OpenMP pool wait on descheduled
        # threads and run many times slower (measured: 1.2 it/s vs 10 it/s for the baby GPT at load 5 on 2 cores).
        free = _free_cores()
        if round(free) < os.cpu_count():
            n = max(1, round(free))
            set_num_threads(n)
            _log(cfg, f"note: this machine is busy (other work is using {os.cpu_count() - free:.1f} of "
                      f"{os.cpu_count()} cores): computing with {n} thread(s); pass --threads N to override")
    tune_malloc()
    os.makedirs(cfg.out_dir, exist_ok=True)
    ckpt_path = os.path.join(cfg.out_dir, CKPT_NAME)
    t_start = time.time()

    ckpt = None
    if cfg.resume:
        state, opt_state, meta = load_checkpoint(ckpt_path)
        _require_train_meta(ckpt_path, meta, TRAIN_META_KEYS)
        ckpt = (state, opt_state, meta)
        saved = meta["config"]
        for k in MODEL_KEYS:  # the architecture comes from the checkpoint
            setattr(cfg, k, saved[k])
        if cfg.data is None and saved.get("data") is not None:
            cfg.data = saved["data"]

    text, corpus = _load_corpus(cfg.data)
    if ckpt is not None:
        tokenizer = CharTokenizer.from_dict(ckpt[2]["tokenizer"])
        if ckpt[2]["corpus"]["sha256"] != corpus["sha256"]:
            _log(cfg, "warning: the training text differs from the one this checkpoint was trained on")
    else:
        tokenizer = CharTokenizer.from_text(text)
    ids = tokenizer.encode(text)
    train_ids, val_ids = train_val_split(ids, 0.9)

    tg.manual_seed(cfg.seed)
    sampler = BatchSampler(train_ids, val_ids, cfg.block_size, cfg.batch_size, seed=cfg.seed, device=cfg.device)
    eval_sampler = lambda: BatchSampler(train_ids, val_ids, cfg.block_size, cfg.batch_size,  # noqa: E731
                                        seed=cfg.seed + 1, device=cfg.device)
    mcfg = GPTConfig(block_size=cfg.block_size, vocab_size=tokenizer.vocab_size, n_layer=cfg.n_layer,
                     n_head=cfg.n_head, n_embd=cfg.n_embd, dropout=cfg.dropout, bias=cfg.bias)
    model = GPT(mcfg)
    if cfg.dtype == "float64":
        model.double()
    if cfg.device != "cpu":
        model.to(cfg.device)
    optimizer = model.configure_optimizers(cfg.weight_decay, cfg.lr, (cfg.beta1, cfg.beta2), cfg.device,
                                           capturable=cfg.cuda_graph)
    # float16: parameters stay float32 (master weights); autocast runs matmuls/attention in fp16 with fp32
    # accumulation, and the scaler keeps small fp16 gradients from flushing to zero.
    half = cfg.dtype == "float16"
    scaler = GradScaler(enabled=half)

    def amp():
        return autocast(dtype=tg.float16, enabled=half)

    iter_num, best_val_loss, history, evals = 0, float("inf"), [], []
    if ckpt is not None:
        state, opt_state, meta = ckpt
        model.load_state_dict({k: tg.tensor(v, device=cfg.device) for k, v in state.items()})
        optimizer.load_state_dict(opt_state)
        iter_num, best_val_loss = meta["iter_num"], meta["best_val_loss"]
        history, evals = [tuple(h) for h in meta["history"]], [tuple(e) for e in meta["evals"]]
        sampler.set_state(meta["rng"]["data"])
        scaler.load_state_dict(meta.get("grad_scaler") or {})
        tg.set_rng_state(meta["rng"]["tensorgrad"])
        _log(cfg, f"resumed from {ckpt_path} at iter {iter_num} (best val loss {best_val_loss:.4f})")

    # Activation checkpointing, from outside the model: wrap its blocks before the first step. A budget is
    # planned on one batch of a fresh sampler (the training stream is not touched; the planner restores the RNG).
    from .planner import apply_checkpoint_policy

    def plan_loss(m, batch):
        with amp():
            return m(*batch)[1]
    policy = apply_checkpoint_policy(model.transformer.h, cfg.checkpoint, model=model,
                                     batch=eval_sampler().get_batch("train"), loss_fn=plan_loss)

    tokens_per_iter = cfg.gradient_accumulation_steps * cfg.batch_size * cfg.block_size
    _log(cfg, f"data: {corpus['source']} ({corpus['chars']:,} chars, vocab {tokenizer.vocab_size}); "
              f"model: {model.get_num_params() / 1e6:.2f}M params; tokens per iteration: {tokens_per_iter:,}")
    if policy != "none":
        _log(cfg, f"activation checkpointing: {policy} over {cfg.n_layer} blocks")
    if not str(cfg.device).startswith("cuda"):
        from .backend import blas
        try:
            from ._C import num_threads
            threads = f"{num_threads()} thread(s)"
        except ImportError:
            threads = "no compiled kernels"
        _log(cfg, f"cpu: {threads}; matmuls on {blas.backend().split(' (')[0]}")

    def save():
        meta = _checkpoint_meta(cfg, mcfg, tokenizer, corpus, iter_num, best_val_loss, sampler, history, evals, scaler)
        save_checkpoint(ckpt_path, model.state_dict(), optimizer.state_dict(), meta)
        if cfg.plot:
            save_loss_plot(os.path.join(cfg.out_dir, "loss.png"), history, evals)

    def evaluate():
        nonlocal best_val_loss
        with amp():
            losses = estimate_loss(model, eval_sampler, cfg.eval_iters)
        evals.append((iter_num, losses["train"], losses["val"]))
        best_val_loss = min(best_val_loss, losses["val"])
        _log(cfg, f"step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")

    if iter_num == 0 and cfg.max_iters > 0 and not evals:
        evaluate()

    progress = sys.stderr.isatty() if cfg.progress is None else cfg.progress
    bar = tqdm(total=cfg.max_iters, initial=iter_num, disable=not cfg.verbose, dynamic_ncols=True, unit="it",
               mininterval=0.25 if progress else 30.0, file=sys.stderr)
    gas = cfg.gradient_accumulation_steps
    new_losses = []

    def forward_backward(x, y):
        """One micro-batch: forward, the loss (divided by the micro-batch count when accumulating), scaled backward."""
        with amp():
            _, loss = model(x, y)
        if gas > 1:
            loss = loss / gas
        scaler.scale(loss).backward()
        return loss

    def update():
        if cfg.grad_clip:
            scaler.unscale_(optimizer)  # clip the true gradients
            clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)  # skipped when a gradient overflowed in fp16
        scaler.update()

    def graph_step(x, y):
        # The whole step in one function, so that --cuda-graph can capture it (it runs without accumulation).
        optimizer.zero_grad(set_to_none=True)
        loss = forward_backward(x, y)
        update()
        return loss
    graphed, graph_from = None, iter_num
    model.train()
    t0 = time.time()
    while iter_num < cfg.max_iters:
        lr = get_lr(iter_num, cfg) if cfg.decay_lr else cfg.lr
        for group in optimizer.param_groups:
            group["lr"] = lr
        if cfg.cuda_graph:
            loss_sum, graphed = _graph_step(graphed, graph_step, optimizer, sampler, iter_num - graph_from)
        else:
            loss_sum = 0.0
            for _ in range(gas):
                loss_sum += float(forward_backward(*sampler.get_batch("train")).item())
            update()
            optimizer.zero_grad(set_to_none=True)
        lossf = loss_sum  # with accumulation: the mean over the micro-batches
        history.append((iter_num, lossf))
        new_losses.append((iter_num, lossf))
        iter_num += 1
        t1 = time.time()
        dt, t0 = t1 - t0, t1
        bar.update(1)
        if iter_num % 10 == 0 or iter_num == cfg.max_iters:
            bar.set_postfix(loss=f"{lossf:.4f}", tok_s=f"{tokens_per_iter / max(dt, 1e-9):,.0f}", refresh=False)
        if cfg.log_interval and iter_num % cfg.log_interval == 0:
            _log(cfg, f"iter {iter_num}: loss {lossf:.4f}, time {dt * 1000:.2f}ms, "
                      f"{tokens_per_iter / max(dt, 1e-9):,.0f} tok/s, lr {lr:.2e}")
        if iter_num % cfg.eval_interval == 0 or iter_num == cfg.max_iters:
            evaluate()
            save()
            t0 = time.time()  # don't count eval + checkpoint time in the next iteration
    bar.close()
    if ckpt is None and cfg.max_iters == 0:
        save()

    sample = None
    if cfg.sample_tokens > 0:
        sample = generate_text(model, tokenizer, "\n", cfg.sample_tokens, cfg.sample_temperature,
                               cfg.sample_top_k, cfg.seed)
        _log(cfg, "---------- sample ----------\n" + sample + "\n----------------------------")
    wall = time.time() - t_start
    _log(cfg, f"done: {iter_num} iterations, best val loss {best_val_loss:.4f}, wall time {wall:.1f}s; "
              f"checkpoint {ckpt_path}")
    return TrainResult(model=model, tokenizer=tokenizer, iter_num=iter_num, best_val_loss=best_val_loss,
                       train_losses=new_losses, evals=evals, wall_time=wall, sample=sample, out_dir=cfg.out_dir)


def generate_text(model, tokenizer, start, num_tokens, temperature=0.8, top_k=200, seed=1337):
    """Decode num_tokens sampled tokens after start (start must use characters of the vocabulary; an
    empty start begins from the first vocabulary character). Uses its own generator seeded with seed."""
    import tensorgrad as tg
    if not start:
        start = "\n" if "\n" in tokenizer.stoi else tokenizer.itos[0]
    elif start == "\n" and "\n" not in tokenizer.stoi:
        start = tokenizer.itos[0]
    ids = tokenizer.encode(start)[None, :]
    was_training = model.training
    model.eval()
    gen = tg.Generator(seed=seed)
    out = model.generate(tg.tensor(ids), num_tokens, temperature=temperature,
                         top_k=top_k if top_k and top_k > 0 else None, generator=gen)
    model.train(was_training)
    return tokenizer.decode(out.array[0])
