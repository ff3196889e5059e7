// Lets a megastep .cu file compile as plain C++ for the CPU, so that its kernels can be checked
// against the torch reference on machines without a GPU (megastep_core.host_kernels builds it).
// A launch runs the blocks one after the other, each with one std::thread per CUDA thread, so
// __syncthreads, shared memory, atomics and warp shuffles behave as on a GPU. Only what
// megastep's kernels use is defined. Build with -std=c++20 -ffp-contract=off (every product
// rounded on its own, as the kernels are compiled without fused multiply-adds where it matters).
#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__
#define __launch_bounds__(threads, blocks)
#define __restrict__ __restrict

struct float4 { float x, y, z, w; };
struct int4 { int x, y, z, w; };
struct int2 { int x, y; };
struct uint3 { unsigned int x, y, z; };

static thread_local uint3 blockIdx, threadIdx;
static uint3 blockDim, gridDim;
unsigned int shared[1 << 16];  // the running block's dynamic shared memory, as render.cu names it
float memory[1 << 16];  // as physics.cu names it
static std::unique_ptr<std::barrier<>> block_barrier;
static std::vector<std::unique_ptr<std::barrier<>>> warp_barriers;
static float warp_slots[32][32];
static std::atomic<int> vote{0};

inline void __syncthreads() { block_barrier->arrive_and_wait(); }
inline float __shfl_sync(unsigned int, float value, int lane) {
    int warp = threadIdx.x / 32;
    warp_slots[warp][threadIdx.x % 32] = value;
    warp_barriers[warp]->arrive_and_wait();
    float out = warp_slots[warp][lane];
    warp_barriers[warp]->arrive_and_wait();
    return out;
}
inline unsigned int atomicOr(unsigned int* address, unsigned int bits) {
    return __atomic_fetch_or(address, bits, __ATOMIC_SEQ_CST);
}
inline void __threadfence() {}  // the atomics below are sequentially consistent
inline int atomicAdd(int* address, int value) { return __atomic_fetch_add(address, value, __ATOMIC_SEQ_CST); }
inline int atomicCAS(int* address, int compare, int value) {
    __atomic_compare_exchange_n(address, &compare, value, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return compare;  // the old value: on failure the exchange wrote it there
}
inline int atomicMin(int* address, int value) {
    int old = __atomic_load_n(address, __ATOMIC_SEQ_CST);
    while (value < old && !__atomic_compare_exchange_n(address, &old, value, false, __ATOMIC_SEQ_CST,
                                                        __ATOMIC_SEQ_CST)) {
    }
    return old;
}
inline int __syncthreads_or(int predicate) {
    __syncthreads();  // the last vote has been read by everyone
    if (predicate) vote.store(1);
    __syncthreads();
    int result = vote.load();
    __syncthreads();
    if (threadIdx.x == 0) vote.store(0);  // nobody votes again before passing the next first barrier
    return result;
}
template <typename T>
inline T __ldg(const T* pointer) { return *pointer; }
inline int __ffs(unsigned int x) { return __builtin_ffs((int)x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned int)x); }
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline int2 make_int2(int x, int y) { return int2{x, y}; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline float __fdividef(float a, float b) { return a / b; }
using std::fabs, std::floor, std::fmod, std::sqrt, std::max, std::min;
inline float fminf(float a, float b) { return std::fmin(a, b); }
inline float fmaxf(float a, float b) { return std::fmax(a, b); }
inline float sqrtf(float a) { return std::sqrt(a); }
inline float fabsf(float a) { return std::fabs(a); }
inline float floorf(float a) { return std::floor(a); }
inline float fmodf(float a, float b) { return std::fmod(a, b); }

// Runs `thread` for every thread of a grid of `grid` blocks of `block` threads.
inline void launch(unsigned int grid, unsigned int block, const std::function<void()>& thread) {
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    for (unsigned int b = 0; b < grid; ++b) {
        block_barrier = std::make_unique<std::barrier<>>(block);
        warp_barriers.clear();
        for (unsigned int w = 0; w < (block + 31) / 32; ++w) {
            warp_barriers.push_back(std::make_unique<std::barrier<>>(std::min(32u, block - 32 * w)));
        }
        std::vector<std::thread> threads;
        for (unsigned int t = 0; t < block; ++t) {
            threads.emplace_back([=, &thread] {
                blockIdx = {b, 0, 0};
                threadIdx = {t, 0, 0};
                thread();
            });
        }
        for (auto& t : threads) t.join();
    }
}
