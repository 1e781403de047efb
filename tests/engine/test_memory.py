"""A rendering process gives back what a task needed: free heap (``memory``) and the
models cached for one task only (``runtime.release_transient``)."""
from pathlib import Path

import pytest
import torch

from stylestore.engine import memory, runtime, vgg

CPU = runtime.pick_device("cpu", "exact")
MB = 1 << 20


def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not Path("/proc/self/status").exists() or not memory.keep_freed_memory(), reason="Linux + glibc")
def test_freed_heap_is_kept_while_rendering_and_given_back_after():
    block = torch.ones(256 * MB // 4)  # a large activation: from the heap, not its own mapping
    held = rss_mb()
    del block
    assert rss_mb() > held - 64  # kept for the next op (keep_freed_memory)
    assert memory.release_free_memory()
    assert rss_mb() < held - 192  # given back: at least 192 of its 256 MB


def test_transient_models_are_dropped_and_built_again_the_others_stay():
    built = []

    def factory():
        built.append(1)
        return torch.nn.Conv2d(3, 4, 3)

    kept = runtime.cached("test-kept", CPU, factory)
    transient = runtime.cached("test-transient", CPU, factory, keep=False)
    assert runtime.cached("test-transient", CPU, factory, keep=False) is transient and len(built) == 2
    assert "test-transient" in runtime.release_transient()
    assert runtime.cached("test-kept", CPU, factory) is kept
    assert runtime.cached("test-transient", CPU, factory, keep=False) is not transient and len(built) == 3
    runtime.release_transient()


def test_the_optimize_engines_vgg_is_released_between_tasks():
    net = vgg.model(CPU)
    assert vgg.model(CPU) is net  # cached within a task
    assert "vgg19" in runtime.release_transient()
    assert vgg.model(CPU) is not net
    runtime.release_transient()
