// megastep's physics as CUDA kernels: `stop_step` (backend `cuda`) and `slide_step` (`cuda_slide`).
//
// Each is one fused kernel per step, one thread per agent. They compute, operation for
// operation, what the torch functions of the same names in megastep_physics/steps.py compute
// (the algorithm is explained there and in sweep.py and paths.py); compile with --fmad=false so
// that no multiply-add is fused and the roundings match torch's.
//
// Layout: a block holds whole envs, `A` consecutive threads per env. Envs are visited in
// `env_order` (sorted by geometry), so the threads of a warp mostly read the same walls.
// Agents of one env meet in shared memory, where each keeps its path: `P` breakpoints of
// time, position and velocity after the breakpoint.

#define INF __int_as_float(0x7f800000)

struct Walls {
    const float4* walls;          // (N,) ax, ay, ux, uy
    const float* lengths;         // (N,) metres
    const int* geometry_starts;   // (G + 1,)
    const int* env_geometry;      // (E,)
    int has_grid;
    const float* grid_origins;    // (G, 2)
    const int* grid_shapes;       // (G, 2)
    const int* grid_starts;       // (G,)
    const int* cell_starts;       // (C + 1,)
    const int* cell_walls;        // (M,)
    float cell;                   // metres
    float reach_limit;            // metres: REACH - REACH_SLACK
};

struct Radii {
    float wall_stop, wall_hit, agent_stop, agent_hit;
};

// ---- sweep.py -------------------------------------------------------------------------------

__device__ __forceinline__ float disc_entry(float b, float qq, float dd, float radius) {
    float c = qq - radius * radius;
    float disc = b * b - dd * c;
    if (c <= 0.f) return 0.f;
    if (b < 0.f && disc >= 0.f) return c / (sqrtf(fmaxf(disc, 0.f)) - b);
    return INF;
}

__device__ __forceinline__ float face_entry(float side_h0, float side_hd, bool in_extent, float along0,
                                            float alongd, float length, float radius) {
    if (side_h0 < radius && in_extent) return 0.f;
    if (side_h0 >= radius && side_hd < 0.f) {
        float t = (side_h0 - radius) / -side_hd;
        float along = along0 + t * alongd;
        if (along >= 0.f && along <= length) return t;
    }
    return INF;
}

// wall_stop_times for one wall
__device__ float wall_stop_time(float px, float py, float dx, float dy, float dd, float4 w, float length,
                                float stop_radius, float hit_radius) {
    float wx = px - w.x, wy = py - w.y;
    float along0 = wx * w.z + wy * w.w;
    float h0 = wy * w.z - wx * w.w;
    float alongd = dx * w.z + dy * w.w;
    float hd = dy * w.z - dx * w.w;
    float side_h0 = fabsf(h0);
    float side_hd = h0 >= 0.f ? hd : -hd;
    bool in_extent = along0 >= 0.f && along0 <= length;
    float b_first = wx * dx + wy * dy;
    float qq_first = wx * wx + wy * wy;
    float bx = wx - length * w.z, by = wy - length * w.w;
    float b_second = bx * dx + by * dy;
    float qq_second = bx * bx + by * by;

    float hit_entry = fminf(fminf(face_entry(side_h0, side_hd, in_extent, along0, alongd, length, hit_radius),
                                  disc_entry(b_first, qq_first, dd, hit_radius)),
                            disc_entry(b_second, qq_second, dd, hit_radius));
    bool hit;
    if (hit_entry == 0.f) {
        float nearest = fminf(fmaxf(along0, 0.f), length);
        hit = b_first - nearest * alongd < 0.f;
    } else {
        hit = hit_entry <= 1.f;
    }
    if (!hit) return INF;
    return fminf(fminf(face_entry(side_h0, side_hd, in_extent, along0, alongd, length, stop_radius),
                       disc_entry(b_first, qq_first, dd, stop_radius)),
                 disc_entry(b_second, qq_second, dd, stop_radius));
}

