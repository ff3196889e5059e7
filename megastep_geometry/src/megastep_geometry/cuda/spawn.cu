// The random spawner (megastep_geometry.spawners.RandomSpawner) in one launch, one thread per env.
// It consumes the uniforms the spawner drew with torch and repeats the reference's float32 arithmetic
// operation for operation (each product and sum rounded on its own, whatever the compiler's options), so
// that both paths spawn exactly the same agents.

// The candidate point of a uniform u in [0, 1): (u * count).long().clamp_max(count - 1), as the reference.
__device__ __forceinline__ long long candidate(float u, long long count) {
    long long index = (long long)__fmul_rn(u, (float)count);
    return index < count - 1 ? index : count - 1;
}

// For each masked env: the first of `tries` placements (uniforms (E, T, A)) whose agents are pairwise at
// least sqrt(min_gap2) metres apart, else its geometry's fallback points (G, A, 2); angles in degrees from
// the uniforms (E, A) as u * 360 - 180; velocities zeroed. Unmasked envs are left untouched.
extern "C" __global__ void spawn_random(
    const bool* __restrict__ mask, const float* __restrict__ uniforms, const float* __restrict__ angle_uniforms,
    const float* __restrict__ points, const long long* __restrict__ env_geometry,
    const long long* __restrict__ env_counts, const float* __restrict__ fallback, float* __restrict__ positions,
    float* __restrict__ angles, float* __restrict__ velocity, float* __restrict__ angvelocity,
    int n_envs, int n_agents, int tries, int width, float min_gap2) {
    int env = blockIdx.x * blockDim.x + threadIdx.x;
    if (env >= n_envs || !mask[env]) return;
    long long geometry = env_geometry[env];
    long long count = env_counts[env];
    const float* table = points + geometry * width * 2;  // this geometry's (P, 2) candidates
    const float* drawn = uniforms + (long long)env * tries * n_agents;

    // Points are re-read from the table rather than kept, so that any number of agents needs no local array.
    int chosen = -1;
    for (int t = 0; t < tries && chosen < 0; ++t) {
        const float* u = drawn + t * n_agents;
        bool apart = true;
        for (int i = 0; i < n_agents && apart; ++i) {
            const float* p = table + 2 * candidate(u[i], count);
            for (int j = i + 1; j < n_agents && apart; ++j) {
                const float* q = table + 2 * candidate(u[j], count);
                float dx = __fsub_rn(p[0], q[0]), dy = __fsub_rn(p[1], q[1]);
                apart = __fadd_rn(__fmul_rn(dx, dx), __fmul_rn(dy, dy)) >= min_gap2;
            }
        }
        if (apart) chosen = t;
    }

    for (int a = 0; a < n_agents; ++a) {
        long long agent = (long long)env * n_agents + a;
        const float* point = chosen >= 0 ? table + 2 * candidate(drawn[chosen * n_agents + a], count)
                                         : fallback + (geometry * n_agents + a) * 2;
        positions[2 * agent] = point[0];
        positions[2 * agent + 1] = point[1];
        angles[agent] = __fadd_rn(__fmul_rn(angle_uniforms[agent], 360.0f), -180.0f);
        velocity[2 * agent] = 0.0f;
        velocity[2 * agent + 1] = 0.0f;
        angvelocity[agent] = 0.0f;
    }
}
