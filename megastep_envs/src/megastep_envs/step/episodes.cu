// The episode bookkeeping of an env step (megastep_envs.step.episodes.Episodes.step) in one launch, one thread
// per env, instead of a dozen small torch kernels, each a launch a CUDA graph replays on every step.
// As the torch reference: count the step and its reward; the episode is truncated where it reached its
// lifespan and did not terminate; report the length and return of every episode; restart the count of the
// envs that are done, with a new lifespan in [low, high] from the env's counter of lifespans drawn (as
// megastep_envs.step.lifespans.Lifespans.reset draws it), advancing that counter. A task that never terminates
// passes task_terminates 0, and terminated is then written (all false) rather than read: a task update that
// would return a tensor of zeros costs the step a fill kernel.
#include "megastep_core/counter_random.cuh"

extern "C" __global__ void step_episodes(
    long long* __restrict__ lengths, float* __restrict__ returns, long long* __restrict__ limits,
    long long* __restrict__ counters, const float* __restrict__ reward, bool* __restrict__ terminated,
    int task_terminates,
    bool* __restrict__ truncated, bool* __restrict__ done, long long* __restrict__ episode_lengths,
    float* __restrict__ episode_returns, int n_envs, int n_agents, unsigned int key, int low, int high) {
    int env = blockIdx.x * blockDim.x + threadIdx.x;
    if (env >= n_envs) return;
    long long length = lengths[env] + 1;
    bool ended = task_terminates && terminated[env];
    if (!task_terminates) terminated[env] = false;
    bool cut = length >= limits[env] && !ended;
    bool over = ended || cut;
    truncated[env] = cut;
    done[env] = over;
    episode_lengths[env] = length;
    lengths[env] = over ? 0 : length;
    if (over) {
        long long span = high - low + 1;
        long long pick = (long long)__fmul_rn(counter_uniform(key, env, counters[env], 0), (float)span);
        limits[env] = low + (pick < span - 1 ? pick : span - 1);  // u * span may round up to span
        counters[env] += 1;
    }
    for (int a = 0; a < n_agents; ++a) {
        long long i = (long long)env * n_agents + a;
        float sum = __fadd_rn(returns[i], reward[i]);
        episode_returns[i] = sum;
        returns[i] = over ? 0.0f : sum;
    }
}
