"""What people run around envs, never inside a step: ``megastep bench`` and its timing, ``megastep demo``, and plotting.
The runtime imports none of these."""