__device__ __forceinline__ float disc_stop_time(float qx, float qy, float dqx, float dqy, float stop_radius,
                                                float hit_radius) {
    float b = qx * dqx + qy * dqy;
    float qq = qx * qx + qy * qy;
    float dd = dqx * dqx + dqy * dqy;
    float hit_entry = disc_entry(b, qq, dd, hit_radius);
    bool hit = hit_entry == 0.f ? b < 0.f : hit_entry <= 1.f;
    return hit ? disc_entry(b, qq, dd, stop_radius) : INF;
}

// ---- candidates.py: which walls an agent tests ----------------------------------------------

struct WallRange {
    const int* list;  // indices into walls, or null for the contiguous range [first, last)
    int first, last;
};

__device__ WallRange candidate_walls(const Walls& walls, int geometry, float px, float py, float reach) {
    WallRange range;
    range.list = nullptr;
    if (walls.has_grid && reach <= walls.reach_limit) {
        float ox = walls.grid_origins[2 * geometry], oy = walls.grid_origins[2 * geometry + 1];
        int nx = walls.grid_shapes[2 * geometry], ny = walls.grid_shapes[2 * geometry + 1];
        float fx = floorf((px - ox) / walls.cell), fy = floorf((py - oy) / walls.cell);
        range.first = range.last = 0;
        // outside the grid an agent is farther than its reach from every wall
        if (fx >= 0.f && fy >= 0.f && fx < (float)nx && fy < (float)ny) {
            int cell = walls.grid_starts[geometry] + (int)fy * nx + (int)fx;
            range.list = walls.cell_walls;
            range.first = walls.cell_starts[cell];
            range.last = walls.cell_starts[cell + 1];
        }
        return range;
    }
    range.first = walls.geometry_starts[geometry];
    range.last = walls.geometry_starts[geometry + 1];
    return range;
}

// first_wall_contact: the earliest stop time (or INF) and the wall that causes it (or -1)
__device__ float first_wall_contact(const Walls& walls, const WallRange& range, float px, float py, float dx,
                                    float dy, const Radii& radii, int* wall) {
    float dd = dx * dx + dy * dy;
    float best = INF;
    int best_wall = -1;
    for (int k = range.first; k < range.last; ++k) {
        int w = range.list ? __ldg(range.list + k) : k;
        float t = wall_stop_time(px, py, dx, dy, dd, __ldg(walls.walls + w), __ldg(walls.lengths + w),
                                 radii.wall_stop, radii.wall_hit);
        if (t < best) {
            best = t;
            best_wall = w;
        }
    }
    *wall = best <= 1.f ? best_wall : -1;
    return best;
}

// ---- paths.py -------------------------------------------------------------------------------
//
// A path in shared memory: times[k * stride], xs[...], ys[...] for k < n; `stride` is the
// number of agents in the block, so breakpoint k of all agents lies contiguous.

struct Path {
    float* times;
    float* xs;
    float* ys;
    int stride;
    __device__ float t(int k) const { return times[k * stride]; }
    __device__ float x(int k) const { return xs[k * stride]; }
    __device__ float y(int k) const { return ys[k * stride]; }
};

__device__ int last_at_or_before(const Path& path, int n, float at) {
    int count = 0;
    for (int k = 0; k < n; ++k) count += path.t(k) <= at ? 1 : 0;
    return count - 1;
}

__device__ void position_at(const Path& path, int n, float at, float* x, float* y) {
    int index = min(max(last_at_or_before(path, n, at), 0), n - 2);
    float t0 = path.t(index), t1 = path.t(index + 1);
    float x0 = path.x(index), y0 = path.y(index), x1 = path.x(index + 1), y1 = path.y(index + 1);
    float span = t1 - t0;
    float fraction = span > 0.f ? (at - t0) / span : 0.f;
    if (fraction >= 1.f) {
        *x = x1;
        *y = y1;
    } else {
        *x = x0 + fraction * (x1 - x0);
        *y = y0 + fraction * (y1 - y0);
    }
}

// breakpoint k (0 <= k <= n) of a path truncated at `stop`: min(T_k, stop) for k < n, then 1
__device__ void truncated_point(const Path& path, int n, float stop, int k, float* t, float* x, float* y) {
    if (k < n) {
        float clipped = fminf(path.t(k), stop);
        *t = clipped;
        position_at(path, n, clipped, x, y);
    } else {
        *t = 1.f;
        position_at(path, n, stop, x, y);
    }
}

