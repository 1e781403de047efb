"""The engine's one interface for the Django layer: styles, options, ``Stylizer``, ``Result``.

Conventions (every engine, every caller):

* A style image is centre-cropped to a square and resized to 256 px with Lanczos before
  the style predictor (its training resolution). The same 100-d vector of a product
  photo is its "style embedding" for personalization (:meth:`Stylizer.style_vectors`).
* Content is Lanczos-downscaled so its longer side is ``max_side``, never upscaled. The
  fast networks reflect-pad it to a multiple of 4 and crop their output back, so a
  result has exactly the fitted size.
* ``strength`` (0..1): the arbitrary engine interpolates style vectors,
  ``a * v_style + (1 - a) * v_content`` with the photo's own vector (feature fusion: at 0
  the network re-renders the photo in its own style). The 26-style network has no
  vector for the photo and the optimizer starts from the photo, so for ``preset`` and
  ``optimize`` strength blends the stylized pixels with the photo's.
* Then, in this order: colour preservation (lightness from the stylization, colour from
  the photo), the region (``all``/``foreground``/``background``, from the photo's alpha),
  encoding, metrics.
* Failures: a bad call (an engine that cannot render the style, invalid options) raises
  ``StyleSpecError`` before any work. A bad *image* never fails its batch mates: its
  ``Result.error`` holds the exception (``ImageError`` for the input's fault, e.g. too
  small; ``NonFiniteOutput``; ``StyleSpecError`` for a region on an opaque image; any
  unexpected error of its post-processing, logged) and its other fields are empty.
  Missing weights raise ``WeightsError`` for the whole call.
"""
from __future__ import annotations

import logging
import math
import numbers
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image

from . import imaging, metrics, optimize, presets, product, runtime, saliency
from .arbitrary import STYLE_DIM, STYLE_SIZE, StylePredictor, Transformer, blend_vectors
from .errors import CorruptImage, EngineError, ImageTooSmall, NonFiniteOutput, StyleSpecError
from .formats import FORMATS
from .gate import MIN_SIDE
from .presets import MultiStyleNet

logger = logging.getLogger(__name__)

ENGINES = ("arbitrary", "preset", "optimize")
MAX_SIDE = 4096

#: progress(done, total): images finished so far (optimize: L-BFGS steps) out of total
Progress = Callable[[int, int], None]


@dataclass(frozen=True, eq=False)
class StyleSpec:
    """What to render: a style image, a precomputed vector, preset weights, or a blend.

    Build one with the class methods. ``kind`` is ``"image"`` (a PIL image),
    ``"vector"`` (100 float32), ``"preset"`` (26 float32 weights summing to 1) or
    ``"blend"`` (image/vector parts with weights; their vectors are averaged). Blends of
    presets are folded into one preset spec, since preset weights already are a blend.
    """

    kind: str
    value: object

    @classmethod
    def image(cls, image: Image.Image) -> StyleSpec:
        return cls("image", image)

    @classmethod
    def vector(cls, vector: Sequence[float]) -> StyleSpec:
        array = np.asarray(vector, dtype=np.float32).reshape(-1)
        if array.shape != (STYLE_DIM,) or not np.isfinite(array).all():
            raise StyleSpecError(f"a style vector needs {STYLE_DIM} finite numbers, got shape {array.shape}")
        return cls("vector", array)

    @classmethod
    def preset(cls, spec: presets.PresetSpec) -> StyleSpec:
        """``7``, ``"3:0.5,12:0.5"`` or ``{3: 0.5, 12: 0.5}`` (see ``presets.parse_weights``)."""
        return cls("preset", presets.parse_weights(spec))

    @classmethod
    def blend(cls, parts: Sequence[Tuple[StyleSpec, float]]) -> StyleSpec:
        """Weighted blend of several styles, all presets or all image/vector styles."""
        flat: List[Tuple[StyleSpec, float]] = []
        for spec, weight in parts:
            if not (math.isfinite(weight) and weight >= 0):
                raise StyleSpecError(f"blend weights must be finite and non-negative, got {weight!r}")
            flat += [(s, w * weight) for s, w in spec.value] if spec.kind == "blend" else [(spec, weight)]
        total = sum(w for _, w in flat)
        if total <= 0:
            raise StyleSpecError("a blend needs at least one positive weight")
        kinds = {spec.kind == "preset" for spec, _ in flat}
        if len(kinds) > 1:
            raise StyleSpecError("cannot blend presets with image styles: they belong to different networks")
        if kinds == {True}:
            return cls("preset", (sum(w * spec.value for spec, w in flat) / total).astype(np.float32))
        return cls("blend", tuple((spec, w / total) for spec, w in flat))

    @property
    def style_image(self) -> Optional[Image.Image]:
        """The style image, for the optimizer and the style metrics (None unless ``image``)."""
        return self.value if self.kind == "image" else None

    def check_engine(self, engine: str) -> None:
        """Raise ``StyleSpecError`` unless ``engine`` can render this style."""
        if engine == "preset" and self.kind != "preset":
            raise StyleSpecError("the preset engine renders preset styles only")
        if engine == "arbitrary" and self.kind == "preset":
            raise StyleSpecError("preset styles are rendered by the preset engine")
        if engine == "optimize" and self.kind != "image":
            raise StyleSpecError("the optimize engine needs a single style image")


