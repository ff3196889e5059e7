// megastep's CUDA renderer: light baking, body lighting, and one fused
// ray-casting and shading kernel. The torch references of the same names are
// in megastep_render/lighting.py (bake_texels ~ bake_walls, light_bodies),
// raycast.py and shading.py (render); the docs of the algorithm live there.
//
// Static walls are read from per-layout tables (tables.py), which every env
// of a layout shares, and found through a uniform grid per layout: a ray
// walks the cells it crosses in order (a 2D DDA) and stops at the first cell
// that holds a hit. Agent bodies, which move, are read from each env's lines.
//
// Shadow tests use __fmul_rn/__fadd_rn/__fdiv_rn, which the compiler never
// fuses, so that they round exactly like the torch reference and baking
// agrees with it bit for bit (up to the order of the sum over lights). Rays
// take their directions from the same float32 angles as the reference, with
// accurate sincosf; the hot paths divide with __fdividef (2 ulp) instead of
// IEEE division, and line tests not at all.

#define AMBIENT 0.1f
#define GAIN 2.0f
#define SHADOW_START 1e-5f
#define INF __int_as_float(0x7f800000)

// Degrees to radians, rounded as torch.deg2rad rounds them, so that both cast rays in the same directions.
__device__ __forceinline__ float radians(float degrees) { return degrees * 0.017453292519943295f; }

// Quotients that need only be close (2 ulp): much cheaper than IEEE division, which the hot paths avoid.
__device__ __forceinline__ float quick_div(float a, float b) { return __fdividef(a, b); }

struct Grid {
    float x0, y0, cell, inv_cell;
    int nx, ny, cell_base, pad;
};

__device__ __forceinline__ Grid load_grid(const float4* grids, const int4* shapes, int layout) {
    float4 g = grids[layout];
    int4 s = shapes[layout];
    Grid grid;
    grid.x0 = g.x;
    grid.y0 = g.y;
    grid.cell = g.z;
    grid.inv_cell = g.w;
    grid.nx = s.x;
    grid.ny = s.y;
    grid.cell_base = s.z;
    grid.pad = 0;
    return grid;
}

// u x v with each product rounded, as torch computes it
__device__ __forceinline__ float cross_rn(float ux, float uy, float vx, float vy) {
    return __fsub_rn(__fmul_rn(ux, vy), __fmul_rn(uy, vx));
}

// A walk through the cells that the ray p + t d crosses for t in [t0, t1].
struct Walk {
    int ix, iy, step_x, step_y;
    float inv_dx, inv_dy, next_x, next_y;
};

__device__ __forceinline__ float boundary(const Grid& g, float origin, float lowest, int i, int step, float inv_d) {
    // the t at which the ray leaves cell i along one axis
    return (lowest + (float)(i + (step > 0)) * g.cell - origin) * inv_d;
}

// Clips [t0, t1] to the slab low <= p + t * d <= high of one axis; false if a ray parallel to it lies outside.
__device__ __forceinline__ bool clip_axis(float p, float d, float inv_d, float low, float high, float& t0,
                                          float& t1) {
    if (d == 0.0f) return !(p < low || p > high);
    float ta = (low - p) * inv_d, tb = (high - p) * inv_d;
    t0 = fmaxf(t0, fminf(ta, tb));
    t1 = fminf(t1, fmaxf(ta, tb));
    return true;
}

// Clips [t0, t1] to the grid and finds the first cell; false if the ray misses the grid.
__device__ bool walk_start(const Grid& g, float px, float py, float dx, float dy, float& t0, float& t1, Walk& w) {
    float hx = g.x0 + g.nx * g.cell, hy = g.y0 + g.ny * g.cell;
    w.inv_dx = dx != 0.0f ? quick_div(1.0f, dx) : INF;
    w.inv_dy = dy != 0.0f ? quick_div(1.0f, dy) : INF;
    if (!clip_axis(px, dx, w.inv_dx, g.x0, hx, t0, t1) || !clip_axis(py, dy, w.inv_dy, g.y0, hy, t0, t1)) {
        return false;
    }
    if (!(t0 <= t1)) return false;
    float sx = px + t0 * dx, sy = py + t0 * dy;
    w.ix = min(max((int)floorf((sx - g.x0) * g.inv_cell), 0), g.nx - 1);
    w.iy = min(max((int)floorf((sy - g.y0) * g.inv_cell), 0), g.ny - 1);
    w.step_x = dx > 0.0f ? 1 : (dx < 0.0f ? -1 : 0);
    w.step_y = dy > 0.0f ? 1 : (dy < 0.0f ? -1 : 0);
    w.next_x = w.step_x ? boundary(g, px, g.x0, w.ix, w.step_x, w.inv_dx) : INF;
    w.next_y = w.step_y ? boundary(g, py, g.y0, w.iy, w.step_y, w.inv_dy) : INF;
    return true;
}

