import pytest
import torch

from megastep_core import KernelError
from megastep_core.kernels import _argument, cupy_unavailable_reason, kernel_signatures, read_source, written_parameters


def test_unavailable_reason_is_none_or_explains():
    reason = cupy_unavailable_reason()
    if torch.cuda.is_available():
        pytest.skip("CUDA is here")
    assert reason and ("CuPy" in reason or "GPU" in reason)


def test_cpu_tensors_are_refused():
    with pytest.raises(KernelError, match="CUDA tensors"):
        _argument(torch.zeros(3))


def test_missing_source_is_a_clear_error():
    with pytest.raises(KernelError, match="missing from package"):
        read_source("megastep_core", "no_such_kernel.cu")


def test_the_parameters_a_kernel_may_write_are_its_non_const_pointers():
    source = """
    extern "C" __global__ void __launch_bounds__(256) step(const float* __restrict__ x, float* __restrict__ y,
                                                           const long long* n, bool* flags, float a, int count) {
    }"""
    assert written_parameters(source, "step") == (False, True, False, True, False, False)
    with pytest.raises(KernelError, match="no kernel 'other'"):
        written_parameters(source, "other")


def test_kernels_may_share_a_parameter_list_through_a_macro():
    source = r"""
#define SHARED const float* __restrict__ x, \
    float* __restrict__ y
    extern "C" __global__ void first(SHARED, int n) {}
    extern "C" __global__ void __launch_bounds__(256, 1) second(SHARED, bool* flags, float a) {}"""
    assert kernel_signatures(source) == [
        ("first", "const float* __restrict__ x, float* __restrict__ y, int n"),
        ("second", "const float* __restrict__ x, float* __restrict__ y, bool* flags, float a")]
    assert written_parameters(source, "second") == (False, True, True, False)


@pytest.mark.gpu
def test_a_kernel_runs_on_torch_tensors_on_torch_stream(tmp_path, monkeypatch):
    import megastep_core.kernels as kernels

    source = r"""
    extern "C" __global__ void axpy(const float* x, float* y, float a, int n) {
        int i = blockIdx.x * blockDim.x + threadIdx.x;
        if (i < n) y[i] += a * x[i];
    }"""
    monkeypatch.setattr(kernels, "read_source", lambda package, filename: source)
    kernels.load_module.cache_clear()
    axpy = kernels.kernel("megastep_core", "axpy.cu", "axpy")
    x = torch.arange(1000, device="cuda", dtype=torch.float32)
    y = torch.ones(1000, device="cuda")
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        axpy((1000 + 255) // 256, 256, x, y, 2.0, 1000)
    stream.synchronize()
    assert torch.equal(y, 1 + 2 * x)
    versions = x._version, y._version
    axpy((1000 + 255) // 256, 256, x, y, 2.0, 1000)
    assert (x._version, y._version) == (versions[0], versions[1] + 1)  # what it wrote counts as changed
    kernels.load_module.cache_clear()


def test_load_kernels_runs_the_torch_references_off_cuda_and_checks_they_exist():
    import types

    from megastep_core.kernels import load_kernels

    references = types.SimpleNamespace(draw_bodies=lambda: None)
    kernels = load_kernels("megastep_core.cuda", "bodies.cu", ["draw_bodies"], device="cpu", references=references)
    assert (kernels.implementation, bool(kernels), kernels.as_dict()) == ("torch", False, None)
    with pytest.raises(KernelError, match="was not compiled: these kernels run as their torch references"):
        kernels["draw_bodies"]
    with pytest.raises(KernelError, match="no torch reference of the same name"):
        load_kernels("megastep_core.cuda", "bodies.cu", ["draw_bodies"], device="cpu",
                     references=types.SimpleNamespace())
    with pytest.raises(ValueError, match="cannot run here: the world is not on a CUDA device"):
        load_kernels("megastep_core.cuda", "bodies.cu", ["draw_bodies"], device="cpu", implementation="cuda")


def test_the_old_kernel_names_warn_where_they_are_imported():
    import megastep_core.kernels as kernels

    with pytest.warns(DeprecationWarning, match="optional_kernels is deprecated: use load_kernels"):
        optional = kernels.optional_kernels
    assert optional("auto", "cpu", "megastep_core.cuda", "bodies.cu", ["draw_bodies"], "backend") is None
    with pytest.warns(DeprecationWarning, match="BACKENDS is deprecated: use IMPLEMENTATIONS"):
        assert kernels.BACKENDS == ("auto", "torch", "cuda")
