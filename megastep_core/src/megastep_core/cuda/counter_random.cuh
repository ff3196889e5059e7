// Counter-based uniform numbers (megastep_core.random), the same in a kernel as in torch.
// Number `draw` of env `env` at its `counter`-th use is a hash of (key, env, counter, draw): no generator
// state to keep, so nothing for a CUDA graph to refill before each replay. A kernel that draws for an env
// advances that env's counter itself. Included into a kernel's source by megastep_core.kernels.read_source.

// A 32-bit integer hash whose every output bit depends on every input bit (shift-multiply rounds).
__device__ __forceinline__ unsigned int mix32(unsigned int x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

// A uniform float in [0, 1) with 24 random bits, exactly as megastep_core.random.counter_uniforms makes it.
__device__ __forceinline__ float counter_uniform(unsigned int key, long long env, long long counter,
                                                 unsigned int draw) {
    unsigned int h = mix32(key ^ (unsigned int)env);
    h = mix32(h ^ (unsigned int)counter);
    h = mix32(h ^ draw);
    return (float)(h >> 8) * 5.9604644775390625e-08f;  // 2^-24: exact, so no rounding differs from torch
}
