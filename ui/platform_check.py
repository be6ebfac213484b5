"""Before Qt starts: the system libraries its xcb (X11) platform needs, named with the package to install.

Without them Qt aborts the process with "Could not load the Qt platform plugin xcb" and a hint
few users can act on (libxcb-cursor0 is the one a fresh desktop most often lacks). This check
asks the dynamic linker (``ldd``) which libraries of PySide6's xcb plugin are not found and
names the Debian/Ubuntu package of each. Nothing here imports Qt: Qt would abort first.
"""

from __future__ import annotations

import ctypes.util
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "wayland", "eglfs", "linuxfb")


def xcb_plugin() -> Path | None:
    """PySide6's xcb platform plugin, found without importing Qt."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugin = Path(list(spec.submodule_search_locations)[0]) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def debian_package(soname: str) -> str:
    """The Debian package of a shared library: ``libxcb-cursor.so.0`` -> ``libxcb-cursor0``,
    ``libxkbcommon-x11.so.0`` -> ``libxkbcommon-x11-0`` (a dash when the name ends in a digit)."""
    match = re.fullmatch(r"(lib.+)\.so\.(\d+)(\..*)?", soname)
    if not match:
        return soname
    name, version = match.group(1), match.group(2)
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def unresolved_libraries(binary: Path) -> list[str] | None:
    """The sonames ``ldd`` cannot find for ``binary``; None when ldd cannot tell."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        out = subprocess.run([ldd, str(binary)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return sorted({line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line})


def missing_xcb_packages(platform: str | None = None) -> list[str]:
    """The packages to install before Qt's xcb platform can load; [] when none or xcb is not used."""
    if not sys.platform.startswith("linux"):
        return []
    platform = os.environ.get("QT_QPA_PLATFORM", "") if platform is None else platform
    if platform.split(":")[0].split(";")[0] in HEADLESS_PLATFORMS:
        return []
    plugin = xcb_plugin()
    missing = unresolved_libraries(plugin) if plugin is not None else None
    if missing is None:  # no ldd: check the library a fresh desktop usually lacks
        return [] if ctypes.util.find_library("xcb-cursor") else ["libxcb-cursor0"]
    return [debian_package(soname) for soname in missing]


def advice(packages: list[str]) -> str:
    one = len(packages) == 1
    return (f"CNN Studio cannot open its window: Qt's X11 (xcb) platform needs {', '.join(packages)}, "
            f"which {'is' if one else 'are'} not installed.\n"
            f"Install {'it' if one else 'them'}: sudo apt-get install {' '.join(packages)}   (Debian, Ubuntu)\n"
            "  (Fedora: sudo dnf install xcb-util-cursor xcb-util-wm xcb-util-keysyms; "
            "Arch: sudo pacman -S xcb-util-cursor xcb-util-wm xcb-util-keysyms)\n"
            "Or render without a display: QT_QPA_PLATFORM=offscreen.")


def main() -> int:
    """``python -m ui.platform_check``: 0 when the window can open, 1 with the advice on stderr."""
    packages = missing_xcb_packages()
    if packages:
        print(advice(packages), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
