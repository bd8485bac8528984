"""Export torchvision architectures to ONNX with seeded random weights; run by a Python that has torch.

    python benchmarks/sweep_export.py --out-dir D --seed 0 --suffix=-torch2.14.1.onnx resnet18:224 vit_b_16:224

Weights are torchvision's own initialisation under torch.manual_seed(seed), with what that leaves degenerate
redrawn: norm scales and biases, every constant parameter (zero-initialised heads and class tokens, ConvNeXt's
1e-6 layer scales), so that no output is trivially zero, and BatchNorm statistics (drawn at random; measured on
random images and perturbed for CALIBRATED_BN).
Batch 1, opset 17, the TorchScript exporter (dynamo=False). Each architecture is exported on its own; one failing
does not stop the others (a line on stderr says why)."""
from __future__ import annotations

import argparse
import os
import sys
import traceback

# Architectures whose BatchNorm statistics are measured on random images (then perturbed) instead of drawn:
# Inception-v3's initialisation is not fan-in scaled, and with drawn statistics its activations reach 7.8e13,
# past fp16's range; measured ones keep them under 2e3. Measured statistics are not the default because they
# made EfficientNetV2-S ill-conditioned (two fp32 runtimes then agree only to cosine 0.92–0.95).
CALIBRATED_BN = ("inception_v3",)


def _calibrate_batch_norms(model, side: int, gen) -> None:
    """Running statistics from random images (cumulative, train mode), then perturbed: randomised statistics
    that still normalise. Drawn blindly they let activations grow layer by layer (Inception-v3 reached 1e13,
    past fp16's range), which no trained model does."""
    import torch

    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    model.eval()  # dropout and stochastic depth off: the statistics are the ones eval mode sees
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, side, side, generator=gen))
        for m in norms:
            # a floor on the variance: near-dead channels would otherwise be scaled up ~30x a layer
            floor = 0.1 * float(m.running_var.mean())
            m.running_var.clamp_(min=floor).mul_(torch.rand(m.running_var.shape, generator=gen) * 0.5 + 0.75)
            m.running_mean.add_(torch.randn(m.running_mean.shape, generator=gen) * 0.1 * m.running_var.sqrt())
    model.eval()


def seeded(arch: str, seed: int, side: int):
    import torch
    import torchvision

    torch.manual_seed(seed)
    kwargs = {"aux_logits": False, "init_weights": True} if arch in ("googlenet", "inception_v3") else {}
    model = getattr(torchvision.models, arch)(weights=None, **kwargs)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.numel() > 1 and float(p.std()) > 0:
                continue
            if name.endswith("bias") or p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
            elif name.endswith("weight"):  # norm scales
                p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
            else:  # layer scales
                p.copy_(torch.rand(p.shape, generator=gen) * 0.4 + 0.1)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                if arch not in CALIBRATED_BN:
                    m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                    m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
    if arch in CALIBRATED_BN:
        _calibrate_batch_norms(model, side, gen)
    return model.eval()


def export(arch: str, side: int, seed: int, out: str) -> None:
    import torch

    torch.backends.mha.set_fastpath_enabled(False)  # the fused attention kernel has no ONNX export
    model = seeded(arch, seed, side)
    x = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(seed + 2))
    tmp = f"{out}.{os.getpid()}.tmp"
    with torch.no_grad():
        torch.onnx.export(model, (x,), tmp, opset_version=17, dynamo=False, input_names=["x"],
                          output_names=["y"])
    os.replace(tmp, out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--suffix", required=True, help="file name after ARCH-sSEED[-bncal]")
    ap.add_argument("archs", nargs="+", help="ARCH:SIDE")
    args = ap.parse_args()
    failed = 0
    for item in args.archs:
        arch, side = item.split(":")
        recipe = "-bncal" if arch in CALIBRATED_BN else ""  # sweep_fetch's cache key
        try:
            export(arch, int(side), args.seed, os.path.join(args.out_dir, f"{arch}-s{args.seed}{recipe}{args.suffix}"))
            print(f"exported {arch}", flush=True)
        except Exception as e:  # one architecture's failure is reported, the rest still export
            failed += 1
            traceback.print_exc()
            print(f"export of {arch} failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
