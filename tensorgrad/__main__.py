"""python -m tensorgrad train|sample ..."""
import sys

from .cli import main

sys.exit(main())