@dataclass(frozen=True)
class RenderOptions:
    """How to render; validated on construction (``StyleSpecError``)."""

    engine: str = "arbitrary"
    strength: float = 1.0
    max_side: int = 1024
    preserve_color: bool = False
    region: str = "all"
    format: str = "webp"
    quality: int = 90
    optimize_steps: int = 100

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise StyleSpecError(f"engine must be one of {ENGINES}, not {self.engine!r}")
        if not (isinstance(self.strength, numbers.Real) and 0.0 <= self.strength <= 1.0):
            raise StyleSpecError(f"strength must be between 0 and 1, not {self.strength!r}")
        if not (isinstance(self.max_side, int) and MIN_SIDE <= self.max_side <= MAX_SIDE):
            raise StyleSpecError(f"max_side must be an integer from {MIN_SIDE} to {MAX_SIDE}")
        if self.region not in product.REGIONS:
            raise StyleSpecError(f"region must be one of {product.REGIONS}, not {self.region!r}")
        if self.format not in FORMATS:
            raise StyleSpecError(f"format must be one of {FORMATS}, not {self.format!r}")
        if not (isinstance(self.quality, int) and 1 <= self.quality <= 100):
            raise StyleSpecError(f"quality must be an integer from 1 to 100, not {self.quality!r}")
        if not (isinstance(self.optimize_steps, int) and 1 <= self.optimize_steps <= 2000):
            raise StyleSpecError(f"optimize_steps must be an integer from 1 to 2000, not {self.optimize_steps!r}")


@dataclass
class Result:
    """One rendered image, or the error that stopped it (then the other fields are empty)."""

    image: Optional[Image.Image] = None
    data: bytes = b""
    format: str = ""
    width: int = 0
    height: int = 0
    metrics: Dict[str, Optional[float]] = field(default_factory=dict)
    #: milliseconds: prepare (fit, conversion), infer (this image's share of its batch's
    #: forward passes, style vectors included), encode (colour, region, encoding), metrics
    timings: Dict[str, float] = field(default_factory=dict)
    error: Optional[Exception] = None