// Moves to the next cell; false once the walk leaves the grid.
__device__ __forceinline__ bool walk_next(const Grid& g, float px, float py, Walk& w) {
    if (w.next_x < w.next_y) {
        w.ix += w.step_x;
        if (w.ix < 0 || w.ix >= g.nx) return false;
        w.next_x = boundary(g, px, g.x0, w.ix, w.step_x, w.inv_dx);
    } else {
        w.iy += w.step_y;
        if (w.iy < 0 || w.iy >= g.ny) return false;
        w.next_y = boundary(g, py, g.y0, w.iy, w.step_y, w.inv_dy);
    }
    return true;
}

// Is the segment from q to q + f crossed by the wall a -> a + e? As lighting.shadowed.
__device__ __forceinline__ bool crosses(float qx, float qy, float fx, float fy, float4 wall) {
    float wx = __fsub_rn(wall.x, qx), wy = __fsub_rn(wall.y, qy);
    float denom = cross_rn(fx, fy, wall.z, wall.w);
    float tau = __fdiv_rn(cross_rn(wx, wy, wall.z, wall.w), denom);
    float sigma = __fdiv_rn(cross_rn(wx, wy, fx, fy), denom);
    return tau > SHADOW_START && tau < 1.0f && sigma >= 0.0f && sigma <= 1.0f;
}

// Whether a static wall other than `own` shadows q from the light at q + f.
__device__ bool in_shadow(const Grid& g, const int* cell_starts, const float4* entry_lines, const int* entry_ids,
                          float qx, float qy, float fx, float fy, int own) {
    float t0 = 0.0f, t1 = 1.0f;
    Walk w;
    if (!walk_start(g, qx, qy, fx, fy, t0, t1, w)) return false;
    while (true) {
        int cell = g.cell_base + w.iy * g.nx + w.ix;
        int end = cell_starts[cell + 1];
        for (int i = cell_starts[cell]; i < end; ++i) {
            if (entry_ids[i] != own && crosses(qx, qy, fx, fy, entry_lines[i])) return true;
        }
        if (fminf(w.next_x, w.next_y) >= t1) return false;
        if (!walk_next(g, qx, qy, w)) return false;
    }
}

// The light at q: ambient plus every light that no wall (but `own`) shadows, clamped. As lighting.light_points.
__device__ float light_at(const Grid& g, const int* cell_starts, const float4* entry_lines, const int* entry_ids,
                          const float4* lights, int2 light_range, float qx, float qy, int own) {
    float total = 0.0f;
    for (int k = light_range.x; k < light_range.x + light_range.y; ++k) {
        float4 light = lights[k];
        float fx = __fsub_rn(light.x, qx), fy = __fsub_rn(light.y, qy);
        float contribution = __fdiv_rn(__fmul_rn(GAIN, light.z),
                                       fmaxf(__fadd_rn(__fmul_rn(fx, fx), __fmul_rn(fy, fy)), 1.0f));
        if (!in_shadow(g, cell_starts, entry_lines, entry_ids, qx, qy, fx, fy, own)) {
            total = __fadd_rn(total, contribution);
        }
    }
    return fminf(__fadd_rn(AMBIENT, total), 1.0f);
}

