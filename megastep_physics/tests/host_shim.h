// Lets physics.cu compile as plain C++ for the CPU, so that its kernels can be checked against
// the torch reference on machines without a GPU. A launch runs the blocks one after another,
// each with one std::thread per CUDA thread, so __syncthreads and shared memory behave as on a
// GPU. Only what physics.cu uses is defined. Build with -std=c++20 -ffp-contract=off (every
// product rounded on its own, as the kernels are compiled with --fmad=false).
#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__

struct float4 { float x, y, z, w; };
struct uint3 { unsigned int x, y, z; };

static thread_local uint3 blockIdx, threadIdx;
static uint3 blockDim, gridDim;
float memory[1 << 16];  // the running block's dynamic shared memory
static std::unique_ptr<std::barrier<>> block_barrier;
static std::atomic<int> vote{0};

inline void __syncthreads() { block_barrier->arrive_and_wait(); }

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
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
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