class Stylizer:
    """Loads networks lazily (once per process, see ``runtime.cached``) and renders.

    ``device``: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a ``runtime.Device``.
    ``precision``: ``"fast"`` or ``"exact"`` for a device given by name (default: see
    ``runtime.pick_device``). ``compile``: torch.compile the fast networks (default:
    ``runtime.compile_default``). ``threads``: torch threads on the CPU (default:
    ``runtime.configure_cpu``).
    """

    def __init__(
        self,
        device: str | runtime.Device = "auto",
        compile: Optional[bool] = None,
        precision: Optional[str] = None,
        threads: Optional[int] = None,
    ):
        self.device = device if isinstance(device, runtime.Device) else runtime.pick_device(device, precision)
        self.compile = runtime.compile_default(self.device) if compile is None else compile
        if self.device.torch_device.type == "cpu":
            runtime.configure_cpu(threads)

    def _model(self, name: str) -> runtime.Model:
        factory = {"predictor": StylePredictor, "transformer": Transformer, "presets": MultiStyleNet}[name]
        return runtime.cached(name, self.device, factory.from_package, compile=self.compile)

    # -- style vectors --------------------------------------------------------------------

    def style_vector(self, image: Image.Image) -> np.ndarray:
        """The 100-d style vector (float32) of an image: a style's code, a photo's embedding."""
        return self.style_vectors([image])[0]

    def style_vectors(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(N, 100) float32 style vectors of several images, in one forward pass."""
        return self._vectors(images).numpy()

    def _vectors(self, images: Sequence[Image.Image]) -> torch.Tensor:
        crops = [imaging.square_crop(image, STYLE_SIZE) for image in images]
        with torch.inference_mode():
            # fp32 input: the predictor's first layers stay fp32 in every precision
            vectors = self._model("predictor")(runtime.to_batch(crops, self.device.exact())).float().cpu()
        if not torch.isfinite(vectors).all():
            raise NonFiniteOutput("the style predictor produced NaN or infinity")
        return vectors

    def _style_vectors(self, styles: Sequence[StyleSpec]) -> torch.Tensor:
        """(K, 100) vectors of image/vector/blend specs; each distinct image predicted once."""
        images: Dict[int, Image.Image] = {}
        for spec in styles:
            for part, _ in spec.value if spec.kind == "blend" else [(spec, 1.0)]:
                if part.kind == "image":
                    images[id(part.value)] = part.value
        predicted = dict(zip(images, self._vectors(list(images.values())))) if images else {}

        def vector(spec: StyleSpec) -> torch.Tensor:
            if spec.kind == "image":
                return predicted[id(spec.value)]
            if spec.kind == "vector":
                return torch.from_numpy(spec.value)
            return blend_vectors(torch.stack([vector(part) for part, _ in spec.value]), [w for _, w in spec.value])

        return torch.stack([vector(spec) for spec in styles])

    # -- product masks ----------------------------------------------------------------------

    def product_masks(self, images: Sequence[Image.Image]) -> List[saliency.ProductMask]:
        """Where the product is in each photo: its own transparency when it has some
        (a cut-out is exact), else the saliency network's map (``saliency``)."""
        alphas = [imaging.alpha_mask(image) for image in images]
        found = iter(saliency.product_masks([im for im, a in zip(images, alphas) if a is None], self.device))
        return [
            next(found) if alpha is None
            else saliency.ProductMask(alpha, float(np.asarray(alpha).mean() / 255), 1.0, False, "alpha")
            for alpha in alphas
        ]

    # -- rendering --------------------------------------------------------------------------

    def render(
        self,
        images: Sequence[Image.Image],
        style: StyleSpec,
        options: RenderOptions = RenderOptions(),
        progress: Optional[Progress] = None,
        with_metrics: bool = True,
        masks: Optional[Sequence[Optional[Image.Image]]] = None,
    ) -> List[Result]:
        """Render every image with one style: same-size images share forward passes.

        ``masks``: each image's product mask (``L``; see :meth:`product_masks`), which
        ``options.region`` and colour preservation work with; None for an image (or
        all) means the image's alpha when it has some, else the whole image.
        """
        masks = masks or [None] * len(images)
        return self._render([(image, style, mask) for image, mask in zip(images, masks)], options, progress,
                            with_metrics)

    def render_styles(
        self,
        image: Image.Image,
        styles: Sequence[StyleSpec],
        options: RenderOptions = RenderOptions(),
        progress: Optional[Progress] = None,
        with_metrics: bool = True,
        mask: Optional[Image.Image] = None,
    ) -> List[Result]:
        """Render one image with many styles (all for ``options.engine``) in one forward pass."""
        return self._render([(image, style, mask) for style in styles], options, progress, with_metrics)

    def _render(
        self,
        jobs: List[Tuple[Image.Image, StyleSpec, Optional[Image.Image]]],
        options: RenderOptions,
        progress: Optional[Progress],
        with_metrics: bool,
    ) -> List[Result]:
        for _, style, _ in jobs:
            style.check_engine(options.engine)
        results = [Result(format=options.format) for _ in jobs]
        fitted: Dict[int, Image.Image | EngineError] = {}  # one preparation per distinct image
        fitted_masks: Dict[int, Optional[Image.Image]] = {}
        for i, (result, (image, _, mask)) in enumerate(zip(results, jobs)):
            started = time.perf_counter()
            if id(image) not in fitted:
                fitted[id(image)] = _prepare(image, options.max_side)
            original = fitted[id(image)]
            if isinstance(original, EngineError):
                result.error = original
            else:
                try:  # a mask that cannot be read fails its own image, not the batch
                    fitted_masks[i] = _fitted_mask(mask, original)
                except Exception as exc:  # noqa: BLE001 - PIL raises OSError, ValueError, struct.error...
                    result.error = CorruptImage(f"the product mask cannot be read: {exc}")
            result.timings["prepare_ms"] = _ms(started)
        live = [i for i, result in enumerate(results) if result.error is None]
        originals = [fitted[id(jobs[i][0])] for i in live]
        styles = [jobs[i][1] for i in live]
        masks = [fitted_masks[i] for i in live]

        started = time.perf_counter()
        if options.engine == "optimize":
            stylized = self._optimize(originals, styles, options, progress)
        elif live:
            stylized = self._fast(originals, styles, masks, options)
        else:
            stylized = []
        infer_ms = _ms(started) / max(len(live), 1)

        for done, (i, original, mask, outcome) in enumerate(zip(live, originals, masks, stylized), start=1):
            results[i].timings["infer_ms"] = round(infer_ms, 1)
            if isinstance(outcome, Exception):
                results[i].error = outcome
            else:
                self._finish(results[i], original, outcome, mask, options, with_metrics)
            if progress is not None and options.engine != "optimize":
                progress(done, len(live))
        return results

    def _fast(self, originals: List[Image.Image], styles: List[StyleSpec], masks: List[Optional[Image.Image]],
              options: RenderOptions) -> List[runtime.Outcome]:
        converted = {id(o): o if o.mode == "RGB" else o.convert("RGB") for o in originals}  # once per image
        # The networks see a grain on the backdrop, where it is shown (product.textured_backdrop).
        seen = {id(o): converted[id(o)] if options.region == "product"
                else product.textured_backdrop(converted[id(o)], mask) for o, mask in zip(originals, masks)}
        rgb = [seen[id(original)] for original in originals]
        if options.engine == "preset":
            conditions = torch.from_numpy(np.stack([spec.value for spec in styles]))
            return runtime.stylize(self._model("presets"), rgb, conditions, self.device)
        conditions = self._style_vectors(styles)
        if options.strength < 1.0:
            own = dict(zip(converted, self._vectors(list(converted.values()))))
            content = torch.stack([own[id(original)] for original in originals])
            conditions = options.strength * conditions + (1.0 - options.strength) * content
        return runtime.stylize(self._model("transformer"), rgb, conditions, self.device)

    def _optimize(
        self, originals: List[Image.Image], styles: List[StyleSpec], options: RenderOptions, progress: Optional[Progress]
    ) -> List[Image.Image | Exception]:
        """One image at a time: each is its own L-BFGS optimization."""
        steps, total = options.optimize_steps, options.optimize_steps * len(originals)
        outcomes: List[Image.Image | Exception] = []
        for n, (original, spec) in enumerate(zip(originals, styles)):
            report = None if progress is None else (lambda step, _, n=n: progress(n * steps + step, total))
            try:
                outcomes.append(
                    optimize.optimize(
                        original, spec.style_image, max_side=options.max_side, steps=steps,
                        device=self.device, progress=report,
                    )
                )
            except EngineError as exc:
                outcomes.append(exc)
        return outcomes

    def _finish(
        self,
        result: Result,
        original: Image.Image,
        stylized: Image.Image,
        mask: Optional[Image.Image],
        options: RenderOptions,
        with_metrics: bool,
    ) -> None:
        """Strength (pixel engines), region and colour, encoding and metrics of one image."""
        started = time.perf_counter()
        try:
            rgb = original if original.mode == "RGB" else original.convert("RGB")
            if options.engine != "arbitrary" and options.strength < 1.0:
                stylized = Image.blend(rgb, stylized, options.strength)
            final = product.compose(stylized, original, mask, options.region, options.preserve_color)
            result.data = imaging.encode(final, options.format, options.quality)
            result.timings["encode_ms"] = _ms(started)
            if with_metrics:
                started = time.perf_counter()
                result.metrics = metrics.measure(original, final, mask, stylized)
                result.timings["metrics_ms"] = _ms(started)
        except Exception as exc:  # noqa: BLE001 - this image fails alone, its batch mates go on
            if not isinstance(exc, EngineError):
                logger.exception("post-processing a stylized image failed")
            result.error, result.data = exc, b""
            return
        result.image, (result.width, result.height) = final, final.size


def _fitted_mask(mask: Optional[Image.Image], original: Image.Image) -> Optional[Image.Image]:
    """The product mask at the prepared image's size, once (everything after uses it):
    the given one, else the image's alpha, else None (the whole image is the product)."""
    if mask is None:
        return imaging.alpha_mask(original)
    mask = mask.convert("L")  # loads it here, where a broken one fails only its image
    return mask if mask.size == original.size else mask.resize(original.size, Image.Resampling.BILINEAR)


def _prepare(image: Image.Image, max_side: int) -> Image.Image | EngineError:
    """The fitted content image, or why it cannot be rendered."""
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if imaging.alpha_mask(image) is not None else "RGB")
    fitted = imaging.fit(image, max_side)
    if min(fitted.size) < MIN_SIDE:
        return ImageTooSmall(
            f"{image.width}x{image.height} fitted to {max_side} px is {fitted.width}x{fitted.height}; "
            f"both sides need at least {MIN_SIDE} px"
        )
    return fitted


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
