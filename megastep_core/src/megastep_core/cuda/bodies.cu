// Every agent's body redrawn in one launch (megastep_core.scenery.draw_bodies): the torch reference,
// scenery.body_lines and its scatter into the lines table, is seven small kernels, and a launch costs more
// than the work itself at small batches.
//
// One thread per body line rather than per agent: each thread writes its line as one 16-byte row, so a
// warp's stores are contiguous (a thread per agent writes them 64 bytes apart, several times slower; the
// performance docs have the figures). Recomputing the heading's sine and cosine for each of an agent's
// lines costs nothing next to that.

#include "megastep_core/bodies.cuh"

// positions (E, A, 2) metres and angles (E, A) degrees of every agent; line_starts (E,) the first row of
// each env's lines in lines (L, 2, 2) metres, whose first A * M rows are the bodies, agent 0's first, and
// whose rows start on 16-byte boundaries. body_lines_per_agent is M; only squares are drawn, so it must
// be 4 (as draw_bodies checks).
extern "C" __global__ void draw_bodies(
    const float* __restrict__ positions, const float* __restrict__ angles,
    const long long* __restrict__ line_starts, float* __restrict__ lines, float agent_radius, int n_envs,
    int n_agents, int body_lines_per_agent) {
    int line = blockIdx.x * blockDim.x + threadIdx.x;  // (env * n_agents + agent) * M + the line's index
    if (line >= n_envs * n_agents * body_lines_per_agent) return;
    int agent = line / body_lines_per_agent;  // env * n_agents + the agent's index in its env
    int m = line - agent * body_lines_per_agent;
    int env = agent / n_agents;
    long long row = line_starts[env] + (long long)(agent - env * n_agents) * body_lines_per_agent + m;
    reinterpret_cast<float4*>(lines)[row] =
        body_line(positions[2 * agent], positions[2 * agent + 1], angles[agent], agent_radius, m);
}
