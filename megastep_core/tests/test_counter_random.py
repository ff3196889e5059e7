"""Counter-based random numbers: the CUDA header's hash (compiled for the CPU) against the torch reference."""
import numpy as np
import pytest
import torch

from megastep_core.host_kernels import HostKernel, library_or_skip
from megastep_core.random import CounterRandom, counter_key, counter_uniforms, mix32

SOURCE = '''
#include "megastep_core/counter_random.cuh"
extern "C" __global__ void draw(const long long* counters, float* out, unsigned int key, int n_envs, int draws) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n_envs * draws) return;
    out[i] = counter_uniform(key, i / draws, counters[i / draws], (unsigned int)(i % draws));
}
'''


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return library_or_skip("megastep_core.cuda", "counter_random_test.cu", tmp_path_factory.mktemp("k"), SOURCE)


def test_the_kernel_draws_what_torch_draws(library):
    counters = torch.tensor([0, 1, 7, 2**31 + 5, 2**40 + 3, 12345], dtype=torch.int64)
    key = counter_key(3, "spawn")
    out = torch.full((6, 37), -1.0)
    HostKernel(library, "draw")(1, 6 * 37, counters, out, np.uint32(key), 6, 37)
    assert torch.equal(out, counter_uniforms(key, counters, 37))


def test_mix32_matches_plain_integer_arithmetic():
    def reference(x):
        x ^= x >> 16
        x = (x * 0x7FEB352D) % 2**32
        x ^= x >> 15
        x = (x * 0x846CA68B) % 2**32
        return x ^ (x >> 16)

    values = [0, 1, 2**31, 2**32 - 1, 0xDEADBEEF, 123456789]
    assert [mix32(v) for v in values] == [reference(v) for v in values]
    assert mix32(torch.tensor(values)).tolist() == [reference(v) for v in values]


def test_numbers_are_uniform_and_independent_across_envs_counters_and_purposes():
    random = CounterRandom(0, "lifespan", 4096)
    first = random.uniforms(8)
    second = random.uniforms(8)
    assert first.dtype == torch.float32 and (first >= 0).all() and (first < 1).all()
    assert abs(first.mean().item() - 0.5) < 0.01 and abs(first.std().item() - 12**-0.5) < 0.01
    assert (first != second).float().mean() > 0.999  # the counter moved on
    assert (first[:, 0] != first[:, 1]).float().mean() > 0.999  # draws within an env differ
    other = CounterRandom(0, "spawn", 4096).uniforms(8)
    assert abs(np.corrcoef(first.flatten(), other.flatten())[0, 1]) < 0.02
    assert counter_key(0, "spawn") != counter_key(1, "spawn")


def test_only_masked_envs_advance():
    random = CounterRandom(1, "x", 4)
    random.uniforms(2, torch.tensor([True, False, True, False]))
    assert random.counters.tolist() == [1, 0, 1, 0]


@pytest.mark.gpu
def test_the_cuda_kernel_draws_what_torch_draws():
    cupy = pytest.importorskip("cupy", reason="compiling the kernel needs CuPy (NVRTC)")
    from megastep_core.kernels import DEFAULT_OPTIONS, expand_headers

    draw = cupy.RawModule(code=expand_headers(SOURCE), options=DEFAULT_OPTIONS).get_function("draw")  # as kernels
    counters = torch.tensor([0, 1, 7, 2**31 + 5, 2**40 + 3, 12345], dtype=torch.int64, device="cuda")
    out = torch.full((6, 37), -1.0, device="cuda")
    key = counter_key(3, "spawn")
    torch.cuda.synchronize()
    draw((1,), (6 * 37,), (cupy.asarray(counters), cupy.asarray(out), np.uint32(key), np.int32(6), np.int32(37)))
    cupy.cuda.runtime.deviceSynchronize()
    assert torch.equal(out, counter_uniforms(key, counters, 37))
