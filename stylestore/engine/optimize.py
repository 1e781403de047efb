"""Gatys-style neural style transfer by optimization: the slow, highest-quality engine.

The image itself is optimized (Gatys, Ecker & Bethge 2016) so that its VGG19 relu4_2
activations stay close to the content image's while the Gram matrices of
relu1_1..relu5_1 approach the style image's. It starts from the content image, so even
a short run is a recognisable product photo, and every extra step adds style.

Both losses are dimensionless so the weights mean the same at any resolution: the
content loss is relative to the content's own feature energy, and each style layer's
Gram error is relative to the style Gram's energy (raw Gram MSE is dominated by the
deep layers, whose activations reach ~2e4). Losses and Grams are computed in fp32,
always: the image is optimized in fp32 on CPU and CUDA alike.

L-BFGS (one evaluation per step, no line search) converges in far fewer network passes
than Adam on this problem; each step is one VGG forward and backward to relu5_1, which
bounds the cost by ``steps``: about 3 x 95 GMAC per step at 512 px, i.e. seconds per step
on a CPU (minutes per image) and a few milliseconds on a data-centre GPU. The pixels are
clamped to [0, 1] after every step.
"""
from typing import Callable, Optional

import torch
from PIL import Image

from . import imaging, runtime, vgg
from .errors import NonFiniteOutput, StyleSpecError
from .gate import MIN_SIDE

#: Called after every step with (step, total); returning False stops early.
ProgressCallback = Callable[[int, int], Optional[bool]]


class GatysLoss:
    """The objective for one content/style pair: ``loss(image)`` -> scalar fp32 tensor.

    ``content_weight * mean((F - Fc)^2) / mean(Fc^2)`` at relu4_2, plus ``style_weight``
    times the mean over relu1_1..relu5_1 of ``mean((G - Gs)^2) / mean(Gs^2)``, plus
    ``tv_weight`` times the mean squared difference between neighbouring pixels.

    Targets are computed once, here; calling the loss runs VGG19 on the candidate only.
    Images are ``(1, 3, H, W)`` RGB in [0, 1]; the style image may have any size.
    """

    def __init__(
        self,
        net: vgg.VGG19Features,
        content: torch.Tensor,
        style: torch.Tensor,
        *,
        content_weight: float,
        style_weight: float,
        tv_weight: float,
    ) -> None:
        self.net = net
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        with torch.no_grad():
            target = net(content, [vgg.CONTENT_LAYER])[vgg.CONTENT_LAYER].float()
            self.content_target = target
            self.content_energy = target.square().mean().clamp_min(1e-12)
            style_features = net(style, vgg.STYLE_LAYERS)
            self.style_targets = {name: vgg.gram(style_features[name]) for name in vgg.STYLE_LAYERS}
            self.style_energy = {name: g.square().mean().clamp_min(1e-12) for name, g in self.style_targets.items()}

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        features = self.net(image, (*vgg.STYLE_LAYERS, vgg.CONTENT_LAYER))
        content = (features[vgg.CONTENT_LAYER].float() - self.content_target).square().mean() / self.content_energy
        style = sum(
            (vgg.gram(features[name]) - self.style_targets[name]).square().mean() / self.style_energy[name]
            for name in vgg.STYLE_LAYERS
        ) / len(vgg.STYLE_LAYERS)
        loss = self.content_weight * content + self.style_weight * style
        if self.tv_weight:
            image = image.float()
            tv = (image[..., 1:, :] - image[..., :-1, :]).square().mean() + (
                image[..., :, 1:] - image[..., :, :-1]
            ).square().mean()
            loss = loss + self.tv_weight * tv
        return loss


def optimize(
    content: Image.Image,
    style_image: Image.Image,
    *,
    max_side: int = 512,
    steps: int = 100,
    content_weight: float = 1.0,
    style_weight: float = 10.0,
    tv_weight: float = 1.0,
    device: Optional[runtime.Device] = None,
    progress: Optional[ProgressCallback] = None,
) -> Image.Image:
    """Stylize ``content`` after ``style_image``; returns RGB of at most ``max_side`` px.

    Both images are fitted to ``max_side`` (the style at the same scale, so its brush
    strokes keep their size relative to the product). The weights multiply
    dimensionless losses: the defaults give a strong but recognisable style on the demo
    catalogue; raise ``content_weight`` for a subtler one. ``tv_weight`` smooths the
    pixel noise the optimization leaves. ``device`` picks where to run; its precision is
    ignored, the optimization is always fp32.

    ``progress(step, total)`` is called after each of the ``steps`` L-BFGS steps.
    Returning False stops early and returns the image as it is then; raising aborts,
    and the exception propagates unchanged (how a job runner cancels). Alpha in either
    input is ignored. Raises :class:`StyleSpecError` for out-of-range options and
    :class:`NonFiniteOutput` if the optimization diverges.
    """
    if steps < 1:
        raise StyleSpecError(f"steps must be at least 1, not {steps}")
    if max_side < MIN_SIDE:
        raise StyleSpecError(f"max_side must be at least {MIN_SIDE}, not {max_side}")
    if min(content_weight, style_weight, tv_weight) < 0:
        raise StyleSpecError("loss weights must not be negative")
    device = (device or runtime.pick_device()).exact()
    net = vgg.model(device)

    def to_tensor(image: Image.Image) -> torch.Tensor:
        return imaging.to_tensor([imaging.fit(image, max_side)], device.torch_device, torch.float32)

    content_tensor = to_tensor(content)
    loss_fn = GatysLoss(
        net,
        content_tensor,
        to_tensor(style_image),
        content_weight=content_weight,
        style_weight=style_weight,
        tv_weight=tv_weight,
    )
    image = content_tensor.clone().requires_grad_(True)
    # One L-BFGS iteration per step() call; tolerances at zero so the step budget, not
    # L-BFGS's convergence test, decides how long this runs.
    optimizer = torch.optim.LBFGS(
        [image], lr=1.0, max_iter=1, history_size=20, tolerance_grad=0.0, tolerance_change=0.0
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(image)
        if not torch.isfinite(loss):
            raise NonFiniteOutput("style optimization diverged")
        loss.backward()
        return loss

    for step in range(1, steps + 1):
        optimizer.step(closure)
        with torch.no_grad():
            image.clamp_(0.0, 1.0)
        if progress is not None and progress(step, steps) is False:
            break
    return imaging.to_image(image.detach()[0])
