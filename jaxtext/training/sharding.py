"""Data parallelism over all local devices with ``jax.sharding``.

Parameters and optimizer state are replicated; every batch array is split along its
first (batch) axis. With one device this is a no-op placement, so the same code runs
on a laptop CPU, one GPU, or several devices
(try ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` on a CPU).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


class DataParallel:
    def __init__(self, devices: list | None = None):
        self.devices = list(devices or jax.local_devices())
        self.mesh = Mesh(np.array(self.devices), ("data",))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.batch_sharded = NamedSharding(self.mesh, PartitionSpec("data"))

    @property
    def num_devices(self) -> int:
        return len(self.devices)

    @property
    def platform(self) -> str:
        """"cpu", "gpu" or "tpu": what the mesh computes on."""
        return self.devices[0].platform

    def describe(self) -> list[str]:
        return [f"{d.platform}:{d.id}" for d in self.devices]

    def replicate(self, tree: Any) -> Any:
        return jax.device_put(tree, self.replicated)

    def shard_batch(self, batch: Any) -> Any:
        """Put a NamedTuple of numpy arrays on the devices, split along the batch axis.

        A classification batch's ``index`` (rows of the split) stays on the host.
        """
        if "index" in getattr(batch, "_fields", ()):
            batch = batch._replace(index=None)
        return jax.device_put(batch, self.batch_sharded)
