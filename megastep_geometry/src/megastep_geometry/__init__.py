"""megastep_geometry"""
