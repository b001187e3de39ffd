"""Under mpiexec -n 2: `tensorgrad train`'s main with save_checkpoint wrapped to record which rank writes, and each
rank's pid in OUT_DIR/pid.<rank> (the dead-rank test kills one). Usage: train_ranks.py OUT_DIR [tensorgrad train args]."""
import os
import sys

import tensorgrad.train as T
from tensorgrad.cli import main
from tensorgrad.distributed.launch_env import launch_env

out_dir = sys.argv[1]
rank = launch_env().rank
os.makedirs(out_dir, exist_ok=True)
with open(os.path.join(out_dir, f"pid.{rank}"), "w") as f:
    f.write(str(os.getpid()))
_save = T.save_checkpoint


def save_checkpoint(*args, **kwargs):
    with open(os.path.join(out_dir, "writers.txt"), "a") as f:
        f.write(f"{rank}\n")
    return _save(*args, **kwargs)


T.save_checkpoint = save_checkpoint
sys.exit(main(["train", "--out-dir", out_dir] + sys.argv[2:]))
