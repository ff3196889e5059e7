"""Importing floor plans from the Cubicasa5k dataset's ``model.svg`` files.

Cubicasa5k (Kalervo et al., 2019) annotates each floor plan as an SVG. The parts
read here are groups (``<g>``) holding one ``<polygon>`` each:

* ``<g id="Wall" class="Wall ...">``: a wall's outline, usually a thin quadrilateral;
* ``<g id="Door" class="Door ...">``, nested in its wall: the opening the door fills;
* ``<g class="Space Bedroom">`` (``Space Kitchen``, ...): a room's floor.

Coordinates are image pixels with y downwards; :func:`load` scales them to
metres (``pixels_per_metre``, 100 by default), flips y so that plans are not
mirrored, and moves the plan's lowest corner to the origin. Doors are cut out
of the walls, the walls that remain are drawn as outlines, every space gets a
light at its most interior point, and the free space is the spaces and door
openings less the walls. A file with several ``Floorplan`` groups gives one
geometry per floor.

Files are parsed with :mod:`defusedxml`, which refuses entity expansion
(billion-laughs bombs) and external entities; such a file, a malformed one, or
one with no walls or spaces raises :class:`~megastep_core.GeometryError`
naming the file. A folder or zip of files skips the bad ones and warns once
with a summary.
"""
from __future__ import annotations

import math
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import shapely
import shapely.affinity
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from megastep_core import Geometry, GeometryError

from .masks import DEFAULT_RESOLUTION, grid, rasterize

MAX_BYTES = 50_000_000
"""Largest ``model.svg`` read, in bytes: real ones are well under 1 MB."""

DOOR_OVERCUT = 0.02
"""Metres added around a door's polygon before it is cut from its wall, so no sliver of wall is left in the opening."""

