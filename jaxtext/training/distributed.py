"""Many processes, one run: JAX's own distributed runtime, started from the launch environment.

Under a multi-process launch (``python -m jaxtext launch``, SLURM ``srun``, Open MPI, or the
``JAX_COORDINATOR_ADDRESS`` / ``JAX_NUM_PROCESSES`` / ``JAX_PROCESS_ID`` variables a
Kubernetes or TPU pod sets) ``jaxtext.train`` calls ``jax.distributed.initialize()`` before
JAX does anything else. The trainer then builds its mesh over every process's devices, each
process puts only its rows of each batch on its devices, metrics are reduced over the mesh
inside the step, and only process 0 writes (views, checkpoints, the run folder, ``--json``).
On CPUs the processes talk through gloo.
"""

from __future__ import annotations

import os

_COORDINATOR = "JAX_COORDINATOR_ADDRESS"
_NUM_PROCESSES = "JAX_NUM_PROCESSES"
_PROCESS_ID = "JAX_PROCESS_ID"


def launched() -> bool:
    """True when this process is one of several started together (checked without JAX)."""
    env = os.environ
    if env.get(_COORDINATOR):
        return True
    for count in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"):
        if env.get(count, "1").isdigit() and int(env.get(count, "1")) > 1:
            return True
    return False


def initialize_if_launched() -> bool:
    """Join the other processes of a launch (once); False when running alone."""
    if not launched():
        return False
    import jax

    if jax.distributed.is_initialized():
        return True
    env = os.environ
    kwargs = {}
    if env.get(_NUM_PROCESSES) and env.get(_PROCESS_ID):
        kwargs = {"num_processes": int(env[_NUM_PROCESSES]),
                  "process_id": int(env[_PROCESS_ID])}
    jax.distributed.initialize(**kwargs)  # the coordinator address and cluster from the env
    return True


def is_main_process() -> bool:
    """Process 0 of a launch, or the only process: the one that shows and writes things."""
    if not launched():
        return True
    import jax

    return jax.process_index() == 0
