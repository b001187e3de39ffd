"""python -m tensorgrad.compat script.py [args ...]: run a PyTorch script on tensorgrad (see tensorgrad.compat)."""
import sys

from tensorgrad.compat import main

sys.exit(main())