// One thread per wall texel of every layout: its static light, into texels[t].w and baked[t].
extern "C" __global__ void bake_texels(
    float4* __restrict__ texels, float* __restrict__ baked, const int* __restrict__ texel_walls,
    const float4* __restrict__ walls, const int2* __restrict__ wall_texels, const int* __restrict__ wall_bases,
    const int* __restrict__ texel_bases, const float4* __restrict__ grids, const int4* __restrict__ grid_shapes,
    const int* __restrict__ cell_starts, const float4* __restrict__ entry_lines,
    const int* __restrict__ entry_ids, const float4* __restrict__ lights, const int2* __restrict__ light_ranges,
    int n_layouts, int n_texels, int n_body_lines, float texel_size) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n_texels) return;
    int row = texel_walls[t];
    int layout = 0;  // the last layout whose first texel is at or before t
    for (int lo = 0, hi = n_layouts - 1; lo <= hi;) {
        int mid = (lo + hi) / 2;
        if (texel_bases[mid] <= t) { layout = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    float4 wall = walls[row];
    int2 range = wall_texels[row];
    float k = (float)(t - range.x);
    // as lighting.texel_points: the middle of the part of the wall the texel covers
    float length = __fsqrt_rn(__fadd_rn(__fmul_rn(wall.z, wall.z), __fmul_rn(wall.w, wall.w)));
    float end = fminf(__fmul_rn(__fadd_rn(k, 1.0f), texel_size), length);
    float along = __fmul_rn(__fadd_rn(__fmul_rn(k, texel_size), end), 0.5f);
    float fraction = __fdiv_rn(along, length);
    float qx = __fadd_rn(wall.x, __fmul_rn(wall.z, fraction));
    float qy = __fadd_rn(wall.y, __fmul_rn(wall.w, fraction));
    int own = row - wall_bases[layout] + n_body_lines;
    Grid g = load_grid(grids, grid_shapes, layout);
    float light = light_at(g, cell_starts, entry_lines, entry_ids, lights, light_ranges[layout], qx, qy, own);
    texels[t].w = light;
    baked[t] = light;
}

// One block per env: copies its layout's baked light to its wall texels, and ambient to its body texels.
extern "C" __global__ void spread_baked(
    float* __restrict__ baked_out, const float* __restrict__ baked,
    const long long* __restrict__ env_texel_starts, const int* __restrict__ env_layout,
    const int* __restrict__ texel_bases, int n_body_texels, int n_envs) {
    for (int env = blockIdx.x; env < n_envs; env += gridDim.x) {
        int layout = env_layout[env];
        int first = texel_bases[layout], count = texel_bases[layout + 1] - first;
        float* out = baked_out + env_texel_starts[env];
        for (int i = threadIdx.x; i < n_body_texels; i += blockDim.x) out[i] = AMBIENT;
        for (int i = threadIdx.x; i < count; i += blockDim.x) out[n_body_texels + i] = baked[first + i];
    }
}

// The envs where mask is set, into env_list: their count first (zero before: the render_grid_sparse that read
// the last list cleared it), then their indices, in no particular order (each env's rays are rendered alike
// whatever the order).
extern "C" __global__ void list_envs(const bool* __restrict__ mask, int* __restrict__ env_list, int n_envs) {
    int env = blockIdx.x * blockDim.x + threadIdx.x;
    if (env < n_envs && mask[env]) env_list[1 + atomicAdd(env_list, 1)] = env;
}

// One warp per agent: the centre of its body, its bounding radius squared, and the light at its centre.
// The warp's lanes test one light each; lane order adds them up in light order, as the reference does.
extern "C" __global__ void light_bodies(
    float4* __restrict__ bodies, const float4* __restrict__ lines, const long long* __restrict__ line_starts,
    const int* __restrict__ env_layout, const float4* __restrict__ grids, const int4* __restrict__ grid_shapes,
    const int* __restrict__ cell_starts, const float4* __restrict__ entry_lines,
    const int* __restrict__ entry_ids, const float4* __restrict__ lights, const int2* __restrict__ light_ranges,
    const bool* __restrict__ env_mask, int n_envs, int n_agents, int body_lines) {
    int i = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (i >= n_envs * n_agents) return;  // the whole warp leaves together
    int env = i / n_agents, agent = i % n_agents;
    if (env_mask != nullptr && !env_mask[env]) return;  // as does a warp whose env is not re-rendered
    const float4* body = lines + line_starts[env] + agent * body_lines;
    // as lighting.body_centres: first end points summed in line order, over M
    float cx = body[0].x, cy = body[0].y;
    for (int m = 1; m < body_lines; ++m) {
        cx = __fadd_rn(cx, body[m].x);
        cy = __fadd_rn(cy, body[m].y);
    }
    cx = __fdiv_rn(cx, (float)body_lines);
    cy = __fdiv_rn(cy, (float)body_lines);
    float r2 = 0.0f;
    for (int m = 0; m < body_lines; ++m) {
        float4 l = body[m];
        r2 = fmaxf(r2, (l.x - cx) * (l.x - cx) + (l.y - cy) * (l.y - cy));
        r2 = fmaxf(r2, (l.z - cx) * (l.z - cx) + (l.w - cy) * (l.w - cy));
    }
    int layout = env_layout[env];
    Grid g = load_grid(grids, grid_shapes, layout);
    int2 range = light_ranges[layout];
    float total = 0.0f;
    for (int base = 0; base < range.y; base += 32) {
        float contribution = 0.0f;
        if (base + lane < range.y) {
            float4 light = lights[range.x + base + lane];
            float fx = __fsub_rn(light.x, cx), fy = __fsub_rn(light.y, cy);
            if (!in_shadow(g, cell_starts, entry_lines, entry_ids, cx, cy, fx, fy, -1)) {
                contribution = __fdiv_rn(__fmul_rn(GAIN, light.z),
                                         fmaxf(__fadd_rn(__fmul_rn(fx, fx), __fmul_rn(fy, fy)), 1.0f));
            }
        }
        for (int j = 0; j < 32 && base + j < range.y; ++j) {
            total = __fadd_rn(total, __shfl_sync(0xffffffffu, contribution, j));
        }
    }
    if (lane == 0) {
        // grown a little so that rounding never culls a body line a ray really hits
        bodies[i] = make_float4(cx, cy, r2 * 1.0001f + 1e-10f, fminf(__fadd_rn(AMBIENT, total), 1.0f));
    }
}

// The nearest hit so far, at distance t = t_num / denom (denom > 0), kept as a fraction so that testing a
// line needs no division.
struct Hit {
    float t_num, denom;
    int id;
};

__device__ __forceinline__ Hit no_hit() {
    Hit hit;
    hit.t_num = INF;
    hit.denom = 1.0f;
    hit.id = -1;
    return hit;
}

// Tests one line (a, a + e) for the nearest hit beyond `near`, as raycast.cast does: the ray meets it at
// t = cross(a - p, e) / cross(d, e), s = cross(a - p, d) / cross(d, e), with 0 <= s <= 1 and t > near.
// Here both sides are multiplied by |cross(d, e)| rather than divided; equal distances go to the lower index.
// (The products round differently from the reference's quotients only where two lines lie within a float
// rounding of each other: the documented near-ties.)
__device__ __forceinline__ bool test_line(float px, float py, float dx, float dy, float near, float ax, float ay,
                                          float ex, float ey, int id, Hit& best) {
    ax -= px;
    ay -= py;
    float denom = dx * ey - dy * ex;
    float sign = denom < 0.0f ? -1.0f : 1.0f;
    float size = denom * sign;
    float t_num = (ax * ey - ay * ex) * sign;
    float s_num = (ax * dy - ay * dx) * sign;
    if (!(size > 0.0f && s_num >= 0.0f && s_num <= size && t_num > near * size)) return false;
    float mine = t_num * best.denom, theirs = best.t_num * size;
    if (mine < theirs || (mine == theirs && id < best.id)) {
        best.t_num = t_num;
        best.denom = size;
        best.id = id;
        return true;
    }
    return false;
}

// Writes pixel `pixel`: the hit on env-local line `best_id` at distance `best` (-1: a miss), shaded. As shading.shade.
__device__ void shade_and_write(
    long long pixel, float best, int best_id, float px, float py, float dx, float dy, int env, int layout,
    int n_agents, int body_lines, float texel_size, long long* indices, float* locations, float* dots,
    float* distances, float* screen, const float4* lines, const float* textures, const float4* bodies,
    const float4* walls, const int2* wall_texels, const int* wall_bases, const float4* texels,
    const long long* line_starts, const long long* env_texel_starts, const int* body_texels) {
    long long line_start = line_starts[env];
    if (best_id < 0) {
        indices[pixel] = -1;
        locations[pixel] = 0.0f;
        dots[pixel] = 0.0f;
        distances[pixel] = INF;
        screen[3 * pixel] = 0.0f;
        screen[3 * pixel + 1] = 0.0f;
        screen[3 * pixel + 2] = 0.0f;
        return;
    }
    int n_body_lines = n_agents * body_lines;
    float ax, ay, ex, ey, light = 0.0f;
    int texel_count;
    bool is_body = best_id < n_body_lines;
    const float* body_colours = nullptr;
    const float4* wall_colours = nullptr;
    if (is_body) {
        float4 l = lines[line_start + best_id];
        ax = l.x; ay = l.y; ex = l.z - l.x; ey = l.w - l.y;
        body_colours = textures + 3 * (env_texel_starts[env] + body_texels[best_id]);
        texel_count = body_texels[best_id + 1] - body_texels[best_id];
        light = bodies[env * n_agents + best_id / body_lines].w;
    } else {
        int row = wall_bases[layout] + best_id - n_body_lines;
        float4 l = walls[row];
        ax = l.x; ay = l.y; ex = l.z; ey = l.w;
        int2 range = wall_texels[row];
        wall_colours = texels + range.x;
        texel_count = range.y;
    }
    ax -= px;
    ay -= py;
    float s = fminf(fmaxf(quick_div(ax * dy - ay * dx, dx * ey - dy * ex), 0.0f), 1.0f);
    float length = sqrtf(ex * ex + ey * ey);
    float dot = quick_div(dx * ex + dy * ey, length);
    // as shading.texel_coordinates
    float u = quick_div(s * length, texel_size) - 0.5f;
    float below = floorf(u);
    float weight = u - below;
    int first = (int)below;
    if (first < 0 || first >= texel_count - 1) weight = 0.0f;
    first = min(max(first, 0), texel_count - 1);
    int second = min(first + 1, texel_count - 1);
    float red, green, blue;
    if (is_body) {
        const float* c0 = body_colours + 3 * first;
        const float* c1 = body_colours + 3 * second;
        red = c0[0] * (1.0f - weight) + c1[0] * weight;
        green = c0[1] * (1.0f - weight) + c1[1] * weight;
        blue = c0[2] * (1.0f - weight) + c1[2] * weight;
    } else {
        float4 c0 = wall_colours[first], c1 = wall_colours[second];
        red = c0.x * (1.0f - weight) + c1.x * weight;
        green = c0.y * (1.0f - weight) + c1.y * weight;
        blue = c0.z * (1.0f - weight) + c1.z * weight;
        light = c0.w * (1.0f - weight) + c1.w * weight;
    }
    float brightness = light * fmaxf(1.0f - dot * dot, 0.0f);
    indices[pixel] = best_id;
    locations[pixel] = s;
    dots[pixel] = dot;
    distances[pixel] = best;
    screen[3 * pixel] = red * brightness;
    screen[3 * pixel + 1] = green * brightness;
    screen[3 * pixel + 2] = blue * brightness;
}

// Tests the walls of the cells that the ray p + t d crosses from `from` on, nearest cell first, into `hit`;
// `best` is hit's distance. A walk stops once a hit is nearer than the cells left (or at t1, the grid's
// edge). Given a finite `stop`, it also stops one cell after the first whose exit passes `stop`: one lane's
// share of a ray whose next share starts at `stop` (render_grid_sparse); the cell more covers the one
// that the next share's first cell, found from the point at `stop` rather than walked to, may round past.
// A cell's walls are loaded BATCH at a time before any is tested: a lone ray's walk waits on each load in
// turn, where a full render has other warps to run meanwhile (and registers for fewer loads in flight).
template <int BATCH>
__device__ __forceinline__ void walk_walls(const Grid& g, float px, float py, float dx, float dy, float near,
                                           float from, float t1, float stop, const int* __restrict__ cell_starts,
                                           const float4* __restrict__ entry_lines,
                                           const int* __restrict__ entry_ids, Hit& hit, float& best) {
    Walk w;
    if (!walk_start(g, px, py, dx, dy, from, t1, w)) return;
    bool last = false;
    while (true) {
        int cell = g.cell_base + w.iy * g.nx + w.ix;
        int end = cell_starts[cell + 1];
        for (int i = cell_starts[cell]; i < end; i += BATCH) {
            float4 l[BATCH];
            int id[BATCH];
#pragma unroll
            for (int k = 0; k < BATCH; ++k) {
                if (i + k < end) {
                    l[k] = entry_lines[i + k];
                    id[k] = entry_ids[i + k];
                }
            }
#pragma unroll
            for (int k = 0; k < BATCH; ++k) {  // equal distances go to the lower id, in any order of testing
                if (i + k < end && test_line(px, py, dx, dy, near, l[k].x, l[k].y, l[k].z, l[k].w, id[k], hit)) {
                    best = quick_div(hit.t_num, hit.denom);
                }
            }
        }
        float exit = fminf(w.next_x, w.next_y);
        // a hit inside the cells walked so far is nearer than anything beyond them
        if (best <= exit || exit >= t1 || last) break;
        last = exit >= stop;
        if (!walk_next(g, px, py, w)) break;
    }
}

// One ray of a grid render: where it starts and where it looks.
struct Ray {
    int env, agent, ea, layout;
    long long pixel;
    float px, py, dx, dy;
};

// Ray i of env `env` (i in [0, A * C * R)), as render_grid numbers them.
__device__ __forceinline__ Ray ray_of(int env, int i, const float* __restrict__ positions,
                                      const float* __restrict__ angles, const float* __restrict__ ray_angles,
                                      const int* __restrict__ env_layout, int n_agents, int n_cameras, int n_rays) {
    Ray ray;
    ray.env = env;
    int index = env * n_agents * n_cameras * n_rays + i;
    int r = index % n_rays;
    int view = index / n_rays;
    int camera = view % n_cameras;
    ray.ea = view / n_cameras;
    ray.agent = ray.ea % n_agents;
    ray.pixel = index;
    ray.layout = env_layout[env];
    ray.px = positions[2 * ray.ea];
    ray.py = positions[2 * ray.ea + 1];
    sincosf(radians(angles[ray.ea] + ray_angles[camera * n_rays + r]), &ray.dy, &ray.dx);
    return ray;
}

// The other agents' bodies, into `hit`: they move every step, so they are not in the walls' grid.
__device__ __forceinline__ void hit_bodies(const Ray& ray, float near, float best, int n_agents, int body_lines,
                                           const float4* __restrict__ lines, const float4* __restrict__ bodies,
                                           const long long* __restrict__ line_starts, Hit& hit) {
    long long line_start = line_starts[ray.env];
    for (int b = 0; b < n_agents; ++b) {
        if (b == ray.agent) continue;
        float4 body = bodies[ray.env * n_agents + b];
        float vx = body.x - ray.px, vy = body.y - ray.py;
        float along = vx * ray.dx + vy * ray.dy;
        float across = vx * ray.dy - vy * ray.dx;
        if (across * across > body.z) continue;  // the ray's line misses the body's disc
        float reach = sqrtf(body.z) * 1.0001f;
        if (along + reach <= near || along - reach > best) continue;  // all before the near plane or after the hit
        for (int m = 0; m < body_lines; ++m) {
            int id = b * body_lines + m;
            float4 l = lines[line_start + id];
            test_line(ray.px, ray.py, ray.dx, ray.dy, near, l.x, l.y, l.z - l.x, l.w - l.y, id, hit);
        }
    }
}

// Whether hit a is nearer than b, or as near and of a lower line: as test_line decides.
__device__ __forceinline__ bool nearer(const Hit& a, const Hit& b) {
    float mine = a.t_num * b.denom, theirs = b.t_num * a.denom;
    return a.id >= 0 && (b.id < 0 || mine < theirs || (mine == theirs && a.id < b.id));
}

// The nearest line of `ray` and its colour, written: what a thread of render_grid does, from the hit on walls.
#define FINISH_RAY(ray, hit, best)                                                                                 \
    if (n_agents > 1) hit_bodies(ray, near, best, n_agents, body_lines, lines, bodies, line_starts, hit);          \
    shade_and_write(ray.pixel, quick_div(hit.t_num, hit.denom), hit.id, ray.px, ray.py, ray.dx, ray.dy, ray.env,    \
                    ray.layout, n_agents, body_lines, texel_size, indices, locations, dots, distances, screen,     \
                    lines, textures, bodies, walls, wall_texels, wall_bases, texels, line_starts,                 \
                    env_texel_starts, body_texels)

// What both grid kernels read and write: the render's outputs, the agents, the scenery and the grids. An
// object-like macro, which megastep_core.kernels.kernel_signatures spells out when it reads the parameters.
#define GRID_PARAMETERS \
    long long* __restrict__ indices, float* __restrict__ locations, float* __restrict__ dots, \
    float* __restrict__ distances, float* __restrict__ screen, const float* __restrict__ positions, \
    const float* __restrict__ angles, const float* __restrict__ ray_angles, const float4* __restrict__ lines, \
    const float* __restrict__ textures, const float4* __restrict__ bodies, const float4* __restrict__ grids, \
    const int4* __restrict__ grid_shapes, const int* __restrict__ cell_starts, \
    const float4* __restrict__ entry_lines, const int* __restrict__ entry_ids, const float4* __restrict__ walls, \
    const int2* __restrict__ wall_texels, const int* __restrict__ wall_bases, const float4* __restrict__ texels, \
    const int* __restrict__ env_layout, const long long* __restrict__ line_starts, \
    const long long* __restrict__ env_texel_starts, const int* __restrict__ body_texels

// The grid method. One thread per ray of every env: the nearest line beyond the near plane, then its colour.
// As raycast.cast and shading.shade. Works for layouts of any size. Launched with 256 threads per block;
// bounded to 6 such blocks per SM (at most 40 registers): the resident warps this adds hide the walk's loads,
// which gains more than the spills that fewer registers cause cost (see the performance docs).
extern "C" __global__ void __launch_bounds__(256, 6) render_grid(
    GRID_PARAMETERS,
    int n_envs, int n_agents, int n_cameras, int n_rays, int body_lines, float near, float texel_size) {
    // 32-bit index arithmetic: the caller checks that E * A * C * R < 2**31
    int per_env = n_agents * n_cameras * n_rays;
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n_envs * per_env) return;
    Ray ray = ray_of(i / per_env, i % per_env, positions, angles, ray_angles, env_layout, n_agents, n_cameras,
                     n_rays);
    Grid g = load_grid(grids, grid_shapes, ray.layout);
    Hit hit = no_hit();
    float best = INF;  // hit's distance, for stopping the walk
    walk_walls<1>(g, ray.px, ray.py, ray.dx, ray.dy, near, near, INF, INF, cell_starts, entry_lines, entry_ids,
                  hit, best);
    FINISH_RAY(ray, hit, best);
}

