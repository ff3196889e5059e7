"""megastep_physics"""
