"""How fast the strip encoders can be: one minibatch step of Explorer's encoders, per way of computing them.

A development tool, not part of the packages: run it on a GPU machine with
``python3 benchmarks/profile_encoder.py --batch 16384``. It builds the strip
encoders of Explorer's preset network, then, for each way of computing the
convolutions (cuDNN with the weights or the flatten in either layout; matrix
products over unfolded windows, also under torch.compile with ``--compiled``;
one product with each layer's dense matrix), times a forward and backward
pass under bfloat16 autocast and counts cuDNN's layout-transpose kernels in one.
"""
from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from megastep_envs.registry import make
from megastep_envs.train.hyperparameters import defaults
from megastep_envs.train.model import StripEncoder


def run_weights_last(encoder: StripEncoder, x: torch.Tensor, flatten_last: bool) -> torch.Tensor:
    """``encoder(x)`` as its GPU path computes it, but with the weights laid out channels last, and optionally the
    flatten too (which orders the features position first, so only its cost compares, not its output)."""
    x = x.reshape(x.shape[0], -1, encoder.shape[-1])[:, :, None].contiguous(memory_format=torch.channels_last)
    for layer in encoder.convolutions:
        if isinstance(layer, nn.Conv1d):
            weight = layer.weight[:, :, None].contiguous(memory_format=torch.channels_last)
            x = nn.functional.conv2d(x, weight, layer.bias, stride=(1, layer.stride[0]), padding=(0, layer.padding[0]))
        elif isinstance(layer, nn.Flatten):
            x = x.permute(0, 2, 3, 1).flatten(1) if flatten_last else x.flatten(1)
        else:
            x = layer(x)
    return x


def run_as_matmuls(encoder: StripEncoder, x: torch.Tensor) -> torch.Tensor:
    """``encoder(x)`` with each convolution as one matrix product over unfolded windows, positions by channels
    (``(B, W, C)``), which a few channels might make cheaper than any of cuDNN's convolution engines."""
    x = x.reshape(x.shape[0], -1, encoder.shape[-1]).transpose(1, 2)  # (B, W, C)
    for layer in encoder.convolutions:
        if isinstance(layer, nn.Conv1d):
            (k,), (stride,), (pad,) = layer.kernel_size, layer.stride, layer.padding
            windows = nn.functional.pad(x, (0, 0, pad, pad)).unfold(1, k, stride)  # (B, W', C, k)
            x = windows.flatten(2) @ layer.weight.flatten(1).T.to(windows.dtype) + layer.bias.to(windows.dtype)
        elif isinstance(layer, nn.Flatten):
            x = x.transpose(1, 2).flatten(1)  # channel, then position, as the 1D convolutions order their features
        else:
            x = layer(x)
    return x


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=16384, help="samples a minibatch")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--compiled", action="store_true", help="also time the matrix products under torch.compile")
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = True
    config = defaults("explorer")
    space = make("explorer", 1, device="cpu").observation_space
    encoders = {key: StripEncoder(box.shape, config.channels).cuda() for key, box in space.items()
                if len(box.shape) >= 2}
    inputs = {key: torch.rand(args.batch, *space[key].shape, device="cuda") for key in encoders}
    print("strips:", {key: tuple(space[key].shape) for key in encoders}, "channels", config.channels)
    layouts = {"channels-last": lambda e, x: e(x, way="channels_last"),
               "weights channels-last": lambda e, x: run_weights_last(e, x, False),
               "weights and flatten channels-last": lambda e, x: run_weights_last(e, x, True),
               "unfold and matmul": run_as_matmuls,
               "dense matrices": lambda e, x: e(x, way="dense")}
    if args.compiled:
        # inductor fuses each product's bias and ReLU into it and may pick its own matmul kernels
        layouts["unfold and matmul, compiled"] = torch.compile(run_as_matmuls, dynamic=False)
    for name, encode in layouts.items():
        def step(encode=encode):
            with torch.autocast("cuda", torch.bfloat16):
                loss = sum(encode(encoders[key], inputs[key]).float().square().mean() for key in encoders)
            loss.backward()

        for _ in range(5):
            step()
        torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(args.repeats):
            step()
        torch.cuda.synchronize()
        milliseconds = (time.perf_counter() - started) / args.repeats * 1e3
        with profile(activities=[ProfilerActivity.CUDA]) as profiler:
            step()
            torch.cuda.synchronize()
        transposes = [e for e in profiler.key_averages() if "nchwToNhwc" in e.key or "nhwcToNchw" in e.key]
        count = sum(e.count for e in transposes)
        transpose_ms = sum(e.device_time_total for e in transposes) / 1e3
        total_ms = sum(e.self_device_time_total for e in profiler.key_averages()) / 1e3
        print(f"{name}: {milliseconds:.2f} ms a step; kernels {total_ms:.2f} ms, of which {count} transposes "
              f"{transpose_ms:.2f} ms")


if __name__ == "__main__":
    main()
