"""The static walls of a scenery and their grid: :mod:`megastep_core.walls`, where a physics of any package
finds them; re-exported here for code that imported them from megastep-physics."""
from megastep_core.walls import CELL, MAX_GRID_ENTRIES, REACH, WallCache, WallTable

__all__ = ["CELL", "MAX_GRID_ENTRIES", "REACH", "WallCache", "WallTable"]
