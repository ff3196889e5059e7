// The random spawner (megastep_geometry.spawners.RandomSpawner) in one launch, one thread per env.
// It hashes its own counter-based uniforms (megastep_core.random: the same numbers as the reference's) and
// repeats the reference's float32 arithmetic operation for operation (each product and sum rounded on its
// own, whatever the compiler's options), so that both paths spawn exactly the same agents.

#include "megastep_core/bodies.cuh"
#include "megastep_core/counter_random.cuh"

// The candidate point of a uniform u in [0, 1): (u * count).long().clamp_max(count - 1), as the reference.
__device__ __forceinline__ long long candidate(float u, long long count) {
    long long index = (long long)__fmul_rn(u, (float)count);
    return index < count - 1 ? index : count - 1;
}

// Whether two points are at least sqrt(min_gap2) apart: (p - q)^2 summed, each step rounded as in torch.
__device__ __forceinline__ bool apart(const float* p, const float* q, float min_gap2) {
    float dx = __fsub_rn(p[0], q[0]), dy = __fsub_rn(p[1], q[1]);
    return __fadd_rn(__fmul_rn(dx, dx), __fmul_rn(dy, dy)) >= min_gap2;
}

// Places the masked agents of each env, as RandomSpawner's torch reference does:
// - mask is (E,) bool with agent_stride 0 (every agent of those envs: read without expanding it on the host)
//   or (E, A) bool with agent_stride 1 (just those agents);
// - the env's uniforms are numbers of counter_uniform(key, env, counters[env], draw): draw t * A + a is agent
//   a's candidate point in try t, draw T * A + a its angle; counters[env] is advanced by one where any agent
//   is masked, and left alone elsewhere;
// - tries t = 0, 1, ... in order; a try is good when each masked agent's candidate point is at least
//   sqrt(min_gap2) metres from the other masked agents' candidates and from the unmasked agents' current
//   positions (two unmasked agents are not compared: they are not this call's business);
// - the first good try is taken; with none, an env whose agents are all masked takes its geometry's fallback
//   points (G, A, 2), and any other env places no one (its caller asks again next step);
// - placed agents get angles u * 360 - 180 degrees and zero velocities;
// - and, unless lines is null, their bodies drawn as draw_bodies draws them (bodies.cuh: line_starts (E,) the
//   first row of each env's lines, body_lines rows per agent), which saves the step a launch that redraws
//   every body after the spawn.
// placed (E, A) is written for every env, False where an agent was not placed, so it needs no zero fill.
extern "C" __global__ void spawn_random(
    const bool* __restrict__ mask, int agent_stride, long long* __restrict__ counters, unsigned int key,
    const float* __restrict__ points,
    const long long* __restrict__ env_geometry, const long long* __restrict__ env_counts,
    const float* __restrict__ fallback, float* __restrict__ positions, float* __restrict__ angles,
    float* __restrict__ velocity, float* __restrict__ angvelocity, bool* __restrict__ placed,
    const long long* __restrict__ line_starts, float* __restrict__ lines, float agent_radius, int body_lines,
    int n_envs, int n_agents, int tries, int width, float min_gap2) {
    int env = blockIdx.x * blockDim.x + threadIdx.x;
    if (env >= n_envs) return;
    const bool* moves = mask + (long long)env * (agent_stride ? n_agents : 1);  // agent a's flag: moves[a * stride]
    const float* here = positions + (long long)env * n_agents * 2;                // (A, 2), where they stand now
    bool any = false, all = true;
    for (int a = 0; a < n_agents; ++a) {
        any |= moves[a * agent_stride];
        all &= moves[a * agent_stride];
    }
    if (!any) {  // nothing to place, but placed is still written
        for (int a = 0; a < n_agents; ++a) placed[(long long)env * n_agents + a] = false;
        return;
    }
    long long geometry = env_geometry[env];
    long long count = env_counts[env];
    const float* table = points + geometry * width * 2;  // this geometry's (P, 2) candidates
    long long counter = counters[env];
    counters[env] = counter + 1;
    // Number `draw` of this env's uniforms, hashed where it is needed.
    auto uniform = [&](int draw) { return counter_uniform(key, env, counter, (unsigned int)draw); };

    // Points are re-hashed and re-read from the table rather than kept, so that any number of agents needs no
    // local array.
    int chosen = -1;
    for (int t = 0; t < tries && chosen < 0; ++t) {
        bool good = true;
        for (int i = 0; i < n_agents && good; ++i) {
            bool i_moves = moves[i * agent_stride];
            const float* p = i_moves ? table + 2 * candidate(uniform(t * n_agents + i), count) : here + 2 * i;
            for (int j = i + 1; j < n_agents && good; ++j) {
                bool j_moves = moves[j * agent_stride];
                if (!i_moves && !j_moves) continue;
                const float* q = j_moves ? table + 2 * candidate(uniform(t * n_agents + j), count) : here + 2 * j;
                good = apart(p, q, min_gap2);
            }
        }
        if (good) chosen = t;
    }

    bool place = chosen >= 0 || all;  // the fallback points are apart only as a whole env's set
    for (int a = 0; a < n_agents; ++a) {
        long long agent = (long long)env * n_agents + a;
        bool mine = place && moves[a * agent_stride];
        placed[agent] = mine;
        if (!mine) continue;
        const float* point = chosen >= 0 ? table + 2 * candidate(uniform(chosen * n_agents + a), count)
                                         : fallback + (geometry * n_agents + a) * 2;
        float angle = __fadd_rn(__fmul_rn(uniform(tries * n_agents + a), 360.0f), -180.0f);
        positions[2 * agent] = point[0];
        positions[2 * agent + 1] = point[1];
        angles[agent] = angle;
        velocity[2 * agent] = 0.0f;
        velocity[2 * agent + 1] = 0.0f;
        angvelocity[agent] = 0.0f;
        if (lines == nullptr) continue;
        float4* body = reinterpret_cast<float4*>(lines) + line_starts[env] + (long long)a * body_lines;
        for (int m = 0; m < body_lines; ++m) body[m] = body_line(point[0], point[1], angle, agent_radius, m);
    }
}
