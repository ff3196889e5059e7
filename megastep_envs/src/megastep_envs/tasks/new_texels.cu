// The new_texels reward (megastep_envs.tasks.explorer.NewTexels) in one launch: one block per env.
// As the reference, a pixel showing a wall texel whose stamp is not its env's episode claims the texel,
// and the first pixel to claim it (the lowest) pays and stamps it with the episode. A texel belongs to one
// env, so claims race only between pixels of one env: a block holds them all, and settles them in a hash
// table of its own, keyed by texel, holding the lowest claiming pixel. The stamps in global memory are
// read once and written once per new texel, with no atomics there and no second read after the claims.

#define ROUND 4
#define EMPTY -1

// Block e pays env e: reward[e * n_agents + a] = (new texels first shown by agent a) * factor, with factor
// scale / agent_pixels. The env's pixels are the P = n_agents * agent_pixels entries from e * P of
// indices and locations (agent a's are [a * agent_pixels, (a + 1) * agent_pixels)).
// Working memory, in shared memory after the n_agents counts (launch with 4 * (n_agents + P + 2 * slots)
// bytes of it), or for envs of too many pixels for that in `scratch` (E * (P + 2 * slots) ints; null for
// shared memory, then launch with 4 * n_agents bytes): the new texel each pixel shows (or EMPTY), then the
// claims table of `slots` entries (a power of two, at least P: room for every pixel's texel; NewTexels gives
// it two slots a pixel, so that probing ends quickly): slots keys, then slots values.
// A wall's texels are looked up per layout (envs of one layout have the same walls and textures): the
// env's line `index` (counted from its first line, the agents' bodies first) is wall env_wall_base[e] +
// index - n_body_lines of wall_first and wall_last (its texels, counted from the env's first wall texel
// env_wall_texels[e]) and wall_along (texels per unit of location along it). These tables are small
// enough to stay in cache, where the same per env line would be a gather from memory per pixel.
extern "C" __global__ void new_texels(
    const long long* __restrict__ indices, const float* __restrict__ locations,
    const int* __restrict__ env_wall_base, const long long* __restrict__ env_wall_texels,
    const int* __restrict__ wall_first, const int* __restrict__ wall_last, const float* __restrict__ wall_along,
    const int* __restrict__ episodes, int* __restrict__ stamps, int* __restrict__ scratch,
    float* __restrict__ reward, int n_agents, int agent_pixels, int n_body_lines, int slots, float factor) {
    extern __shared__ unsigned int shared[];
    int env = blockIdx.x;
    int pixels = n_agents * agent_pixels;
    long long first = (long long)env * pixels;
    int* counts = (int*)shared;
    int* fresh = scratch != nullptr ? scratch + (long long)env * (pixels + 2 * slots) : counts + n_agents;
    int* keys = fresh + pixels;
    int* lowest = keys + slots;
    for (int s = threadIdx.x; s < slots; s += blockDim.x) {
        keys[s] = EMPTY;
        lowest[s] = pixels;
    }
    for (int a = threadIdx.x; a < n_agents; a += blockDim.x) counts[a] = 0;
    int episode = episodes[env];
    long long texel_start = env_wall_texels[env];
    int wall_base = env_wall_base[env] - n_body_lines;

    // Each thread takes ROUND pixels at a time, and issues the loads of all of them before it waits on any:
    // a step's millions of pixels each wait on dependent gathers (the wall, then the stamp of its texel),
    // and with one pixel per thread the kernel was bound by their latency, not by memory bandwidth.
    for (int base = 0; base < pixels; base += ROUND * blockDim.x) {
        long long index[ROUND];
        float location[ROUND];
        long long shown[ROUND];
#pragma unroll
        for (int k = 0; k < ROUND; ++k) {
            int p = base + k * blockDim.x + threadIdx.x;
            index[k] = p < pixels ? indices[first + p] : -1;
            location[k] = p < pixels ? locations[first + p] : 0.f;  // loaded with the index, not after it
        }
#pragma unroll
        for (int k = 0; k < ROUND; ++k) {
            shown[k] = -1;
            if (index[k] >= n_body_lines) {  // not a miss (-1) nor an agent's body
                int wall = wall_base + (int)index[k];
                // as the reference: (location * texels along the line) truncated, within the line's texels
                long long along = (long long)__fmul_rn(location[k], wall_along[wall]);
                shown[k] = texel_start + min((long long)wall_first[wall] + along, (long long)wall_last[wall]);
            }
        }
#pragma unroll
        for (int k = 0; k < ROUND; ++k) {
            int p = base + k * blockDim.x + threadIdx.x;
            // < 2**31: checked by the caller
            if (p < pixels) fresh[p] = shown[k] >= 0 && stamps[shown[k]] != episode ? (int)shown[k] : EMPTY;
        }
    }
    __syncthreads();  // the table is empty and every pixel's texel is in

    // Only the first pixel of a run showing one texel claims it: it is lower than the rest of its run, so
    // the lowest claim is the same, and a near wall's texel, which spans many pixels, takes one claim
    // where each of its pixels' claims would wait on the others' at one slot.
    for (int p = threadIdx.x; p < pixels; p += blockDim.x) {
        int texel = fresh[p];
        if (texel == EMPTY || (p > 0 && fresh[p - 1] == texel)) continue;
        // probing from a multiplicative hash: the runs of consecutive texels that walls show would make
        // long clusters of taken slots from the texel's own number
        for (int s = (int)(((unsigned int)texel * 2654435761u) >> (__clz(slots) + 1));; s = (s + 1) & (slots - 1)) {
            int key = atomicCAS(keys + s, EMPTY, texel);
            if (key == EMPTY || key == texel) {
                atomicMin(lowest + s, p);
                break;
            }
        }
    }
    __syncthreads();  // every claim of the env is in before any is read

    for (int s = threadIdx.x; s < slots; s += blockDim.x) {
        int texel = keys[s];
        if (texel == EMPTY) continue;
        stamps[texel] = episode;
        atomicAdd(counts + lowest[s] / agent_pixels, 1);
    }
    __syncthreads();
    for (int a = threadIdx.x; a < n_agents; a += blockDim.x) {
        reward[env * n_agents + a] = __fmul_rn((float)counts[a], factor);
    }
}
