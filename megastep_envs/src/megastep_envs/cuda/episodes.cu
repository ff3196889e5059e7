// The episode bookkeeping of an env step (megastep_envs.episodes.Episodes.step) in one launch, one thread
// per env, instead of a dozen small torch kernels, each a launch a CUDA graph replays on every step.
// As the torch reference: count the step and its reward; the episode is truncated where it reached its
// lifespan and did not terminate; report the length and return of every episode; restart the count of the
// envs that are done, with the lifespan drawn for them.
extern "C" __global__ void step_episodes(
    long long* __restrict__ lengths, float* __restrict__ returns, long long* __restrict__ limits,
    const float* __restrict__ reward, const bool* __restrict__ terminated, const long long* __restrict__ drawn,
    bool* __restrict__ truncated, bool* __restrict__ done, long long* __restrict__ episode_lengths,
    float* __restrict__ episode_returns, int n_envs, int n_agents) {
    int env = blockIdx.x * blockDim.x + threadIdx.x;
    if (env >= n_envs) return;
    long long length = lengths[env] + 1;
    bool cut = length >= limits[env] && !terminated[env];
    bool over = terminated[env] || cut;
    truncated[env] = cut;
    done[env] = over;
    episode_lengths[env] = length;
    lengths[env] = over ? 0 : length;
    if (over) limits[env] = drawn[env];
    for (int a = 0; a < n_agents; ++a) {
        long long i = (long long)env * n_agents + a;
        float sum = __fadd_rn(returns[i], reward[i]);
        episode_returns[i] = sum;
        returns[i] = over ? 0.0f : sum;
    }
}
