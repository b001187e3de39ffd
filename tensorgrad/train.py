"""The training loop of the main job as a library function: ``train(TrainConfig(...))``; the CLI calls it.

nanoGPT's loop on tensorgrad: AdamW (decay / no-decay groups), linear warmup then cosine decay to min_lr,
gradient accumulation, gradient clipping, periodic evaluation (model.eval() + no_grad over eval_iters
batches of each split), checkpoints and a loss-curve PNG in out_dir, a sample at the end.

In three parts: ``setup(cfg)`` builds a Run (host threads, data, model, optimizer, a resumed state, the
activation-checkpointing policy applied to the model's blocks), ``train_step(run)`` advances it one iteration,
``evaluate(run)`` measures it; ``train()`` loops over them with a progress bar, saves and samples. Host set-up
(threads, malloc, free cores) lives in tensorgrad.backend.host.

Determinism and resume. The model init and dropout draw from tensorgrad's default generator (seeded with
``seed``); training batches from their own PCG64 generator (``seed``); evaluation batches from a fresh
generator seeded with ``seed + 1`` at every evaluation (the same batches each time: a less noisy curve, and
evaluation never shifts the training stream). A checkpoint holds weights, optimizer state, iteration, best
val loss, the loss history and both generator states, so ``resume=True`` continues with exactly the losses
an uninterrupted run would have produced.

Data parallel (``mpiexec -n N tensorgrad train`` or ``tensorgrad train --nproc N``): as nanoGPT's train.py, every
rank builds the same model (seed), draws its own training batches (seed + rank) and dropout (seed + rank), and
trains a DistributedDataParallel wrapper of it; gradient_accumulation_steps counts micro-batches of the whole job
and is divided among the ranks (when it is at least N; it must then be a multiple of N); rank 0 alone logs,
evaluates, checkpoints (with every rank's generator states, so --resume continues each rank's stream) and plots.

Files in out_dir: ``ckpt.safetensors`` (weights + optimizer state; the JSON metadata inside its header),
``ckpt.json`` (the same metadata, readable), ``loss.png``.
"""
import io as _io
import os
import sys
import time
from dataclasses import dataclass, asdict, field

import numpy as np
from tqdm import tqdm

from ._version import __version__
from . import dtypes
from . import distributed as dist
from .distributed.launch_env import launch_env
from .amp import autocast, GradScaler
from .autograd.grad_mode import no_grad
from .backend import blas, host
from .backend.host import set_num_threads, tune_malloc  # noqa: F401 - re-exported: benchmarks and tests use them
from .cuda import GraphedStep
from .data import BatchSampler, CharTokenizer, corpus_info, load_default_corpus, load_text, train_val_split
from .io import CheckpointError, atomic_write_bytes, load_checkpoint, save_checkpoint
from .models.gpt import GPT, GPTConfig
from .nn.parallel import DistributedDataParallel
from .nn.utils import clip_grad_norm_
from .optim.lr_scheduler import get_lr as _get_lr
from .planner import apply_checkpoint_policy
from .random import Generator, get_rng_state, manual_seed, set_rng_state
from .tensor import tensor

CKPT_NAME = "ckpt.safetensors"
GRAPH_WARMUP = 2  # --cuda-graph: eager iterations before the capture


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
TRAIN_META_KEYS = ("config", "model_config", "tokenizer", "corpus", "iter_num", "best_val_loss", "rng", "history",
                   "evals", "optimizer")


def get_lr(it, cfg):
    """nanoGPT's schedule: linear warmup to lr, cosine decay to min_lr at lr_decay_iters, then min_lr."""
    decay_iters = cfg.lr_decay_iters if cfg.lr_decay_iters is not None else cfg.max_iters
    return _get_lr(it, max_lr=cfg.lr, min_lr=cfg.min_lr, warmup_iters=cfg.warmup_iters, lr_decay_iters=decay_iters)


def _load_corpus(data):
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
    import matplotlib  # heavy, and only for this plot
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
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


