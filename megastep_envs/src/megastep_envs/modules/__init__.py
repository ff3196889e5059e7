"""The parts an env is made of: movement (which sets the agents' velocities from actions), observation modules
(RGB, depth, IMU; their kernels in ``observations.cu``) and the occupancy grid that goals and spawns are
drawn from."""