__device__ __forceinline__ float along_stretch(float t0, float t1, float x0, float x1, float at) {
    float fraction = (at - t0) / (t1 - t0);
    return x0 + fraction * (x1 - x0);
}

// pair_stop_times for two truncated paths of `q` breakpoints each (see truncate below)
__device__ float pair_stop_time(const Path& pi, const Path& pj, int q, const Radii& radii) {
    float best = INF;
    for (int k = 0; k + 1 < q; ++k) {
        float ti0 = pi.t(k), ti1 = pi.t(k + 1);
        float xi0 = pi.x(k), yi0 = pi.y(k), xi1 = pi.x(k + 1), yi1 = pi.y(k + 1);
        for (int m = 0; m + 1 < q; ++m) {
            float tj0 = pj.t(m), tj1 = pj.t(m + 1);
            float lo = fmaxf(ti0, tj0), hi = fminf(ti1, tj1);
            if (!(hi > lo)) continue;
            float xj0 = pj.x(m), yj0 = pj.y(m), xj1 = pj.x(m + 1), yj1 = pj.y(m + 1);
            float q0x = along_stretch(ti0, ti1, xi0, xi1, lo) - along_stretch(tj0, tj1, xj0, xj1, lo);
            float q0y = along_stretch(ti0, ti1, yi0, yi1, lo) - along_stretch(tj0, tj1, yj0, yj1, lo);
            float q1x = along_stretch(ti0, ti1, xi0, xi1, hi) - along_stretch(tj0, tj1, xj0, xj1, hi);
            float q1y = along_stretch(ti0, ti1, yi0, yi1, hi) - along_stretch(tj0, tj1, yj0, yj1, hi);
            float fraction = disc_stop_time(q0x, q0y, q1x - q0x, q1y - q0y, radii.agent_stop, radii.agent_hit);
            if (fraction <= 1.f) best = fminf(best, lo + fraction * (hi - lo));
        }
    }
    return best;
}

// writes `path` truncated at `stop` (n + 1 breakpoints) to `out`
__device__ void truncate(const Path& path, int n, float stop, const Path& out) {
    for (int k = 0; k <= n; ++k) {
        float t, x, y;
        truncated_point(path, n, stop, k, &t, &x, &y);
        out.times[k * out.stride] = t;
        out.xs[k * out.stride] = x;
        out.ys[k * out.stride] = y;
    }
}

__device__ float path_length(const Path& path, int n) {
    float total = 0.f;
    for (int k = 0; k + 1 < n; ++k) {
        float ex = path.x(k + 1) - path.x(k), ey = path.y(k + 1) - path.y(k);
        total = total + sqrtf(ex * ex + ey * ey);
    }
    return total;
}

// candidate_pairs: could agents i and j come within the stop radius?
__device__ __forceinline__ bool near(const Path& mine, const Path& other, float reach_i, float reach_j,
                                     const Radii& radii) {
    float gx = mine.x(0) - other.x(0), gy = mine.y(0) - other.y(0);
    return sqrtf(gx * gx + gy * gy) <= reach_i + reach_j + radii.agent_stop;
}

// resolve_agent_contacts: lowers this agent's stop time; every thread of the block must call it.
// `mine` is this thread's path and `cut` room for it truncated; agent j of the env has both
// `j - agent` slots away.
__device__ float resolve_agent_contacts(const Path& mine, const Path& cut, float* stops, const float* reaches,
                                        int first, int agent, int n_agents, bool active, int n, float stop,
                                        const Radii& radii) {
    const int slot = first + agent;
    bool converged = false;
    for (int round = 0; round < 2 * n_agents + 1 && !converged; ++round) {
        const bool zeroing = round > n_agents;  // after A + 1 rounds without settling
        if (active) truncate(mine, n, stop, cut);
        __syncthreads();
        float lowered = stop;
        bool blocked = false;
        if (active) {
            for (int j = 0; j < n_agents; ++j) {
                Path other = {mine.times + (j - agent), mine.xs + (j - agent), mine.ys + (j - agent), mine.stride};
                if (j == agent || !near(mine, other, reaches[slot], reaches[first + j], radii)) continue;
                Path other_cut = {cut.times + (j - agent), cut.xs + (j - agent), cut.ys + (j - agent), cut.stride};
                float contact = pair_stop_time(cut, other_cut, n + 1, radii);
                lowered = fminf(lowered, contact);
                blocked = blocked || contact < stop;
            }
        }
        if (zeroing) lowered = blocked ? 0.f : stop;
        converged = !__syncthreads_or(lowered != stop);
        stop = lowered;
        if (active) stops[slot] = stop;
    }
    return stop;
}

