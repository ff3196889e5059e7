"""The Cubicasa5k importer, on small SVG files written here in the dataset's structure."""
import zipfile

import numpy as np
import pytest
import shapely

from megastep_core import GeometryError
from megastep_geometry import cubicasa
from megastep_geometry.masks import components, free_space

SVG = '<?xml version="1.0" encoding="utf-8"?>\n{doctype}<svg xmlns="http://www.w3.org/2000/svg" ' \
      'width="900" height="400"><g id="Model" class="Model"><g class="Floor">{floors}</g></g></svg>'
FLOOR = '<g class="Floorplan Floor-{n}" {transform}>{body}</g>'


def _wall(x0, y0, x1, y1, inner="", kind="Wall Interior"):
    return (f'<g id="Wall" class="{kind}"><polygon points="{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1} "/>'
            f'{inner}</g>')


def _door(x0, y0, x1, y1):
    return (f'<g id="Door" class="Door Swing Beside"><polygon points="{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1} "/>'
            '<g class="Panel"><path d="M 0 0 L 10 10"/></g></g>')


def _space(kind, x0, y0, x1, y1):
    return f'<g id="{kind}-1" class="Space {kind}"><polygon points="{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1} "/></g>'


def two_rooms(door=True):
    """Two 3.9 x 2.9 m rooms side by side, 10 px (10 cm) walls, a 0.9 m door between them."""
    middle = _door(395, 100, 405, 190) if door else ""
    return "".join([
        _wall(-5, -5, 805, 5, kind="Wall External"), _wall(-5, 295, 805, 305, kind="Wall External"),
        _wall(-5, -5, 5, 305, kind="Wall External"), _wall(795, -5, 805, 305, kind="Wall External"),
        _wall(395, -5, 405, 305, middle),
        _space("Bedroom", 5, 5, 395, 295), _space("Kitchen", 405, 5, 795, 295),
    ])


def svg(*floors, doctype="", transform=""):
    body = "".join(FLOOR.format(n=i + 1, body=f, transform=transform) for i, f in enumerate(floors))
    return SVG.format(doctype=doctype, floors=body).encode()


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_two_rooms_with_a_door(tmp_path):
    (geometry,) = cubicasa.load(_write(tmp_path / "model.svg", svg(two_rooms())))
    lo, hi = geometry.extent
    assert np.allclose(lo, 0) and np.allclose(hi, [8.1, 3.1], atol=1e-5)
    assert components(geometry.mask)[1] == 1
    free_area = geometry.mask.sum() * geometry.resolution**2
    assert free_area == pytest.approx(2 * 3.9 * 2.9 + 0.09, rel=0.03)
    # one light per space, each inside its own room (the kitchen is on the right)
    assert len(geometry.lights) == 2
    xs = sorted(geometry.lights[:, 0])
    assert 0.1 < xs[0] < 4.0 < xs[1] < 8.0
    assert str(tmp_path / "model.svg") == geometry.name


def test_door_is_a_gap_in_the_wall(tmp_path):
    (geometry,) = cubicasa.load(_write(tmp_path / "model.svg", svg(two_rooms())))
    # the door spans y = 1.1 .. 2.0 m after the flip (pixels 100..190 of a 310 px tall plan, y down)
    crossing = shapely.LineString([(3.5, 1.55), (4.6, 1.55)])
    blocked = shapely.LineString([(3.5, 0.5), (4.6, 0.5)])
    walls = shapely.MultiLineString(list(geometry.walls.astype(float)))
    assert not crossing.intersects(walls) and blocked.intersects(walls)
    assert free_space(geometry.walls).contains(crossing)


def test_without_a_door_the_rooms_are_apart(tmp_path):
    (geometry,) = cubicasa.load(_write(tmp_path / "model.svg", svg(two_rooms(door=False))))
    assert components(geometry.mask)[1] == 2


def test_scale_and_floors_and_transforms(tmp_path):
    data = svg(two_rooms(), two_rooms(door=False), transform='transform="translate(100, 50) scale(2)"')
    first, second = cubicasa.load(_write(tmp_path / "model.svg", data), pixels_per_metre=200)
    assert first.name.endswith("floor 1") and second.name.endswith("floor 2")
    # scaled twice, at 200 pixels a metre: the same size in metres
    assert np.allclose(first.extent[1], [8.1, 3.1], atol=1e-4)
    assert components(second.mask)[1] == 2


BOMB = ('<!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>')
EXTERNAL = '<!DOCTYPE svg [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'

