"""A plugin that raises on import, as a plugin with a missing dependency would."""
raise ImportError("megastep_broken needs a library that is not installed (on purpose, for the tests)")
