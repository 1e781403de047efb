"""Real photos and paintings for engine tests: the demo catalogue's public-domain images."""
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageOps

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


def print_on_wall(name: str, margin: float, wall=(250, 250, 250), size=(240, 200), seed: int = 0):
    """A print of a demo painting (or product photo, ``products/<name>``) hung on a
    plain wall with ``margin`` of the frame around it, and its true mask: the whole print
    is the product, its picture's ground included. The wall has a little sensor noise."""
    kind, _, name = name.rpartition("/")
    art = _load(kind or "styles", name)
    width, height = size
    left, top = round(width * margin), round(height * margin)
    shot = Image.new("RGB", size, wall)
    shot.paste(ImageOps.fit(art, (width - 2 * left, height - 2 * top), Image.Resampling.LANCZOS), (left, top))
    noise = np.random.default_rng(seed).normal(0, 2, (height, width, 3))
    shot = Image.fromarray(np.clip(np.asarray(shot, dtype=np.float64) + noise, 0, 255).astype(np.uint8))
    mask = Image.new("L", size, 0)
    mask.paste(255, (left, top, width - left, height - top))
    return shot, mask


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


# Generated photos with known product masks.
SIZE = (384, 320)  # width, height of the generated photos: not square, not 320
DEEP_RED, NAVY = (120, 20, 30), (38, 48, 110)
CREAM, SKY, ORANGE = (240, 225, 160), (160, 195, 230), (200, 90, 30)


def studio(shape: str, colour, extent, seed: int, pattern: Image.Image | None = None):
    """A studio shot and its true mask: a shaded object (``colour``, or ``pattern`` where
    given) with a soft contact shadow, on a light backdrop with a vertical gradient.

    ``extent`` is the object's (width, height) in pixels; edges are anti-aliased (4x
    supersampled), so the mask is soft like a real one.
    """
    rng = np.random.default_rng(seed)
    w, h = SIZE
    ew, eh = extent
    cx, cy = w / 2, h / 2
    ss = 4
    big = Image.new("L", (w * ss, h * ss), 0)
    draw = ImageDraw.Draw(big)
    box = [(cx - ew / 2) * ss, (cy - eh / 2) * ss, (cx + ew / 2) * ss, (cy + eh / 2) * ss]
    if shape == "ellipse":
        draw.ellipse(box, fill=255)
    elif shape == "rectangle":
        draw.rounded_rectangle(box, radius=6 * ss, fill=255)
    elif shape == "star":
        points = [
            (cx + r * math.sin(math.pi * i / 5), cy - r * math.cos(math.pi * i / 5))
            for i, r in enumerate([eh / 2, eh / 4.5] * 5)
        ]
        draw.polygon([(x * ss, y * ss) for x, y in points], fill=255)
    elif shape == "polygon":
        corners = [(-1 / 2, 1 / 2), (1 / 2, 1 / 2), (1 / 4, -1 / 2), (-1 / 3, -1 / 3)]
        draw.polygon([((cx + fx * ew) * ss, (cy + fy * eh) * ss) for fx, fy in corners], fill=255)
    mask = big.resize(SIZE, Image.Resampling.BOX)
    m = np.asarray(mask, dtype=np.float64)[..., None] / 255
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    t = (yy / (h - 1))[..., None]
    backdrop = np.array((236, 236, 233), float) * (1 - t) + np.array((250, 250, 248), float) * t
    shadow = np.asarray(Image.fromarray((m[..., 0] * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(10)))
    backdrop = backdrop * (1 - 0.12 * np.roll(shadow / 255, 6, axis=0)[..., None])
    light = 1.0 + 0.18 * (((cx - xx) / ew + (cy - yy) / eh) / 2)[..., None]
    surface = np.asarray(pattern, dtype=np.float64) if pattern is not None else np.array(colour, float)
    obj = surface * light + rng.normal(0, 2.0, (h, w, 1))
    pixels = obj * m + backdrop * (1 - m) + rng.normal(0, 1.0, (h, w, 3))
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8)), mask


def woven(kind: str, seed: int) -> Image.Image:
    """A textile edge to edge: a twill plaid, a zigzag weave, a herringbone, stripes or dots."""
    rng = np.random.default_rng(seed)
    w, h = SIZE
    yy, xx = np.mgrid[0:h, 0:w]
    palette = rng.integers(20, 235, (5, 3)).astype(float)
    if kind == "plaid":
        bw = rng.integers(8, 30)
        twill = ((xx + yy) // 2) % 2 == 0
        img = np.where(twill[..., None], palette[(xx // bw) % 3], palette[(yy // bw) % 3 + 2])
    elif kind == "zigzag":
        period, amp = rng.integers(30, 70), rng.integers(10, 40)
        phase = np.abs(((yy % period) / period) * 2 - 1) * amp
        img = palette[((xx + phase) // rng.integers(12, 30)).astype(int) % 4]
    elif kind == "herringbone":
        bw = rng.integers(6, 14)
        diag = np.where((xx // (bw * 2)) % 2 == 0, xx + yy, xx - yy) // bw % 2
        img = palette[diag + 2 * ((yy // 40) % 2)]
    elif kind == "stripes":
        edges = np.cumsum(rng.integers(5, 40, 50))
        img = palette[np.searchsorted(edges, (xx * np.cos(0.3 * seed) + yy * np.sin(0.3 * seed)) % edges[-1]) % 5]
    elif kind == "dots":
        p = rng.integers(24, 60)
        d = np.hypot((xx % p) - p / 2, (yy % p) - p / 2)
        img = np.where((d < p * rng.uniform(0.2, 0.4))[..., None], palette[0], palette[1])
    if kind in ("plaid", "zigzag", "herringbone"):
        img = img * (1 + 0.08 * np.sin(xx * 1.7) * np.sin(yy * 1.3))[..., None]  # thread relief
    img = img + rng.normal(0, 4, (h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
