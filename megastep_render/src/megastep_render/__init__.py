"""megastep_render"""
