"""Draws the pictures of docs/geometry.rst into docs/_static/geometry/.

    python megastep_geometry/scripts/docs_figures.py [OUT_FOLDER]
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from megastep_geometry import cubicasa, floorplans, toys
from megastep_geometry.layouts import spawn_points
from megastep_geometry.plot import save_grid, save_plan

EXAMPLE_SVG = """<?xml version="1.0" encoding="utf-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="900" height="700">
 <g id="Model" class="Model"><g class="Floor"><g class="Floorplan Floor-1">
  <g id="Wall" class="Wall External"><polygon points="0,0 800,0 800,12 0,12 "/></g>
  <g id="Wall" class="Wall External"><polygon points="0,588 800,588 800,600 0,600 "/></g>
  <g id="Wall" class="Wall External"><polygon points="0,0 12,0 12,600 0,600 "/></g>
  <g id="Wall" class="Wall External"><polygon points="788,0 800,0 800,600 788,600 "/></g>
  <g id="Wall" class="Wall"><polygon points="394,0 406,0 406,600 394,600 "/>
   <g id="Door" class="Door Swing Beside"><polygon points="394,90 406,90 406,180 394,180 "/></g>
   <g id="Door" class="Door Swing Beside"><polygon points="394,420 406,420 406,510 394,510 "/></g></g>
  <g id="Wall" class="Wall"><polygon points="0,294 394,294 394,306 0,306 "/>
   <g id="Door" class="Door Swing Beside"><polygon points="250,294 340,294 340,306 250,306 "/></g></g>
  <g id="Bedroom-1" class="Space Bedroom"><polygon points="12,12 394,12 394,294 12,294 "/></g>
  <g id="Bath-1" class="Space Bath"><polygon points="12,306 394,306 394,588 12,588 "/></g>
  <g id="Living-1" class="Space LivingRoom"><polygon points="406,12 788,12 788,588 406,588 "/></g>
 </g></g></g>
</svg>
"""


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, geometry in [
        ("box", toys.box(5, 4)), ("column", toys.column(5, 5, side=1.0)),
        ("corridor", toys.corridor(10, 1.2)), ("maze", toys.maze(8, 8, seed=0)),
    ]:
        save_plan(geometry, out / f"{name}.png", spawns=spawn_points(geometry), dpi=70)
    save_grid([floorplans.generate(0, i).geometry for i in range(8)], out / "homes.png", columns=4, dpi=75)
    home = floorplans.generate(0, 3).geometry
    save_plan(home, out / "home.png", spawns=spawn_points(home), dpi=90)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.svg"
        path.write_text(EXAMPLE_SVG)
        (plan,) = cubicasa.load(path)
    plan.name = "a Cubicasa5k-style model.svg"
    save_plan(plan, out / "cubicasa.png", spawns=spawn_points(plan), dpi=70)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "docs/_static/geometry")
