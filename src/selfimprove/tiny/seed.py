"""The shipped tiny seed model: a standard HF checkpoint in the package (folder `seed/` beside this file),
so the demo starts without pretraining. It is the exact output of

    selfimprove pretrain configs/tiny-pretrain.yaml

(float32 weights, 4.3 MB; `pretrain.yaml` inside it records the settings, `quality.json` its greedy pass@1
on the first 100 test problems). Pretraining pins torch to one thread (`threads: 1`), so the rebuild gives the
same bytes whatever OMP_NUM_THREADS says; torch does not promise the same bytes on a CPU with other vector
instructions (its kernels differ), which is why the rebuild test compares quality, not bytes. tests/test_seed_model.py checks both, and with SELFIMPROVE_REBUILD_SEED=1
rebuilds it and checks that the rebuilt model is as good."""

from __future__ import annotations

import shutil
from pathlib import Path

SHIPPED = Path(__file__).parent / "seed"


def install_shipped(out: Path) -> Path:
    """Copy the shipped checkpoint to `out` (a new folder, written next to it and renamed into place)."""
    from selfimprove.rundir import replace_dir, scratch_beside

    with scratch_beside(out, "copy") as work:
        shutil.copytree(SHIPPED, work / "model")
        replace_dir(work / "model", out)
    return out
