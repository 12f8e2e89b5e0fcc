"""DRAEM's reconstructive network (an encoder–decoder without skips) and the SSIM loss, in plain torch.

The discriminative network is ``unet_net.UNet`` on the 6-channel (image, reconstruction) input.
Imported only when ``draem_split`` trains or scores.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from anomset.evaluate.detectors.unet_net import conv_block


class ReconstructiveNet(nn.Module):
    """``depth`` poolings (channels doubling from ``base``, at most 8×), a mirrored decoder, no skip connections:
    the bottleneck keeps it from copying a defect through, so it reconstructs the normal appearance."""

    def __init__(self, base: int = 32, depth: int = 4, channels: int = 3) -> None:
        super().__init__()
        widths = [base * min(2**i, 8) for i in range(depth + 1)]
        self.encoder = nn.ModuleList([conv_block(channels, widths[0])])
        self.encoder.extend(conv_block(widths[i], widths[i + 1]) for i in range(depth))
        self.decoder = nn.ModuleList(conv_block(widths[i + 1], widths[i]) for i in reversed(range(depth)))
        self.out = nn.Conv2d(widths[0], channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.encoder):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
        for block in self.decoder:
            x = block(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))
        return self.out(x)


def _gaussian_window(size: int, sigma: float, channels: int, device: torch.device) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5,
         data_range: float = 1.0) -> torch.Tensor:
    """Mean structural similarity of two ``B×C×H×W`` batches (Gaussian window, per channel, valid region)."""
    channels = a.shape[1]
    window = min(window, a.shape[-1], a.shape[-2])
    kernel = _gaussian_window(window, sigma, channels, a.device)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, kernel, groups=channels)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return index.mean()