// The envs where mask is set, in order, into listed (n_envs ints of shared memory); returns their count. Each
// thread counts a run of envs, and a scan of the counts over the block (in sums, blockDim.x ints of shared
// memory) places each run's listed envs after the runs before it: every block makes the same list.
__device__ int list_in_block(const bool* __restrict__ mask, int n_envs, int* listed, int* sums) {
    int per_thread = (n_envs + blockDim.x - 1) / blockDim.x;
    int first = min((int)threadIdx.x * per_thread, n_envs), last = min(first + per_thread, n_envs);
    int mine = 0;
    for (int e = first; e < last; ++e) mine += mask[e];
    sums[threadIdx.x] = mine;
    __syncthreads();
    for (int offset = 1; offset < (int)blockDim.x; offset *= 2) {  // inclusive scan, in place
        int before = threadIdx.x >= offset ? sums[threadIdx.x - offset] : 0;
        __syncthreads();
        sums[threadIdx.x] += before;
        __syncthreads();
    }
    int at = sums[threadIdx.x] - mine;
    for (int e = first; e < last; ++e) {
        if (mask[e]) listed[at++] = e;
    }
    int count = sums[blockDim.x - 1];
    __syncthreads();
    return count;
}

// Walls a lane of render_grid_sparse loads at a time (see walk_walls): more loads in flight shorten a lone
// ray's walk, and 4 still leaves the registers for 3 blocks an SM, where 8 does not.
#define SPARSE_BATCH 4

