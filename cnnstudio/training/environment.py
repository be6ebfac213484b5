"""The environment report behind ``cnnstudio doctor``: versions, devices, and why no GPU.

When TensorFlow sees no GPU the report says which link is missing, in the order TensorFlow
needs them: a CUDA build of TensorFlow, the NVIDIA driver (libcuda.so.1, /proc/driver/nvidia),
then the CUDA runtime and cuDNN versions that build was made for (loaded with ctypes).
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from dataclasses import asdict, dataclass, field


@dataclass
class LibraryCheck:
    """Whether a shared library loads: ``found`` and the name tried, or the loader's error."""

    name: str
    found: bool
    detail: str


@dataclass
class EnvironmentReport:
    python: str
    platform: str
    tensorflow: str | None
    keras: str | None
    backend: str | None
    devices: list[str] = field(default_factory=list)
    gpus: list[str] = field(default_factory=list)
    cuda_build: bool = False
    cuda_version: str | None = None
    cudnn_version: str | None = None
    libraries: list[LibraryCheck] = field(default_factory=list)
    driver: str | None = None
    gpu_status: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def format(self) -> str:
        """The report as aligned lines for a terminal."""
        rows = [
            ("Python", self.python),
            ("Platform", self.platform),
            ("TensorFlow", self.tensorflow or "not installed"),
            ("Keras", self.keras or "not installed"),
            ("Backend", self.backend or "unknown"),
            ("Devices", ", ".join(self.devices) or "none"),
            ("CUDA build", f"yes (CUDA {self.cuda_version}, cuDNN {self.cudnn_version})" if self.cuda_build else "no"),
            ("NVIDIA driver", self.driver or "not found"),
        ]
        rows += [(lib.name, ("found: " if lib.found else "missing: ") + lib.detail) for lib in self.libraries]
        width = max(len(name) for name, _ in rows)
        lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
        lines.append("")
        lines.append(f"GPU: {self.gpu_status}")
        return "\n".join(lines)


def _try_load(names: list[str]) -> LibraryCheck:
    errors = []
    for name in names:
        try:
            ctypes.CDLL(name)
            return LibraryCheck(names[0], True, name)
        except OSError as exc:
            errors.append(str(exc))
    return LibraryCheck(names[0], False, errors[0] if errors else "not tried")


def _driver_version() -> str | None:
    try:
        with open("/proc/driver/nvidia/version") as f:
            return f.readline().strip() or None
    except OSError:
        return None


def environment_report() -> EnvironmentReport:
    """Collect the report; imports TensorFlow and Keras (a few seconds)."""
    report = EnvironmentReport(
        python=sys.version.split()[0],
        platform=platform.platform(),
        tensorflow=None,
        keras=None,
        backend=None,
    )
    try:
        import keras

        report.keras = keras.__version__
        report.backend = keras.backend.backend()
    except ImportError:
        pass
    try:
        import tensorflow as tf
    except ImportError:
        report.gpu_status = "TensorFlow is not installed, so no GPU can be used through it."
        return report
    report.tensorflow = tf.__version__
    report.devices = [d.name.replace("/physical_device:", "") for d in tf.config.list_physical_devices()]
    report.gpus = [d for d in report.devices if d.startswith("GPU")]
    info = tf.sysconfig.get_build_info()
    report.cuda_build = bool(info.get("is_cuda_build"))
    report.cuda_version = info.get("cuda_version")
    report.cudnn_version = info.get("cudnn_version")
    report.driver = _driver_version()
    if report.cuda_build and sys.platform.startswith("linux"):
        cuda_major = str(report.cuda_version or "").split(".")[0]
        cudnn_major = str(report.cudnn_version or "").split(".")[0]
        report.libraries = [
            _try_load(["libcuda.so.1", "libcuda.so"]),
            _try_load([f"libcudart.so.{cuda_major}" if cuda_major else "libcudart.so"]),
            _try_load([f"libcudnn.so.{cudnn_major}" if cudnn_major else "libcudnn.so"]),
        ]
    report.gpu_status = _gpu_status(report)
    return report


def _gpu_status(report: EnvironmentReport) -> str:
    if report.gpus:
        return f"TensorFlow uses {len(report.gpus)} GPU(s): {', '.join(report.gpus)}."
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return "none used: CUDA_VISIBLE_DEVICES hides every GPU. Unset it to let TensorFlow see them."
    if not report.cuda_build:
        return (
            "none: this TensorFlow is a CPU-only build. Install the CUDA build "
            "(pip install 'tensorflow[and-cuda]') on a machine with an NVIDIA GPU."
        )
    missing = {lib.name: lib for lib in report.libraries if not lib.found}
    if "libcuda.so.1" in missing or (report.driver is None and not report.libraries):
        return (
            "none: no NVIDIA driver on this machine (libcuda.so.1 does not load and "
            "/proc/driver/nvidia is absent), so training runs on the CPU. On a machine with an NVIDIA "
            "GPU, install its driver."
        )
    if missing:
        names = ", ".join(missing)
        return (
            f"none used: the NVIDIA driver is there but {names} (CUDA {report.cuda_version}, cuDNN "
            f"{report.cudnn_version}, which this TensorFlow was built for) did not load. Install them, "
            f"e.g. pip install 'tensorflow[and-cuda]'."
        )
    return (
        "none: the driver and CUDA libraries load but TensorFlow lists no GPU; the GPU may be too "
        "old for this build or busy. TensorFlow's log (TF_CPP_MIN_LOG_LEVEL=0) says why."
    )
