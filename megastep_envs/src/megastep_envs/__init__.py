"""megastep_envs"""
