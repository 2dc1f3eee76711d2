"""Sliding-window prediction of a normalised crop at the working spacing."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from crossmoda.algorithm.model.spec import NetworkSpec

__all__ = ["predict_volume"]


@torch.no_grad()
def predict_volume(
    net: torch.nn.Module,
    image: npt.NDArray[np.float32],
    spec: NetworkSpec,
    device: torch.device,
    *,
    tta: bool = False,
) -> npt.NDArray[np.float32]:
    """Softmax probabilities ``(C, z, y, x)`` of a normalised crop ``(z, y, x)`` by sliding windows
    of ``spec.patch`` (Gaussian blending, ``spec.sw_overlap``); ``tta`` averages with the
    left-right flip. Mixed precision on CUDA."""
    from monai.inferers import sliding_window_inference

    net.eval()
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None].to(device)
    use_amp = device.type == "cuda"

    def run(inp: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
            out = sliding_window_inference(inp, spec.patch, 4, net, overlap=spec.sw_overlap, mode="gaussian")
        assert isinstance(out, torch.Tensor)
        return torch.softmax(out.float(), dim=1)

    probs = run(x)
    if tta:
        probs = 0.5 * (probs + torch.flip(run(torch.flip(x, dims=[4])), dims=[4]))
    return probs[0].cpu().numpy().astype(np.float32)
