// Every agent's body redrawn in one launch (megastep_core.scenery.draw_bodies): the torch reference,
// scenery.body_lines and its scatter into the lines table, is seven small kernels, and inside a replayed
// CUDA graph each launch costs about 2 us whatever the batch, more than the work itself at small batches.
//
// One thread per body line rather than per agent: each thread writes its line as one 16-byte row, so a
// warp's stores are contiguous; with a thread per agent they are 64 bytes apart, which took 61 us instead of
// 8 us for 65,536 envs of 4 agents on an H100. Recomputing the heading's sine and cosine for each of an
// agent's lines costs nothing next to that.
//
// Bodies are squares inscribed in the agent's disc, front face first, corners counter-clockwise: corner k
// is at heading + 90k - 45 degrees (scenery._corners). Each corner is the one before turned a quarter,
// which in float32 is the exact (x, y) -> (-y, x), and the sums with the centre are rounded on their own
// (no fused multiply-add), so a line ends on exactly the point where the next begins and the square
// closes exactly, as the reference's does.

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
    float s, c;
    sincosf(angles[agent] * 0.017453292f, &s, &c);  // radians as torch.deg2rad makes them, in float32
    // corner 0, radius * (cos, sin)(heading - 45 degrees), then turned to corner m
    float half = agent_radius * 0.70710678f;
    float x = half * (c + s), y = half * (s - c);
    for (int k = 0; k < m; ++k) {
        float turned = -y;
        y = x;
        x = turned;
    }
    float px = positions[2 * agent], py = positions[2 * agent + 1];
    long long row = line_starts[env] + (long long)(agent - env * n_agents) * body_lines_per_agent + m;
    // from corner m to corner m + 1, (-y, x)
    reinterpret_cast<float4*>(lines)[row] =
        make_float4(__fadd_rn(px, x), __fadd_rn(py, y), __fsub_rn(px, y), __fadd_rn(py, x));
}