// The grid method for a few envs (those that reset, rendered again): a warp per ray of the listed envs,
// striding over them; other pixels keep what they hold. Rendering a few envs takes as long as their longest
// walk, which a thread per ray would take cell after cell; so each of a warp's 32 lanes walks a 32nd of the
// ray's span over the grid, and the warp keeps the nearest hit any lane found. That is the hit a walk from the
// start finds: the nearest hit lies in some cell of the ray, which some lane walks. Launched with blocks of 256
// threads.
// The envs are listed either in env_list (its count, then env indices, as list_envs writes it; env_mask
// null), or, for up to a few thousand envs, by every block from env_mask itself (env_list null): one launch
// on a step's chain, not two. Launch with 4 * (n_envs + blockDim.x) bytes of shared memory for that.
extern "C" __global__ void __launch_bounds__(256, 1) render_grid_sparse(
    GRID_PARAMETERS,
    int* __restrict__ env_list, const bool* __restrict__ env_mask, int n_envs, int n_agents, int n_cameras,
    int n_rays, int body_lines, float near, float texel_size) {
    extern __shared__ unsigned int shared[];
    int* listed = env_list != nullptr ? env_list + 1 : (int*)shared;
    int count = env_list != nullptr ? env_list[0] : list_in_block(env_mask, n_envs, listed, listed + n_envs);
    int lane = threadIdx.x % 32;
    int warps = gridDim.x * blockDim.x / 32;
    int per_env = n_agents * n_cameras * n_rays;
    int total = count * per_env;
    for (int i = (blockIdx.x * blockDim.x + threadIdx.x) / 32; i < total; i += warps) {  // alike in a warp
        Ray ray = ray_of(listed[i / per_env], i % per_env, positions, angles, ray_angles, env_layout,
                         n_agents, n_cameras, n_rays);
        Grid g = load_grid(grids, grid_shapes, ray.layout);
        Hit hit = no_hit();
        float best = INF;
        float t0 = near, t1 = INF;
        Walk w;
        if (walk_start(g, ray.px, ray.py, ray.dx, ray.dy, t0, t1, w)) {  // the ray's span over the grid
            float share = (t1 - t0) / 32.0f;
            float from = t0 + lane * share, stop = lane == 31 ? INF : t0 + (lane + 1) * share;
            walk_walls<SPARSE_BATCH>(g, ray.px, ray.py, ray.dx, ray.dy, near, from, t1, stop, cell_starts,
                                     entry_lines, entry_ids, hit, best);
        }
        for (int offset = 16; offset > 0; offset /= 2) {  // every lane ends with the warp's nearest hit
            Hit other;
            other.t_num = __shfl_sync(0xffffffffu, hit.t_num, lane ^ offset);
            other.denom = __shfl_sync(0xffffffffu, hit.denom, lane ^ offset);
            other.id = __float_as_int(__shfl_sync(0xffffffffu, __int_as_float(hit.id), lane ^ offset));
            if (nearer(other, hit)) hit = other;
        }
        if (lane == 0) {
            best = hit.id >= 0 ? quick_div(hit.t_num, hit.denom) : INF;
            FINISH_RAY(ray, hit, best);
        }
    }

    // The last block to finish clears the list's count for the next list_envs: every block read it before the
    // loop, and a fill launched before each list_envs would be one more kernel on the step's critical path. The
    // blocks that finished are counted in env_list[1 + n_envs], which the last one clears too.
    if (env_list == nullptr) return;
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();
        int* finished = env_list + 1 + n_envs;
        if (atomicAdd(finished, 1) == (int)gridDim.x - 1) {
            env_list[0] = 0;
            *finished = 0;
        }
    }
}
