"""numbanet as a user installs it: the sdist and the wheel built from it carry every package,
and the wheel, installed without -e into a fresh virtual environment whose package folder is
read-only, imports, trains and caches its kernels where the user can write.

An editable install (what the rest of the suite runs on) maps the source tree, so it cannot
see a package left out of the wheel; this test can.
"""

import os
import shutil
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from numbanet.kernels.cpu.cache import STAMP, sources_fingerprint

ROOT = Path(__file__).resolve().parents[1]
SOURCE_FOLDERS = {"numbanet": "numbanet", "widgets": "numbanet/widgets"}  # folder: installed as
# Root writes into read-only folders by its capability CAP_DAC_OVERRIDE (and reads any by
# CAP_DAC_READ_SEARCH); run as root, the installed copy runs without them, dropped for good
# from the capability bounding set before the command is executed.
WITHOUT_ROOT_WRITES = (
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH\n"
    "    if libc.prctl(24, capability, 0, 0, 0):  # PR_CAPBSET_DROP\n"
    "        sys.exit(f'cannot drop capability {capability}: {os.strerror(ctypes.get_errno())}')\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)


def package_files():
    """The .py files of the source tree, at the paths they install to."""
    return {
        f"{target}/{path.relative_to(ROOT / folder).as_posix()}"
        for folder, target in SOURCE_FOLDERS.items()
        for path in (ROOT / folder).rglob("*.py")
    }


def run(command, env, **kwargs):
    """Run ``command``; its output, or a failure that shows it."""
    done = subprocess.run(command, env=env, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def make_read_only(folder):
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def test_the_wheel_installs_and_runs_from_a_read_only_site_packages(tmp_path):
    # build from a copy: the build writes egg-info and build/ beside the sources
    source = tmp_path / "source"
    junk = (".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*junk, "artifacts", "*.nb[ic]"))
    outer = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # python -m build: the sdist, then the wheel built from the unpacked sdist
    run([sys.executable, "-m", "build", "--outdir", str(tmp_path / "dist"), str(source)], outer)
    [wheel] = (tmp_path / "dist").glob("numbanet-*.whl")
    [sdist] = (tmp_path / "dist").glob("numbanet-*.tar.gz")
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    missing = package_files() - in_wheel
    assert not missing, f"the wheel leaves out {sorted(missing)}"
    assert not any(name.startswith(("tests/", "benchmarks/", "tutorials/")) for name in in_wheel)
    top = sdist.name.removesuffix(".tar.gz")
    in_sdist = {name.removeprefix(f"{top}/") for name in tarfile.open(sdist).getnames()}
    assert {"pyproject.toml", "setup.py", "README.md", "tests/test_install.py"} <= in_sdist
    assert {"numbanet/cli.py", "widgets/inspector.py", "benchmarks/RESULTS.md"} <= in_sdist

    # a fresh environment: the wheel and its dependencies, from the package index
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], outer)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    run([*pip, "--no-compile", f"{wheel}[widgets]"], outer)
    [site] = venv.glob("lib/python*/site-packages")
    installed = site / "numbanet"
    make_read_only(installed)

    # run as a user would, from a folder outside the checkout, with a cache folder of their own
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    as_user = [sys.executable, "-c", WITHOUT_ROOT_WRITES] if os.geteuid() == 0 else []
    probe = subprocess.run(
        [*as_user, "python", "-c", f"open({str(installed / 'probe')!r}, 'w')"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert "PermissionError" in probe.stderr, probe  # the package's folder is read-only to it

    def numbanet(*args):
        return run([*as_user, *args], env, cwd=home)

    out = numbanet(
        "python",
        "-c",
        "import importlib.metadata, numbanet, numbanet.widgets, numbanet.compare; "
        "print(numbanet.__file__, numbanet.__version__, importlib.metadata.version('numbanet'))",
    )
    file, version, metadata_version = out.split()
    assert Path(file).parent == installed and version == metadata_version

    info = numbanet("numbanet", "info")
    user_cache = home / ".cache" / "numba"
    [cache_row] = [line for line in info.splitlines() if line.startswith("kernel cache")]
    assert str(user_cache) in cache_row and "read-only" in cache_row, info

    first = numbanet("numbanet", "train", "--epochs", "1", "--no-progress")
    assert f"compiling the kernels (first run only: they are cached in {user_cache}" in first
    assert float(first.split("accuracy ")[1].split()[0]) > 0.5, first  # chance is 0.1
    [cache] = user_cache.glob("cpu_*")
    assert list(cache.glob("*.nbi")) and not list(installed.rglob("*.nb[ic]"))
    stamp, fingerprint = cache / STAMP, sources_fingerprint(installed / "kernels")
    assert stamp.read_text() == fingerprint
    again = numbanet("numbanet", "train", "--epochs", "1", "--no-progress")
    assert "compiling the kernels" not in again  # loaded from the user's cache

    # the fingerprint check holds there too: a stale stamp empties that cache at import
    stamp.write_text("stale")
    numbanet("python", "-c", "import numbanet.kernels.cpu")
    assert not list(cache.glob("*.nbi")) and stamp.read_text() == fingerprint
