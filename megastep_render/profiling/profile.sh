#!/usr/bin/env bash
# Profiles the CUDA renderer on a lent GPU (device tool):
#   run(command="bash megastep_render/profiling/profile.sh", carry=[".whl", ".bench"])
source scripts/device-setup.sh
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 megastep_render/profiling/variants.py --layouts .bench/layouts.npz --envs 16384 65536 2>&1 | tee "$OUT/variants.log"
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
for config in explorer deathmatch; do
  timeout 150 "$NCU" --section SpeedOfLight --section WarpStateStats --section MemoryWorkloadAnalysis \
    --section Occupancy --section LaunchStats --section SchedulerStats --section ComputeWorkloadAnalysis \
    -k regex:'render_grid' --launch-skip 1 --launch-count 3 \
    python3 megastep_render/profiling/one_frame.py --layouts .bench/layouts.npz --config $config --frames 2 \
    > "$OUT/ncu-$config.txt" 2>&1
  grep -E "render_|Duration|Throughput|Pipe|Issued|Eligible|Achieved Occupancy|Registers|Stall|L1/TEX Hit|L2 Hit|Theoretical Occ|Warp Cycles Per Issued|Block Limit|No Eligible|One or More" \
    "$OUT/ncu-$config.txt" | head -80
done