// ---- steps.py -------------------------------------------------------------------------------

#define UNPACK_WALLS                                                                                       \
    const Walls walls = {wall_data,   wall_lengths, geometry_starts, env_geometry, has_grid, grid_origins,   \
                         grid_shapes, grid_starts,  cell_starts,     cell_walls,   cell,     reach_limit};    \
    const Radii radii = {wall_stop, wall_hit, agent_stop, agent_hit};

__device__ __forceinline__ float wrap_degrees(float angle) {
    // torch.remainder(angle + 180, 360) - 180, then 180 folded to -180
    float shifted = angle + 180.f;
    float mod = fmodf(shifted, 360.f);
    if (mod != 0.f && (mod < 0.f)) mod = mod + 360.f;
    float wrapped = mod - 180.f;
    return wrapped >= 180.f ? wrapped - 360.f : wrapped;
}

struct Slot {
    int env, agent, index;  // index = env * A + agent
    int block_slot, first;  // this thread's slot in the block, and that of its env's agent 0
    bool active;
};

__device__ Slot locate(const int* env_order, int n_envs, int n_agents) {
    Slot s;
    int envs_per_block = blockDim.x / n_agents;
    int local_env = threadIdx.x / n_agents;
    s.agent = threadIdx.x % n_agents;
    int order = blockIdx.x * envs_per_block + local_env;
    s.active = local_env < envs_per_block && order < n_envs;
    s.env = s.active ? env_order[order] : 0;
    s.index = s.env * n_agents + s.agent;
    s.block_slot = threadIdx.x;
    s.first = local_env * n_agents;
    return s;
}

// shared memory: per thread of the block, `n` breakpoints of (time, x, y, vx, vy), stop and
// reach, and `n + 1` breakpoints (time, x, y) of the path truncated at the stop
struct Shared {
    float* times;
    float* xs;
    float* ys;
    float* vxs;
    float* vys;
    float* stops;
    float* reaches;
    float* cut_times;
    float* cut_xs;
    float* cut_ys;
};

__device__ Shared carve(float* memory, int n) {
    int threads = blockDim.x;
    Shared s;
    s.times = memory;
    s.xs = s.times + n * threads;
    s.ys = s.xs + n * threads;
    s.vxs = s.ys + n * threads;
    s.vys = s.vxs + n * threads;
    s.stops = s.vys + n * threads;
    s.reaches = s.stops + threads;
    s.cut_times = s.reaches + threads;
    s.cut_xs = s.cut_times + (n + 1) * threads;
    s.cut_ys = s.cut_xs + (n + 1) * threads;
    return s;
}

