// Discrete actions checked and clamped in one launch (megastep_envs.step.checks.ActionCheck.sanitize): as the
// torch reference, an action outside [0, n_actions) is clamped into it and raises the device-side flag that
// DeferredFlag reads back a few steps later. Four small kernels in torch, each replayed on every step.
extern "C" __global__ void clamp_actions(
    const long long* __restrict__ actions, long long* __restrict__ clamped, bool* __restrict__ flag, int n,
    int n_actions) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    long long action = actions[i];
    long long inside = action < 0 ? 0 : (action >= n_actions ? n_actions - 1 : action);
    clamped[i] = inside;
    if (inside != action) *flag = true;  // every writer writes the same value
}
