"""Real photos and paintings for engine tests: the demo catalogue's public-domain images."""
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

DEMO = Path(__file__).resolve().parents[2] / "shop" / "demo_data"


@lru_cache(maxsize=None)
def _load(kind: str, name: str) -> Image.Image:
    with Image.open(DEMO / kind / f"{name}.jpg") as image:
        return image.convert("RGB")


def photo(name: str = "delft-basin", size=None) -> Image.Image:
    """A product photo, optionally resized (Lanczos) to ``size`` = (width, height)."""
    image = _load("products", name)
    return image.resize(size, Image.Resampling.LANCZOS) if size else image.copy()


def painting(name: str = "great-wave", size=None) -> Image.Image:
    image = _load("styles", name)
    return image.resize(size, Image.Resampling.LANCZOS) if size else image.copy()


def pixels(image: Image.Image) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1]."""
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


@pytest.fixture(scope="module")
def one_thread():
    """Run a module's small-tensor tests on one thread, then restore the count.

    Their ops are tiny: a second OpenMP thread buys nothing, and on a loaded machine
    every parallel region waits for a descheduled thread (10x slower test runs).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
