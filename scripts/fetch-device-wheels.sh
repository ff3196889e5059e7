#!/usr/bin/env bash
# Downloads, here, the wheels the GPU machine lacks into .whl/, and copies the benchmark layouts
# into .bench/ (both ignored by git; the device tool carries them: carry=[".whl", ".bench"]).
set -e
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl shapely==2.1.2 defusedxml==0.7.1 imageio-ffmpeg==0.6.0 gymnasium==1.2.2 farama-notifications==0.0.4
mkdir -p .bench && cp ../shared/bench/layouts.npz .bench/
grep -qx '/.bench/' .git/info/exclude || echo /.bench/ >> .git/info/exclude
ls .whl .bench
