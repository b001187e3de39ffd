"""nanoGPT's DDP lines, unchanged but for the CPU device and a tiny model, run as a PyTorch script through the torch
alias: mpiexec -n 2 python -m tensorgrad.compat nanogpt_ddp.py OUT_DIR. Rank 0 writes the final weights' checksum."""
import os
import sys

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.distributed import init_process_group, destroy_process_group

out_dir = sys.argv[1]
gradient_accumulation_steps = 4
backend = 'gloo'
ddp = int(os.environ.get('RANK', -1)) != -1 # is this a ddp run?
if ddp:
    init_process_group(backend=backend)
    ddp_rank = int(os.environ['RANK'])
    ddp_local_rank = int(os.environ['LOCAL_RANK'])
    ddp_world_size = int(os.environ['WORLD_SIZE'])
    device = 'cpu'  # nanoGPT: f'cuda:{ddp_local_rank}'
    master_process = ddp_rank == 0 # this process will do logging, checkpointing etc.
    seed_offset = ddp_rank # each process gets a different seed
    assert gradient_accumulation_steps % ddp_world_size == 0
    gradient_accumulation_steps //= ddp_world_size
else:
    master_process, seed_offset, ddp_world_size, ddp_local_rank = True, 0, 1, 0
torch.manual_seed(1337 + seed_offset)

model = nn.Sequential(nn.Embedding(16, 8), nn.Flatten(), nn.Linear(32, 16))
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
if ddp:
    model = DDP(model, device_ids=[ddp_local_rank])
raw_model = model.module if ddp else model
for iter_num in range(5):
    for micro_step in range(gradient_accumulation_steps):
        if ddp:
            model.require_backward_grad_sync = (micro_step == gradient_accumulation_steps - 1)
        X = torch.randint(16, (4, 4))
        Y = torch.randint(16, (4,))
        logits = model(X)
        loss = torch.nn.functional.cross_entropy(logits, Y) / gradient_accumulation_steps
        loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
sums = [None] * ddp_world_size
torch.distributed.all_gather_object(sums, float(sum(p.detach().abs().sum().item() for p in raw_model.parameters())))
if master_process:
    assert len(set(sums)) == 1, sums  # the replicas stayed equal
    with open(os.path.join(out_dir, "nanogpt_ddp.txt"), "w") as f:
        f.write(f"{ddp_world_size} {sums[0]!r}\n")
if ddp:
    destroy_process_group()
