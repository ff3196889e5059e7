// The RGB and Depth observations (megastep_envs.modules.observations) in one pass over the render each, one thread
// per observed pixel: torch's reshape-mean-map chain reads and writes the full-width image several times.
// A view is one camera of one agent (V = E * A * C of them, V / E per env); an observed pixel averages
// `subsample` neighbouring rays, as the torch reference does (sum, then divide by the count).
// A null env mask observes every env into `out`. With a mask, `out` already holds this step's observation
// and only the envs where the mask is set are observed again, in place, after their old pixels are moved to
// `final`; every other thread leaves at once. That is how a step shows the first frame of the envs that just
// reset and keeps their last one, at the cost of those envs' pixels rather than a copy of every env's.

// screen (V, R, 3) -> out (V, 3, W), R = W * subsample: channels before pixels, as RGB returns them.
extern "C" __global__ void observe_rgb(
    const float* __restrict__ screen, const bool* __restrict__ env_mask, float* __restrict__ final,
    float* __restrict__ out, int n_views, int views_per_env, int pixels, int subsample) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;  // V * W < 2**31: the renderer checks V * R
    if (i >= n_views * pixels) return;
    int view = i / pixels, w = i % pixels;
    long long first = (long long)view * 3 * pixels + w;  // channel 0 of this pixel in out and final
    if (env_mask != nullptr) {
        if (!env_mask[view / views_per_env]) return;
        for (int c = 0; c < 3; ++c) final[first + c * pixels] = out[first + c * pixels];
    }
    const float* rays = screen + (long long)i * subsample * 3;
    float sum[3] = {0.0f, 0.0f, 0.0f};
    for (int s = 0; s < subsample; ++s) {
        for (int c = 0; c < 3; ++c) sum[c] += rays[3 * s + c];
    }
    for (int c = 0; c < 3; ++c) out[first + c * pixels] = __fdiv_rn(sum[c], (float)subsample);
}

// distances (V, R) metres -> out (V, W): the mean of the distances clamped to [near, max_depth], mapped
// linearly to 1 at near and 0 at max_depth (a miss is +inf metres, which clamps to max_depth).
extern "C" __global__ void observe_depth(
    const float* __restrict__ distances, const bool* __restrict__ env_mask, float* __restrict__ final,
    float* __restrict__ out, int n_views, int views_per_env, int pixels, int subsample, float near,
    float max_depth) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n_views * pixels) return;
    if (env_mask != nullptr) {
        if (!env_mask[i / pixels / views_per_env]) return;
        final[i] = out[i];
    }
    const float* rays = distances + (long long)i * subsample;
    float sum = 0.0f;
    for (int s = 0; s < subsample; ++s) sum += fminf(fmaxf(rays[s], near), max_depth);
    float mean = __fdiv_rn(sum, (float)subsample);
    out[i] = __fdiv_rn(max_depth - mean, max_depth - near);
}

// The IMU of every agent (n of them): out (n, 3) = the angle it turned in the last move, wrapped to [-180, 180)
// degrees, in radians per second, then how far it moved (positions - moved_from, world frame), in metres per
// second turned into the frame of an agent now facing `angles` degrees (forward, leftward), as to_agent_frame.
extern "C" __global__ void observe_imu(
    const float* __restrict__ positions, const float* __restrict__ moved_from, const float* __restrict__ angles,
    const float* __restrict__ turned_from, float per_second, float* __restrict__ out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float to_radians = 0.017453292519943295f;
    float sin_a, cos_a;
    sincosf(angles[i] * to_radians, &sin_a, &cos_a);
    float turn = angles[i] - turned_from[i];
    turn -= 360.0f * floorf((turn + 180.0f) / 360.0f);
    float x = (positions[2 * i] - moved_from[2 * i]) * per_second;
    float y = (positions[2 * i + 1] - moved_from[2 * i + 1]) * per_second;
    out[3 * i] = turn * to_radians * per_second;
    out[3 * i + 1] = x * cos_a + y * sin_a;
    out[3 * i + 2] = y * cos_a - x * sin_a;
}

// The IMU refreshed in the envs where env_mask is set, whose n agents (agents_per_env an env) have just spawned:
// their poses are marked (moved_from, turned_from) and they read zeros; their old readings move into final.
extern "C" __global__ void refresh_imu(
    const bool* __restrict__ env_mask, const float* __restrict__ positions, const float* __restrict__ angles,
    float* __restrict__ moved_from, float* __restrict__ turned_from, float* __restrict__ observation,
    float* __restrict__ final, int n, int agents_per_env) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n || !env_mask[i / agents_per_env]) return;
    moved_from[2 * i] = positions[2 * i];
    moved_from[2 * i + 1] = positions[2 * i + 1];
    turned_from[i] = angles[i];
    for (int k = 0; k < 3; ++k) {
        final[3 * i + k] = observation[3 * i + k];
        observation[3 * i + k] = 0.0f;
    }
}