extern "C" __global__ void stop_step(const int* env_order, int n_envs, int n_agents, float* positions,
                                     float* velocity, float* angles, float* angvelocity, float* progress,
                                     const float4* wall_data, const float* wall_lengths, const int* geometry_starts,
                                     const int* env_geometry, int has_grid, const float* grid_origins,
                                     const int* grid_shapes, const int* grid_starts, const int* cell_starts,
                                     const int* cell_walls, float cell, float reach_limit, float wall_stop,
                                     float wall_hit, float agent_stop, float agent_hit, float dt) {
    UNPACK_WALLS
    extern __shared__ float memory[];
    Slot me = locate(env_order, n_envs, n_agents);
    Shared shared = carve(memory, 2);
    Path path = {shared.times + me.block_slot, shared.xs + me.block_slot, shared.ys + me.block_slot,
                 (int)blockDim.x};

    float px = 0.f, py = 0.f, vx = 0.f, vy = 0.f, dx = 0.f, dy = 0.f, stop = 1.f;
    if (me.active) {
        px = positions[2 * me.index];
        py = positions[2 * me.index + 1];
        vx = velocity[2 * me.index];
        vy = velocity[2 * me.index + 1];
        dx = vx * dt;
        dy = vy * dt;
        float reach = sqrtf(dx * dx + dy * dy) + radii.wall_stop;
        WallRange range = candidate_walls(walls, walls.env_geometry[me.env], px, py, reach);
        int wall;
        stop = fminf(first_wall_contact(walls, range, px, py, dx, dy, radii, &wall), 1.f);
    }
    if (n_agents > 1) {
        shared.times[me.block_slot] = 0.f;
        shared.times[blockDim.x + me.block_slot] = 1.f;
        shared.xs[me.block_slot] = px;
        shared.ys[me.block_slot] = py;
        shared.xs[blockDim.x + me.block_slot] = px + dx;
        shared.ys[blockDim.x + me.block_slot] = py + dy;
        shared.reaches[me.block_slot] = path_length(path, 2);
        shared.stops[me.block_slot] = stop;
        __syncthreads();
        Path cut = {shared.cut_times + me.block_slot, shared.cut_xs + me.block_slot, shared.cut_ys + me.block_slot,
                    (int)blockDim.x};
        stop = resolve_agent_contacts(path, cut, shared.stops, shared.reaches, me.first, me.agent, n_agents,
                                      me.active, 2, stop, radii);
    }
    if (!me.active) return;
    bool moving = dx != 0.f || dy != 0.f;
    positions[2 * me.index] = px + stop * dx;
    positions[2 * me.index + 1] = py + stop * dy;
    progress[me.index] = moving ? stop : 1.f;
    float turn = angvelocity[me.index];
    angles[me.index] = wrap_degrees(angles[me.index] + turn * dt);
    if (moving && stop < 1.f) {
        velocity[2 * me.index] = 0.f;
        velocity[2 * me.index + 1] = 0.f;
        angvelocity[me.index] = 0.f;
    }
}