def _require_train_meta(path, meta, keys):
    """A tensorgrad checkpoint written by something other than train() (or tampered with) lacks keys that
    resume/sample need: a CheckpointError naming them, not a KeyError traceback."""
    missing = [k for k in keys if k not in meta]
    if missing:
        raise CheckpointError(f"{path}: a tensorgrad checkpoint, but not one written by `tensorgrad train`: "
                              f"its metadata lacks {', '.join(missing)}")


def load_model(path, device="cpu", dtype=None):
    """A GPT and its tokenizer from a checkpoint file (or an out_dir holding ckpt.safetensors)."""
    if os.path.isdir(path) or not path.endswith(".safetensors"):
        path = os.path.join(path, CKPT_NAME)
    state, _, meta = load_checkpoint(path)
    _require_train_meta(path, meta, ("model_config", "tokenizer"))
    mcfg = GPTConfig.from_dict(meta["model_config"])
    model = GPT(mcfg)
    model.load_state_dict({k: tensor(v) for k, v in state.items()})
    if dtype is not None:
        model.to(dtype=getattr(dtypes, dtype))
    if device != "cpu":
        model.to(device)
    return model, CharTokenizer.from_dict(meta["tokenizer"]), meta


def _log(cfg, msg):
    if cfg.verbose:
        tqdm.write(msg, file=sys.stdout)


# ------------------------------------------------------------------------------------------------ set-up
@dataclass
class Run:
    """A training run between steps: built by setup(), advanced by train_step(), measured by evaluate()."""
    cfg: TrainConfig
    model: GPT
    optimizer: object
    scaler: GradScaler
    tokenizer: CharTokenizer
    corpus: dict
    sampler: BatchSampler           # training batches (its generator state is checkpointed)
    train_ids: np.ndarray
    val_ids: np.ndarray
    ckpt_path: str
    resumed: bool = False
    checkpoint_policy: str = "none"  # the activation-checkpointing policy applied (a budget: its plan)
    iter_num: int = 0
    best_val_loss: float = float("inf")
    history: list = field(default_factory=list)  # (iter, loss) of every iteration, resumed ones included
    evals: list = field(default_factory=list)    # (iter, train_loss, val_loss)
    graphed: object = None          # --cuda-graph: the captured step, once captured
    graph_from: int = 0             # --cuda-graph: the iteration this process started at
    rank: int = 0                   # data parallel: this process's rank of world_size
    world_size: int = 1
    ddp: object = None              # data parallel: the DistributedDataParallel wrapper trained (model is inside)
    owns_group: bool = False        # train() started the process group, and ends it

    @property
    def tokens_per_iter(self):
        return self.cfg.gradient_accumulation_steps * self.cfg.batch_size * self.cfg.block_size * self.world_size

    def autocast(self):
        """float16 / bfloat16: autocast runs matmuls/attention in half precision with fp32 accumulation (parameters
        stay float32); bfloat16 with PyTorch's CPU policy on the CPU (MKL's bf16 GEMM)."""
        half = self.cfg.dtype in ("float16", "bfloat16")
        return autocast(self.cfg.device.split(":")[0], dtype=getattr(dtypes, self.cfg.dtype if half else "float16"),
                        enabled=half)

    def eval_sampler(self):
        """A fresh sampler seeded with seed + 1: the same evaluation batches every time, off the training stream."""
        c = self.cfg
        return BatchSampler(self.train_ids, self.val_ids, c.block_size, c.batch_size, seed=c.seed + 1, device=c.device)


