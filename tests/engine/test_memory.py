"""A rendering process gives back what a task needed: free heap (``memory``), the
models cached for one task only (``runtime.release_transient``), and the pages of the
GPU libraries a process without CUDA never runs (``runtime.release_gpu_library_pages``)."""
import re
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


def resident_mb(names):
    """Resident and privately modified MB of the mappings of the libraries ``names`` matches."""
    resident = dirty = 0
    matching = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if not fields[0].endswith(":"):
            matching = len(fields) > 5 and bool(names.search(fields[5].rpartition("/")[2]))
        elif matching and fields[0] == "Rss:":
            resident += int(fields[1]) / 1024
        elif matching and fields[0] == "Private_Dirty:":
            dirty += int(fields[1]) / 1024
    return resident, dirty


LINUX_GLIBC = pytest.mark.skipif(not Path("/proc/self/smaps").exists() or not memory.keep_freed_memory(),
                                 reason="Linux + glibc")


@LINUX_GLIBC
def test_dropping_a_librarys_pages_loses_nothing_it_is_read_back_when_used():
    torch_cpu = re.compile(r"^libtorch_cpu\.so")
    conv = torch.nn.Conv2d(3, 8, 3)
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        before = conv(image)
    resident, dirty = resident_mb(torch_cpu)
    released = memory.release_library_pages(torch_cpu)
    assert released > 1 and resident_mb(torch_cpu)[0] < resident - released / 2
    assert resident_mb(torch_cpu)[1] == dirty  # its relocated, written parts are kept
    with torch.no_grad():
        assert torch.equal(conv(image), before)  # its code faulted back in from the file, unchanged


@LINUX_GLIBC
def test_a_process_without_cuda_drops_the_gpu_libraries_pages():
    if torch.cuda.is_initialized():
        pytest.skip("CUDA is in use here")
    resident, dirty = resident_mb(runtime.GPU_ONLY_LIBRARIES)
    if resident < 1:
        pytest.skip("a CPU build of torch: no GPU library is loaded")
    released = runtime.release_gpu_library_pages()
    after, after_dirty = resident_mb(runtime.GPU_ONLY_LIBRARIES)
    assert after <= dirty + 1 and after_dirty == dirty  # only what was written (relocated) stays
    assert released >= resident - dirty - 1  # (an earlier test may have released them already)
