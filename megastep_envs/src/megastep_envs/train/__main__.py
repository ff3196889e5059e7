"""``python -m megastep_envs.train ENV ...``, the entry point ``torchrun`` launches:

    torchrun --nproc-per-node 2 -m megastep_envs.train minimal --out runs/minimal
"""
import sys

from .cli import main

sys.exit(main())