def check_config(cfg):
    """ValueError naming the first setting train() cannot run with."""
    if cfg.dtype not in ("float32", "float64", "float16", "bfloat16"):
        raise ValueError(f"train: --dtype must be float32, float16, bfloat16 or float64, got {cfg.dtype!r}")
    for name in ("max_iters", "batch_size", "block_size", "eval_iters", "gradient_accumulation_steps"):
        if getattr(cfg, name) < (0 if name == "max_iters" else 1):
            raise ValueError(f"train: {name} must be positive, got {getattr(cfg, name)}")
    if cfg.eval_interval < 1:
        raise ValueError(f"train: eval_interval must be >= 1, got {cfg.eval_interval}")
    if cfg.cuda_graph:
        problems = [why for bad, why in (
            (not str(cfg.device).startswith("cuda"), f"--device cuda (got {cfg.device})"),
            (cfg.gradient_accumulation_steps != 1,
             f"--gradient-accumulation-steps 1 (got {cfg.gradient_accumulation_steps})")) if bad]
        if problems:
            raise ValueError("train: --cuda-graph needs " + " and ".join(problems))


def _setup_host(cfg):
    """Threads (as asked, else fewer on a busy machine: backend.host.auto_threads) and glibc malloc."""
    if cfg.threads or cfg.device == "cpu":
        n, free = host.auto_threads(cfg.threads)
        if n is not None and free is not None:
            ncpu = os.cpu_count()
            _log(cfg, f"note: this machine is busy (other work is using {ncpu - free:.1f} of {ncpu} cores): "
                      f"computing with {n} thread(s); pass --threads N to override")
    if cfg.dtype == "bfloat16" and str(cfg.device).startswith("cpu") and not blas.bf16_hardware():
        how = ("as float32 GEMMs of the bf16 values" if blas.bf16_gemm_path() == "upcast"
               else "through MKL's emulation (TENSORGRAD_BF16_GEMM=mkl)")
        _log(cfg, f"note: this CPU has no bfloat16 instructions (AVX512-BF16/AMX): bf16 GEMMs run {how}; "
                  "expect float32's speed or slower, not bf16's")
    tune_malloc()