HOSTILE = {
    "bomb": (svg(two_rooms().replace("Bedroom-1", "&d;"), doctype=BOMB), "entities"),
    "external": (svg(two_rooms().replace("Bedroom-1", "&secret;"), doctype=EXTERNAL), "entities or external"),
    "malformed": (svg(two_rooms())[:-40], "not well-formed"),
    "binary": (b"\x00\x01\x02garbage", "not well-formed"),
    "not svg": (b'<?xml version="1.0"?><html><body/></html>', "not an SVG"),
    "no walls": (svg(_space("Bedroom", 0, 0, 100, 100)), "has no walls"),
    "no spaces": (svg(_wall(0, 0, 100, 10)), "has no spaces"),
    "bad transform": (svg(two_rooms(), transform='transform="perspective(30)"'), "cannot read the transform"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_and_broken_files_are_refused_by_name(tmp_path, case):
    data, message = HOSTILE[case]
    path = _write(tmp_path / case / "model.svg", data)
    with pytest.raises(GeometryError, match=message) as caught:
        cubicasa.load(path)
    assert str(path) in str(caught.value)


def test_folders_skip_bad_files_with_a_summary(tmp_path):
    _write(tmp_path / "plans" / "1" / "model.svg", svg(two_rooms()))
    _write(tmp_path / "plans" / "2" / "model.svg", HOSTILE["bomb"][0])
    _write(tmp_path / "plans" / "3" / "model.svg", svg(two_rooms(door=False)))
    _write(tmp_path / "plans" / "4" / "model.svg", HOSTILE["malformed"][0])
    with pytest.warns(UserWarning, match=r"imported 2 of 4 .*skipped 2:\n  2/model.svg: .*\n  4/model.svg") as caught:
        geometries = cubicasa.load(tmp_path / "plans")
    assert [g.name for g in geometries] == ["1/model.svg", "3/model.svg"]
    assert len(caught) == 1


def test_zips_are_read_and_bad_members_skipped(tmp_path):
    archive = tmp_path / "cubicasa5k.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("cubicasa5k/high_quality/10/model.svg", svg(two_rooms()))
        out.writestr("cubicasa5k/high_quality/11/model.svg", HOSTILE["external"][0])
        out.writestr("cubicasa5k/high_quality/10/F1_scaled.png", b"not read")
    with pytest.warns(UserWarning, match="imported 1 of 2"):
        (geometry,) = cubicasa.load(archive)
    assert geometry.name == "cubicasa5k.zip:cubicasa5k/high_quality/10/model.svg"


def test_folder_with_nothing_usable(tmp_path):
    with pytest.raises(GeometryError, match="holds no files named model.svg"):
        cubicasa.load(tmp_path)
    _write(tmp_path / "a" / "model.svg", b"<svg")
    with pytest.warns(UserWarning), pytest.raises(GeometryError, match="none of its 1"):
        cubicasa.load(tmp_path)
    with pytest.raises(FileNotFoundError):
        cubicasa.load(tmp_path / "missing")


# the `megastep import cubicasa` and `megastep show` commands ------------------------------------------------


def test_import_command_writes_every_plan_and_lists_what_it_skipped(tmp_path, capsys):
    from megastep_core.cli import main
    from megastep_geometry.layouts import load_layouts

    single = _write(tmp_path / "one.svg", svg(two_rooms()))
    _write(tmp_path / "plans" / "1" / "model.svg", svg(two_rooms(door=False)))
    _write(tmp_path / "plans" / "2" / "model.svg", HOSTILE["malformed"][0])
    archive = tmp_path / "plans.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("cubicasa5k/10/model.svg", svg(two_rooms(), two_rooms()))
        out.writestr("cubicasa5k/11/model.svg", b"<svg/>")
    layouts = tmp_path / "layouts.npz"
    argv = ["import", "cubicasa", str(single), str(tmp_path / "plans"), str(archive), "--out", str(layouts)]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"wrote 4 floor plans from 3 of 5 files to {layouts}"
    assert out[1] == "skipped 2:"
    assert out[2].startswith("  2/model.svg: is not well-formed XML")
    assert out[3].startswith("  plans.zip:cubicasa5k/11/model.svg: has no walls")
    names = [g.name for g in load_layouts(layouts)]
    assert names == [str(single), "1/model.svg", "plans.zip:cubicasa5k/10/model.svg floor 1",
                     "plans.zip:cubicasa5k/10/model.svg floor 2"]


def test_import_command_errors_name_the_problem(tmp_path, capsys):
    from megastep_core.cli import main

    assert main(["import", "cubicasa", str(tmp_path / "missing"), "--out", str(tmp_path / "l.npz")]) == 1
    assert "no Cubicasa5k file, folder or zip at" in capsys.readouterr().err
    _write(tmp_path / "bad" / "model.svg", b"<svg")
    assert main(["import", "cubicasa", str(tmp_path / "bad"), "--out", str(tmp_path / "l.npz")]) == 1
    error = capsys.readouterr().err
    assert "none of the 1 Cubicasa5k files found could be imported\n  model.svg: is not well-formed" in error
    assert not (tmp_path / "l.npz").exists()


@pytest.mark.parametrize("kind", ["svg", "zip"])
def test_show_draws_cubicasa_plans(tmp_path, capsys, kind):
    from megastep_core.cli import main

    if kind == "svg":
        plans = _write(tmp_path / "model.svg", svg(two_rooms()))
    else:
        plans = tmp_path / "plans.zip"
        with zipfile.ZipFile(plans, "w") as out:
            out.writestr("a/model.svg", svg(two_rooms()))
    image = tmp_path / "plan.png"
    assert main(["show", str(plans), "--out", str(image)]) == 0
    assert image.read_bytes().startswith(b"\x89PNG") and "drew " in capsys.readouterr().out
