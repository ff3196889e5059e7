// The new_texels reward (megastep_envs.rewards.NewTexels) in two passes over the pixels, one thread each.
// As the reference: a pixel showing a wall texel whose stamp is not its env's episode claims the texel
// with an atomic minimum of (pixel - P) < 0; the pixel whose claim stays is the first to show the texel,
// pays, and stamps it with the episode. Only the winner writes in the second pass, so a loser reads either
// a claim or the episode, never its own claim: no barrier is needed between reads and the write.

// Pass 1: the texel each pixel shows, and a claim on it if it is new; claimed[p] is the texel or -1.
extern "C" __global__ void claim_texels(
    const long long* __restrict__ indices, const float* __restrict__ locations,
    const long long* __restrict__ line_starts, const long long* __restrict__ line_texels,
    const float* __restrict__ texels_along, const int* __restrict__ episodes, int* __restrict__ stamps,
    int* __restrict__ claimed, int n_envs, int pixels, int n_body_lines) {
    int p = blockIdx.x * blockDim.x + threadIdx.x;  // E * P < 2**31: checked by the caller
    if (p >= n_envs * pixels) return;
    int env = p / pixels;
    long long index = indices[p];
    if (index < n_body_lines) {  // a miss (-1) or an agent's body
        claimed[p] = -1;
        return;
    }
    long long line = line_starts[env] + index;
    // as the reference: (location * texels along the line) truncated, within the line's texels
    long long along = (long long)__fmul_rn(locations[p], texels_along[line]);
    long long texel = min(line_texels[2 * line] + along, line_texels[2 * line + 1]);
    if (stamps[texel] == episodes[env]) {
        claimed[p] = -1;
        return;
    }
    atomicMin(stamps + texel, p - env * pixels - pixels);
    claimed[p] = (int)texel;
}

// Pass 2: the pixel that finds its own claim pays and stamps the texel with the episode.
extern "C" __global__ void pay_texels(
    const int* __restrict__ claimed, const int* __restrict__ episodes, int* __restrict__ stamps,
    bool* __restrict__ paid, int n_envs, int pixels) {
    int p = blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= n_envs * pixels) return;
    int texel = claimed[p];
    int env = p / pixels;
    bool wins = texel >= 0 && stamps[texel] == p - env * pixels - pixels;
    if (wins) stamps[texel] = episodes[env];
    paid[p] = wins;
}