def _setup_distributed(cfg):
    """(rank, world_size, started): joins the job when mpiexec started several processes (the process group is
    started here unless the caller did), and adapts cfg per rank: only rank 0 is verbose, the micro-batches are
    divided among the ranks, CPU threads divided among the ranks of a machine, one GPU per rank."""
    env = launch_env()
    started = False
    if env.world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if str(cfg.device).startswith("cuda") else "mpi")
        started = True
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return 0, 1, started
    rank, world = dist.get_rank(), dist.get_world_size()
    cfg.verbose = cfg.verbose and rank == 0
    gas = cfg.gradient_accumulation_steps
    if gas >= world:
        if gas % world:
            raise ValueError(f"train: --gradient-accumulation-steps ({gas}, micro-batches per iteration over the whole "
                             f"job, as nanoGPT) must be a multiple of the number of processes ({world})")
        cfg.gradient_accumulation_steps = gas // world
    if cfg.threads is None and not str(cfg.device).startswith("cuda"):
        cfg.threads = max(1, (os.cpu_count() or 1) // max(1, env.local_world_size))
    if cfg.device == "cuda":
        cfg.device = f"cuda:{env.local_rank}"
    return rank, world, started


def setup(cfg=None, **overrides):
    """A Run ready for its first (or, with resume=True, next) step: config checked, host set up, data and
    tokenizer, the seeded model and its optimizer (state restored from out_dir when resuming), and the
    activation-checkpointing policy applied to the model's blocks."""
    cfg = TrainConfig(**{**(cfg.to_dict() if cfg is not None else {}), **overrides})
    check_config(cfg)
    rank, world, started = _setup_distributed(cfg)
    _setup_host(cfg)
    os.makedirs(cfg.out_dir, exist_ok=True)
    ckpt_path = os.path.join(cfg.out_dir, CKPT_NAME)

    ckpt = None
    if cfg.resume:
        ckpt = load_checkpoint(ckpt_path)
        _require_train_meta(ckpt_path, ckpt[2], TRAIN_META_KEYS)
        saved = ckpt[2]["config"]
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
    train_ids, val_ids = train_val_split(tokenizer.encode(text), 0.9)

    manual_seed(cfg.seed)
    sampler = BatchSampler(train_ids, val_ids, cfg.block_size, cfg.batch_size, seed=cfg.seed + rank, device=cfg.device)
    model = GPT(GPTConfig(block_size=cfg.block_size, vocab_size=tokenizer.vocab_size, n_layer=cfg.n_layer,
                          n_head=cfg.n_head, n_embd=cfg.n_embd, dropout=cfg.dropout, bias=cfg.bias))
    if cfg.dtype == "float64":
        model.double()
    if cfg.device != "cpu":
        model.to(cfg.device)
    optimizer = model.configure_optimizers(cfg.weight_decay, cfg.lr, (cfg.beta1, cfg.beta2), cfg.device,
                                           capturable=cfg.cuda_graph)
    # float16: the scaler keeps small fp16 gradients from flushing to zero (bfloat16 has float32's range: none).
    scaler = GradScaler(enabled=cfg.dtype == "float16")
    run = Run(cfg, model, optimizer, scaler, tokenizer, corpus, sampler, train_ids, val_ids, ckpt_path, rank=rank,
              world_size=world, owns_group=started)
    if rank > 0:
        manual_seed(cfg.seed + rank)  # dropout of its own; the model init above is the same on every rank

    if ckpt is not None:
        state, opt_state, meta = ckpt
        model.load_state_dict({k: tensor(v, device=cfg.device) for k, v in state.items()})
        optimizer.load_state_dict(opt_state)
        run.resumed, run.iter_num, run.best_val_loss = True, meta["iter_num"], meta["best_val_loss"]
        run.history, run.evals = [tuple(h) for h in meta["history"]], [tuple(e) for e in meta["evals"]]
        run.graph_from = run.iter_num
        ranks = meta["rng"].get("ranks") or [meta["rng"]]
        if len(ranks) == world:
            sampler.set_state(ranks[rank]["data"])
            set_rng_state(ranks[rank]["tensorgrad"])
        else:
            _log(cfg, f"warning: the checkpoint was written by {len(ranks)} process(es), this run has {world}: the "
                      f"training batches restart from seed + rank")
        scaler.load_state_dict(meta.get("grad_scaler") or {})
        _log(cfg, f"resumed from {ckpt_path} at iter {run.iter_num} (best val loss {run.best_val_loss:.4f})")

    _log(cfg, f"data: {corpus['source']} ({corpus['chars']:,} chars, vocab {tokenizer.vocab_size}); "
              f"model: {model.get_num_params() / 1e6:.2f}M params; tokens per iteration: {run.tokens_per_iter:,}")
    if not str(cfg.device).startswith("cuda"):
        threads = host.kernel_threads()
        threads = "no compiled kernels" if threads is None else f"{threads} thread(s)"
        _log(cfg, f"cpu: {threads}; matmuls on {blas.backend().split(' (')[0]}")

    # Activation checkpointing, from outside the model: wrap its blocks before the first step. A budget is
    # planned on one batch of a fresh sampler (the training stream is not touched; the planner restores the RNG).
    run.checkpoint_policy = apply_checkpoint_policy(model.transformer.h, cfg.checkpoint, model=model,
                                                    batch=run.eval_sampler().get_batch("train"),
                                                    loss_fn=lambda m, batch: _loss(run, *batch))
    if run.checkpoint_policy != "none":
        _log(cfg, f"activation checkpointing: {run.checkpoint_policy} over {cfg.n_layer} blocks")
    if world > 1:
        run.ddp = DistributedDataParallel(model, device_ids=[cfg.device] if cfg.device != "cpu" else None)
        _log(cfg, f"data parallel: {world} processes ({dist.get_backend()}), {cfg.gradient_accumulation_steps} "
                  f"micro-batch(es) of {cfg.batch_size} per process per iteration")
    return run


# ------------------------------------------------------------------------------------------------ step
def _loss(run, x, y):
    with run.autocast():
        _, loss = (run.ddp or run.model)(x, y)
    return loss


def _forward_backward(run, x, y):
    """One micro-batch: forward, the loss (divided by the micro-batch count when accumulating), scaled backward."""
    loss = _loss(run, x, y)
    gas = run.cfg.gradient_accumulation_steps
    if gas > 1:
        loss = loss / gas
    run.scaler.scale(loss).backward()
    return loss


def _update(run):
    if run.cfg.grad_clip:
        run.scaler.unscale_(run.optimizer)  # clip the true gradients
        clip_grad_norm_(run.model.parameters(), run.cfg.grad_clip)
    run.scaler.step(run.optimizer)  # skipped when a gradient overflowed in fp16
    run.scaler.update()


def _whole_step(run, x, y):
    """The whole step in one function, so that --cuda-graph can capture it (it runs without accumulation)."""
    run.optimizer.zero_grad(set_to_none=True)
    loss = _forward_backward(run, x, y)
    _update(run)
    return loss


def _graph_step(run):
    """One --cuda-graph iteration: the first GRAPH_WARMUP run eagerly (they compile the kernels and create the
    optimizer and scaler state, as real steps on real batches), the next one captures the step, and from then on
    every iteration replays it. Returns the loss as a float."""
    x, y = run.sampler.get_batch("train")
    if run.graphed is None and run.iter_num - run.graph_from >= GRAPH_WARMUP:
        run.graphed = GraphedStep(lambda a, b: _whole_step(run, a, b), x, y, optimizers=[run.optimizer], warmup=0)
    loss = run.graphed(x, y) if run.graphed is not None else _whole_step(run, x, y)
    return float(loss.item())


def train_step(run):
    """One training iteration (learning rate, micro-batches, clipping, optimizer step); appends (iter, loss) to
    run.history and advances run.iter_num. Returns (loss, lr): the loss is the mean over the micro-batches."""
    cfg = run.cfg
    lr = get_lr(run.iter_num, cfg) if cfg.decay_lr else cfg.lr
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    if cfg.cuda_graph:
        loss = _graph_step(run)
    else:
        loss = 0.0
        for micro in range(cfg.gradient_accumulation_steps):
            if run.ddp is not None:  # gradients are averaged over the ranks at the last micro-batch only
                run.ddp.require_backward_grad_sync = micro == cfg.gradient_accumulation_steps - 1
            loss += float(_forward_backward(run, *run.sampler.get_batch("train")).item())
        if run.world_size > 1:  # the loss of the whole job's batch
            total = tensor(np.array([loss]))
            dist.all_reduce(total, op=dist.ReduceOp.AVG)
            loss = float(total.array[0])
        _update(run)
        run.optimizer.zero_grad(set_to_none=True)
    run.history.append((run.iter_num, loss))
    run.iter_num += 1
    return loss, lr


def evaluate(run):
    """Mean train and val loss over eval_iters batches of the evaluation sampler; recorded in run.evals and
    run.best_val_loss, and logged. Returns {'train': ..., 'val': ...}."""
    with run.autocast():
        losses = estimate_loss(run.model, run.eval_sampler, run.cfg.eval_iters)
    run.evals.append((run.iter_num, losses["train"], losses["val"]))
    run.best_val_loss = min(run.best_val_loss, losses["val"])
    _log(run.cfg, f"step {run.iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
    return losses


def save(run):
    """ckpt.safetensors (+ ckpt.json) in out_dir, and loss.png unless plot=False. Data parallel: every rank calls it
    (its generator states are gathered), rank 0 alone writes."""
    cfg = run.cfg
    ranks = None
    if run.world_size > 1:
        dist.barrier()  # politely, while rank 0 evaluates
        ranks = [None] * run.world_size
        dist.all_gather_object(ranks, {"data": run.sampler.get_state(), "tensorgrad": get_rng_state()})
        if run.rank != 0:
            return
    meta = {"config": cfg.to_dict(), "model_config": run.model.config.to_dict(), "tokenizer": run.tokenizer.to_dict(),
            "corpus": run.corpus, "iter_num": run.iter_num, "best_val_loss": run.best_val_loss,
            "rng": {"data": run.sampler.get_state(), "tensorgrad": get_rng_state(),
                    **({"ranks": ranks} if ranks else {})},
            "grad_scaler": run.scaler.state_dict(),
            "history": run.history, "evals": run.evals, "tensorgrad_version": __version__}
    save_checkpoint(run.ckpt_path, run.model.state_dict(), run.optimizer.state_dict(), meta)
    if cfg.plot:
        save_loss_plot(os.path.join(cfg.out_dir, "loss.png"), run.history, run.evals)


# ------------------------------------------------------------------------------------------------ loop
def train(cfg=None, **overrides):
    """Train (or resume) a GPT as configured; returns a TrainResult."""
    t_start = time.time()
    run = setup(cfg, **overrides)
    cfg = run.cfg
    if run.iter_num == 0 and cfg.max_iters > 0 and not run.evals and run.rank == 0:
        evaluate(run)

    progress = sys.stderr.isatty() if cfg.progress is None else cfg.progress
    bar = tqdm(total=cfg.max_iters, initial=run.iter_num, disable=not cfg.verbose, dynamic_ncols=True, unit="it",
               mininterval=0.25 if progress else 30.0, file=sys.stderr)
    first_new = len(run.history)
    run.model.train()
    t0 = time.time()
    while run.iter_num < cfg.max_iters:
        lossf, lr = train_step(run)
        t1 = time.time()
        dt, t0 = t1 - t0, t1
        bar.update(1)
        it = run.iter_num
        if it % 10 == 0 or it == cfg.max_iters:
            bar.set_postfix(loss=f"{lossf:.4f}", tok_s=f"{run.tokens_per_iter / max(dt, 1e-9):,.0f}", refresh=False)
        if cfg.log_interval and it % cfg.log_interval == 0:
            _log(cfg, f"iter {it}: loss {lossf:.4f}, time {dt * 1000:.2f}ms, "
                      f"{run.tokens_per_iter / max(dt, 1e-9):,.0f} tok/s, lr {lr:.2e}")
        if it % cfg.eval_interval == 0 or it == cfg.max_iters:
            if run.rank == 0:
                evaluate(run)
            save(run)
            t0 = time.time()  # don't count eval + checkpoint time in the next iteration
    bar.close()
    if not run.resumed and cfg.max_iters == 0:
        save(run)

    sample = None
    if cfg.sample_tokens > 0 and run.rank == 0:
        sample = generate_text(run.model, run.tokenizer, "\n", cfg.sample_tokens, cfg.sample_temperature,
                               cfg.sample_top_k, cfg.seed)
        _log(cfg, "---------- sample ----------\n" + sample + "\n----------------------------")
    wall = time.time() - t_start
    _log(cfg, f"done: {run.iter_num} iterations, best val loss {run.best_val_loss:.4f}, wall time {wall:.1f}s; "
              f"checkpoint {run.ckpt_path}")
    if run.owns_group:
        dist.destroy_process_group()
    return TrainResult(model=run.model, tokenizer=run.tokenizer, iter_num=run.iter_num,
                       best_val_loss=run.best_val_loss, train_losses=run.history[first_new:], evals=run.evals,
                       wall_time=wall, sample=sample, out_dir=cfg.out_dir)


def generate_text(model, tokenizer, start, num_tokens, temperature=0.8, top_k=200, seed=1337):
    """Decode num_tokens sampled tokens after start (start must use characters of the vocabulary; an
    empty start begins from the first vocabulary character). Uses its own generator seeded with seed."""
    if not start:
        start = "\n" if "\n" in tokenizer.stoi else tokenizer.itos[0]
    elif start == "\n" and "\n" not in tokenizer.stoi:
        start = tokenizer.itos[0]
    ids = tokenizer.encode(start)[None, :]
    was_training = model.training
    model.eval()
    gen = Generator(seed=seed)
    out = model.generate(tensor(ids), num_tokens, temperature=temperature,
                         top_k=top_k if top_k and top_k > 0 else None, generator=gen)
    model.train(was_training)
    return tokenizer.decode(out.array[0])
