// Agents' bodies as line segments, shared by the kernels that draw them: bodies.cu redraws every body, and
// a spawner's kernel (megastep_geometry's spawn.cu) draws those of the agents it places in the same launch.
//
// Bodies are squares inscribed in the agent's disc, front face first, corners counter-clockwise: corner k
// is at heading + 90k - 45 degrees (scenery._corners). Each corner is the one before turned a quarter,
// which in float32 is the exact (x, y) -> (-y, x), and the sums with the centre are rounded on their own
// (no fused multiply-add), so a line ends on exactly the point where the next begins and the square
// closes exactly, as the reference's does.

// Line m (0 to 3) of the body of an agent at (px, py) metres facing `degrees`: (x0, y0, x1, y1), from corner m
// to corner m + 1, as scenery.body_lines makes it.
__device__ __forceinline__ float4 body_line(float px, float py, float degrees, float agent_radius, int m) {
    float s, c;
    sincosf(degrees * 0.017453292f, &s, &c);  // radians as torch.deg2rad makes them, in float32
    // corner 0, radius * (cos, sin)(heading - 45 degrees), then turned to corner m
    float half = agent_radius * 0.70710678f;
    float x = half * (c + s), y = half * (s - c);
    for (int k = 0; k < m; ++k) {
        float turned = -y;
        y = x;
        x = turned;
    }
    // from corner m to corner m + 1, (-y, x)
    return make_float4(__fadd_rn(px, x), __fadd_rn(py, y), __fsub_rn(px, y), __fadd_rn(py, x));
}