extern "C" __global__ void slide_step(const int* env_order, int n_envs, int n_agents, float* positions,
                                      float* velocity, float* angles, float* angvelocity, float* progress,
                                      float* paths_out, const float4* wall_data, const float* wall_lengths,
                                      const int* geometry_starts, const int* env_geometry, int has_grid,
                                      const float* grid_origins, const int* grid_shapes, const int* grid_starts,
                                      const int* cell_starts, const int* cell_walls, float cell, float reach_limit,
                                      float wall_stop, float wall_hit, float agent_stop, float agent_hit, float dt,
                                      float contact_distance, int sub_contacts) {
    UNPACK_WALLS
    extern __shared__ float memory[];
    const int n = sub_contacts + 2;
    Slot me = locate(env_order, n_envs, n_agents);
    Shared shared = carve(memory, n);
    const int b = me.block_slot, stride = blockDim.x;
    Path path = {shared.times + b, shared.xs + b, shared.ys + b, stride};

    float px = 0.f, py = 0.f, vx = 0.f, vy = 0.f;
    if (me.active) {
        px = positions[2 * me.index];
        py = positions[2 * me.index + 1];
        vx = velocity[2 * me.index];
        vy = velocity[2 * me.index + 1];
    }
    const float intended_x = vx * dt, intended_y = vy * dt;

    if (n_agents > 1) {  // push_apart, through the breakpoint-0 slots
        shared.xs[b] = px;
        shared.ys[b] = py;
        shared.vxs[b] = vx;
        shared.vys[b] = vy;
        __syncthreads();
        float total_x = 0.f, total_y = 0.f;
        for (int j = 0; j < n_agents; ++j) {
            int other = me.first + j;
            float ox = shared.xs[other] - px, oy = shared.ys[other] - py;
            float distance = sqrtf(ox * ox + oy * oy);
            bool touching = distance < contact_distance && distance > 0.f;
            float safe = touching ? distance : 1.f;
            float nx = ox / safe, ny = oy / safe;
            float closing = (vx - shared.vxs[other]) * nx + (vy - shared.vys[other]) * ny;
            float share = touching && closing > 0.f ? closing / 2.f : 0.f;
            total_x = total_x + share * nx;
            total_y = total_y + share * ny;
        }
        __syncthreads();
        vx = vx - total_x;
        vy = vy - total_y;
    }

    // slide along the walls, recording the path's breakpoints
    shared.times[b] = 0.f;
    shared.xs[b] = px;
    shared.ys[b] = py;
    shared.vxs[b] = vx;
    shared.vys[b] = vy;
    if (me.active) {
        float mx = vx * dt, my = vy * dt;
        float reach = sqrtf(mx * mx + my * my) + radii.wall_stop;
        WallRange range = candidate_walls(walls, walls.env_geometry[me.env], px, py, reach);
        float hx = px, hy = py, remaining = 1.f, now = 0.f;
        for (int k = 1; k <= sub_contacts; ++k) {
            float scale = dt * remaining;
            float dx = vx * scale, dy = vy * scale;
            int wall = -1;
            float t = first_wall_contact(walls, range, hx, hy, dx, dy, radii, &wall);
            bool contact = wall >= 0;
            if (!contact) t = 1.f;
            hx = hx + t * dx;
            hy = hy + t * dy;
            now = contact ? now + t * remaining : 1.f;
            remaining = contact ? remaining * (1.f - t) : 0.f;
            if (contact) {
                float4 w = __ldg(walls.walls + wall);
                float length = __ldg(walls.lengths + wall);
                float along = fminf(fmaxf((hx - w.x) * w.z + (hy - w.y) * w.w, 0.f), length);
                float nx = hx - (w.x + along * w.z), ny = hy - (w.y + along * w.w);
                float norm = fmaxf(sqrtf(nx * nx + ny * ny), 1e-12f);
                nx = nx / norm;
                ny = ny / norm;
                float into = vx * nx + vy * ny;
                if (into < 0.f) {
                    vx = vx - into * nx;
                    vy = vy - into * ny;
                }
            }
            shared.times[k * stride + b] = now;
            shared.xs[k * stride + b] = hx;
            shared.ys[k * stride + b] = hy;
            shared.vxs[k * stride + b] = vx;
            shared.vys[k * stride + b] = vy;
        }
        shared.times[(n - 1) * stride + b] = 1.f;
        shared.xs[(n - 1) * stride + b] = hx;
        shared.ys[(n - 1) * stride + b] = hy;
        shared.vxs[(n - 1) * stride + b] = vx;
        shared.vys[(n - 1) * stride + b] = vy;
    } else {
        for (int k = 1; k < n; ++k) {
            shared.times[k * stride + b] = 1.f;
            shared.xs[k * stride + b] = 0.f;
            shared.ys[k * stride + b] = 0.f;
        }
    }

    float stop = 1.f;
    if (n_agents > 1) {
        shared.reaches[b] = path_length(path, n);
        shared.stops[b] = stop;
        __syncthreads();
        Path cut = {shared.cut_times + b, shared.cut_xs + b, shared.cut_ys + b, stride};
        stop = resolve_agent_contacts(path, cut, shared.stops, shared.reaches, me.first, me.agent, n_agents,
                                      me.active, n, stop, radii);
    }
    if (!me.active) return;

    float fx, fy;
    position_at(path, n, stop, &fx, &fy);
    int last = max(last_at_or_before(path, n, stop), 0);
    positions[2 * me.index] = fx;
    positions[2 * me.index + 1] = fy;
    velocity[2 * me.index] = shared.vxs[last * stride + b];
    velocity[2 * me.index + 1] = shared.vys[last * stride + b];
    float length2 = intended_x * intended_x + intended_y * intended_y;
    float along = (fx - px) * intended_x + (fy - py) * intended_y;
    float safe = length2 > 0.f ? length2 : 1.f;
    progress[me.index] = length2 > 0.f ? fminf(fmaxf(along / safe, 0.f), 1.f) : 1.f;
    angles[me.index] = wrap_degrees(angles[me.index] + angvelocity[me.index] * dt);
    if (paths_out) {
        for (int k = 0; k < n; ++k) {
            float cx, cy;
            position_at(path, n, fminf(path.t(k), stop), &cx, &cy);
            paths_out[2 * (me.index * n + k)] = cx;
            paths_out[2 * (me.index * n + k) + 1] = cy;
        }
    }
}
