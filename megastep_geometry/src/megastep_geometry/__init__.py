"""megastep's geometries: where the walls, lights and free space of a world come from.

Modules, each with one job:

* :mod:`~megastep_geometry.toys`: ``box``, ``column``, ``corridor`` and ``maze``;
* :mod:`~megastep_geometry.homes`: thousands of procedural homes, cached on disk,
  drawn by :mod:`~megastep_geometry.floorplans`;
* :mod:`~megastep_geometry.env_homes`: the homes an env is built in when given none;
* :mod:`~megastep_geometry.cubicasa`: importing Cubicasa5k ``model.svg`` floor plans;
* :mod:`~megastep_geometry.masks`: occupancy masks and conversions between cells and metres;
* :mod:`~megastep_geometry.layouts`: reading and writing layouts ``.npz`` files;
* :mod:`~megastep_geometry.spawners`: the ``random`` and ``fixed`` spawner backends;
* :mod:`~megastep_geometry.plot`: drawing plans with matplotlib;
* :mod:`~megastep_geometry.plugin`: the entry point that registers the spawners and the
  ``megastep homes`` and ``megastep show`` commands.
"""
__version__ = "0.1.0"
