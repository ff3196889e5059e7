// The new_texels reward (megastep_envs.rewards.NewTexels) in one launch: one block per env.
// As the reference: a pixel showing a wall texel whose stamp is not its env's episode claims the texel
// with an atomic minimum of (pixel - P) < 0; the pixel whose claim stays is the first to show the texel,
// pays, and stamps it with the episode. A texel belongs to one env, so claims race only between pixels
// of one env: a block holds them all, and a __syncthreads() between claiming and paying replaces a
// second launch. Only the winner writes while paying, so a loser reads either a claim or the episode,
// never its own claim: no barrier is needed between the reads and the writes of the second pass.

#define ROUND 4

// The sum of `value` over the block (blockDim.x a power of two), in thread 0; `partial` holds blockDim.x
// words. The count is summed in shared memory rather than with atomicAdd, which the host shim lacks.
__device__ unsigned int block_sum(unsigned int value, unsigned int* partial) {
    partial[threadIdx.x] = value;
    __syncthreads();
    for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
        __syncthreads();
    }
    // only thread 0 reads partial[0] now, and only it writes that word next: the next sum needs no barrier first
    return partial[0];
}

// Block e pays env e: reward[e * n_agents + a] = (pixels of agent a that pay) * factor, with factor
// scale / agent_pixels. The env's pixels are the P = n_agents * agent_pixels entries from e * P of
// indices and locations (agent a's are [a * agent_pixels, (a + 1) * agent_pixels)). The texel each
// pixel claimed (or -1) is kept between the passes in shared memory, after the blockDim.x words of the
// sums: launch with 4 * (blockDim.x + P) bytes of it. Or, for envs of too many pixels for that, in
// `scratch` (E * P ints; null for shared memory), with 4 * blockDim.x bytes.
// A wall's texels are looked up per layout (envs of one layout have the same walls and textures): wall w
// of layout g is entry layout_walls[g] + w of wall_first and wall_last (its texels, counted from the env's
// first wall texel env_wall_texels[e]) and wall_along (texels per unit of location along it). These tables
// are small enough to stay in cache, where the same per env line would be a gather from memory per pixel.
extern "C" __global__ void new_texels(
    const long long* __restrict__ indices, const float* __restrict__ locations,
    const long long* __restrict__ env_layout, const long long* __restrict__ env_wall_texels,
    const int* __restrict__ layout_walls, const int* __restrict__ wall_first, const int* __restrict__ wall_last,
    const float* __restrict__ wall_along, const int* __restrict__ episodes, int* __restrict__ stamps,
    int* __restrict__ scratch, float* __restrict__ reward, int n_agents, int agent_pixels, int n_body_lines,
    float factor) {
    extern __shared__ unsigned int shared[];
    int env = blockIdx.x;
    int pixels = n_agents * agent_pixels;
    long long first = (long long)env * pixels;
    int episode = episodes[env];
    int* claimed = scratch != nullptr ? scratch + first : (int*)shared + blockDim.x;

    // Each thread takes ROUND pixels at a time, and issues the loads of all of them before it waits on any:
    // a step's millions of pixels each wait on dependent gathers (the wall, then the stamp of its texel),
    // and with one pixel per thread the kernel was bound by their latency, not by memory bandwidth.
    long long texel_start = env_wall_texels[env];
    int wall_base = layout_walls[env_layout[env]] - n_body_lines;
    for (int base = 0; base < pixels; base += ROUND * blockDim.x) {
        long long shown[ROUND];
        int stamp[ROUND];
#pragma unroll
        for (int k = 0; k < ROUND; ++k) {
            int p = base + k * blockDim.x + threadIdx.x;
            long long index = p < pixels ? indices[first + p] : -1;
            shown[k] = -1;
            if (index >= n_body_lines) {  // not a miss (-1) nor an agent's body
                int wall = wall_base + (int)index;
                // as the reference: (location * texels along the line) truncated, within the line's texels
                long long along = (long long)__fmul_rn(locations[first + p], wall_along[wall]);
                shown[k] = texel_start + min((long long)wall_first[wall] + along, (long long)wall_last[wall]);
            }
        }
#pragma unroll
        for (int k = 0; k < ROUND; ++k) stamp[k] = shown[k] >= 0 ? stamps[shown[k]] : episode;
#pragma unroll
        for (int k = 0; k < ROUND; ++k) {
            int p = base + k * blockDim.x + threadIdx.x;
            if (p >= pixels) break;
            int texel = -1;
            if (stamp[k] != episode) {  // as the reference, the stamp read before any claim is made
                atomicMin(stamps + shown[k], p - pixels);
                texel = (int)shown[k];  // < 2**31: checked by the caller
            }
            claimed[p] = texel;
        }
    }
    __syncthreads();  // every claim of the env is in before any is read

    for (int a = 0; a < n_agents; ++a) {
        unsigned int count = 0;
        for (int p = a * agent_pixels + threadIdx.x; p < (a + 1) * agent_pixels; p += blockDim.x) {
            int texel = claimed[p];
            if (texel >= 0 && stamps[texel] == p - pixels) {
                stamps[texel] = episode;
                ++count;
            }
        }
        unsigned int paid = block_sum(count, shared);
        if (threadIdx.x == 0) reward[env * n_agents + a] = __fmul_rn((float)paid, factor);
    }
}