MIN_WALL_AREA = 1e-3
"""Square metres: bits of wall smaller than this left by cutting doors are dropped."""

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TRANSFORM = re.compile(r"([A-Za-z]+)\s*\(([^)]*)\)")


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _matrix(transform: str) -> np.ndarray:
    """The 3x3 affine matrix of an SVG ``transform`` attribute."""
    result = np.eye(3)
    for kind, arguments in _TRANSFORM.findall(transform or ""):
        values = [float(v) for v in _NUMBER.findall(arguments)]
        step = np.eye(3)
        if kind == "matrix" and len(values) == 6:
            step[:2] = np.array(values).reshape(3, 2).T
        elif kind == "translate" and values:
            step[:2, 2] = [values[0], values[1] if len(values) > 1 else 0.0]
        elif kind == "scale" and values:
            step[0, 0], step[1, 1] = values[0], values[1] if len(values) > 1 else values[0]
        elif kind == "rotate" and values:
            angle = math.radians(values[0])
            step[:2, :2] = [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
            if len(values) == 3:
                centre = np.eye(3)
                centre[:2, 2] = values[1:]
                back = np.eye(3)
                back[:2, 2] = [-values[1], -values[2]]
                step = centre @ step @ back
        elif kind in ("skewX", "skewY") and values:
            step[(0, 1) if kind == "skewX" else (1, 0)] = math.tan(math.radians(values[0]))
        else:
            raise ValueError(f"cannot read the transform {kind}({arguments})")
        result = result @ step
    return result


def _polygon(group, matrix: np.ndarray):
    """The shapely polygon of a group's first ``<polygon>`` child, in pixels, or ``None``."""
    for child in group:
        if _local(child.tag) == "polygon":
            values = [float(v) for v in _NUMBER.findall(child.get("points", ""))]
            if len(values) < 6 or len(values) % 2:
                return None
            points = np.array(values).reshape(-1, 2)
            points = points @ (matrix @ _matrix(child.get("transform", "")))[:2, :2].T + matrix[:2, 2]
            shape = shapely.make_valid(shapely.Polygon(points))
            return shape if shape.area > 0 else None
    return None


def _collect(element, matrix, found) -> None:
    """Walks the tree, sorting wall, door and space polygons (in pixels) into ``found``."""
    for child in element:
        if _local(child.tag) != "g":
            continue
        here = matrix @ _matrix(child.get("transform", ""))
        kind = (child.get("class") or "").split()
        identity = child.get("id", "")
        if identity == "Wall" or kind[:1] == ["Wall"]:
            found["walls"].append(_polygon(child, here))
        elif identity == "Door" or kind[:1] == ["Door"]:
            found["doors"].append(_polygon(child, here))
        elif kind[:1] == ["Space"]:
            found["spaces"].append(_polygon(child, here))
        _collect(child, here, found)


def _floors(root) -> list:
    """The ``Floorplan`` groups of a document, or the whole document when it has none."""
    floors = [g for g in root.iter() if _local(g.tag) == "g" and "Floorplan" in (g.get("class") or "").split()]
    return floors or [root]


def _lines(shape) -> np.ndarray:
    """``(L, 2, 2)`` the segments of every ring of a (multi)polygon."""
    segments = []
    for polygon in shapely.get_parts(shape):
        for ring in [polygon.exterior, *polygon.interiors]:
            coords = np.asarray(ring.coords)
            segments.append(np.stack([coords[:-1], coords[1:]], 1))
    lines = np.concatenate(segments) if segments else np.zeros((0, 2, 2))
    return lines[np.linalg.norm(lines[:, 1] - lines[:, 0], axis=-1) > 1e-6]


def _geometry(found: dict, name: str, scale: float, resolution: float) -> Geometry:
    def metres(shapes):  # pixels with y down to metres with y up
        return [shapely.affinity.scale(s, 1 / scale, -1 / scale, origin=(0, 0)) for s in shapes if s is not None]

    walls, doors, spaces = metres(found["walls"]), metres(found["doors"]), metres(found["spaces"])
    if not walls:
        raise GeometryError(f"{name}: has no walls (no <g id=\"Wall\"> with a <polygon>)")
    if not spaces:
        raise GeometryError(f"{name}: has no spaces (no <g class=\"Space ...\"> with a <polygon>)")
    openings = shapely.union_all(shapely.buffer(doors, DOOR_OVERCUT, join_style="mitre")) if doors else None
    solid = shapely.union_all(walls)
    if openings is not None:
        solid = shapely.difference(solid, openings)
    solid = shapely.union_all([p for p in shapely.get_parts(solid) if p.area >= MIN_WALL_AREA])
    floor = shapely.union_all(spaces if openings is None else [*spaces, openings])
    free = shapely.difference(floor, solid)

    lines = _lines(solid)
    if len(lines) == 0:
        raise GeometryError(f"{name}: nothing is left of its walls once the doors are cut out")
    shift = lines.reshape(-1, 2).min(0)
    lines = lines - shift
    free = shapely.affinity.translate(free, -shift[0], -shift[1])
    lights = []
    for space in spaces:
        inside = shapely.difference(space, solid)
        if inside.is_empty:
            continue
        centre = shapely.maximum_inscribed_circle(inside)  # the point deepest inside the room
        x, y = np.asarray(shapely.get_coordinates(centre)[0]) - shift
        lights.append([x, y, 0.6 + 0.08 * math.sqrt(inside.area)])
    points = lines.reshape(-1, 2)
    origin, shape = grid(points.min(0), points.max(0), resolution)
    mask = rasterize(free, shape, origin, resolution)
    lights = np.asarray(lights, np.float64).reshape(-1, 3)
    return Geometry(walls=lines, lights=lights, mask=mask, resolution=resolution, origin=origin, name=name).validate()


def parse(data: bytes, name: str, pixels_per_metre: float = 100.0, resolution: float = DEFAULT_RESOLUTION):
    """The geometries (one per floor) of the text of one ``model.svg``.

    :param data: the file's bytes.
    :param name: what errors and the geometries are called (the file's path, usually).
    :raises GeometryError: naming ``name``, when the file is hostile, malformed or holds no plan.
    """
    if not pixels_per_metre > 0:
        raise ValueError(f"pixels_per_metre must be positive, got {pixels_per_metre}")
    if len(data) > MAX_BYTES:
        raise GeometryError(f"{name}: is {len(data)} bytes, more than the {MAX_BYTES} a floor plan can need")
    try:
        root = fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        raise GeometryError(f"{name}: refused, the XML declares entities or external references ({error!r})") from error
    except Exception as error:  # expat's ParseError, or a decoding error
        raise GeometryError(f"{name}: is not well-formed XML ({type(error).__name__}: {error})") from error
    if _local(root.tag) != "svg":
        raise GeometryError(f"{name}: is not an SVG file, its root element is <{_local(root.tag)}>")
    floors = _floors(root)
    parents = {child: parent for parent in root.iter() for child in parent}
    geometries = []
    for number, floor in enumerate(floors, 1):
        found = {"walls": [], "doors": [], "spaces": []}
        try:
            matrix, element = np.eye(3), floor
            while element is not None:  # the floor's own transform and its ancestors'
                matrix = _matrix(element.get("transform", "")) @ matrix
                element = parents.get(element)
            _collect(floor, matrix, found)
        except ValueError as error:
            raise GeometryError(f"{name}: {error}") from error
        label = name if len(floors) == 1 else f"{name} floor {number}"
        geometries.append(_geometry(found, label, float(pixels_per_metre), resolution))
    return geometries


def _sources(path: Path):
    """``(name, read)`` for every ``model.svg`` in a file, folder or zip; ``read()`` gives its bytes."""
    if path.is_dir():
        for file in sorted(path.rglob("model.svg")):
            yield str(file.relative_to(path)), file.read_bytes
    elif zipfile.is_zipfile(path):
        archive = zipfile.ZipFile(path)
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.filename.endswith("model.svg") and not info.is_dir():

                def read(info=info):
                    if info.file_size > MAX_BYTES:  # checked before inflating: zip bombs stay shut
                        raise GeometryError(f"{info.filename}: unpacks to {info.file_size} bytes, over {MAX_BYTES}")
                    return archive.read(info)

                yield f"{path.name}:{info.filename}", read
    else:
        yield str(path), path.read_bytes


def read(path, pixels_per_metre: float = 100.0, resolution: float = DEFAULT_RESOLUTION):
    """Every plan of a ``model.svg``, folder or zip that can be imported, and why the others cannot.

    :param path: as for :func:`load`; a single file may have any name.
    :returns: ``(geometries, skipped, files)``: the geometries of every file read, ``"name: reason"`` for each
        file that was not, and how many files were tried. Nothing is raised for a bad file, nor warned.
    :raises FileNotFoundError: where ``path`` does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no Cubicasa5k file, folder or zip at {path}")
    geometries, skipped = [], []
    sources = list(_sources(path))
    for name, read_bytes in sources:
        try:
            geometries += parse(read_bytes(), name, pixels_per_metre, resolution)
        except (GeometryError, OSError, zipfile.BadZipFile) as error:
            reason = str(error)
            skipped.append(reason if reason.startswith(f"{name}:") else f"{name}: {reason}")
    return geometries, skipped, len(sources)


def load(path, pixels_per_metre: float = 100.0, resolution: float = DEFAULT_RESOLUTION) -> list[Geometry]:
    """Imports Cubicasa5k floor plans from one ``model.svg``, a folder of them, or a zip of them.

    :param path: a ``.svg`` file, or a folder or ``.zip`` searched for files named ``model.svg``.
    :param pixels_per_metre: the plans' scale.
    :param resolution: metres per mask cell.
    :returns: one validated geometry per floor of every file read.
    :raises GeometryError: for a single file that cannot be imported; for a folder
        or zip only when none of its files can be (the others are skipped with one
        warning that lists them).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no Cubicasa5k file, folder or zip at {path}")
    if path.is_file() and not zipfile.is_zipfile(path):
        return parse(path.read_bytes(), str(path), pixels_per_metre, resolution)
    geometries, skipped, files = read(path, pixels_per_metre, resolution)
    if not files:
        raise GeometryError(f"{path}: holds no files named model.svg")
    if skipped:
        summary = "\n  ".join(skipped)
        warnings.warn(
            f"imported {files - len(skipped)} of {files} Cubicasa5k files from {path}; "
            f"skipped {len(skipped)}:\n  {summary}", stacklevel=2,
        )
    if not geometries:
        raise GeometryError(f"{path}: none of its {files} model.svg files could be imported")
    return geometries
