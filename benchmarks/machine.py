"""What a results file says about where it was measured: the machine, the versions, the date."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import re
import shlex
import subprocess
import sys


def _cpu_model() -> str:
    # /proc/cpuinfo names the chip on Linux; platform.processor() is often empty there
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):  # not every system exposes these
        return None


_GPU_QUERY = """
import json, torch
p = torch.cuda.get_device_properties(0)
print(json.dumps({"name": p.name, "memory_gb": round(p.total_memory / 2**30, 1),
                  "count": torch.cuda.device_count(), "cuda": torch.version.cuda}))
"""


def gpu() -> dict | None:
    """Name and memory of the first CUDA GPU torch sees, or None.

    The properties are read in a child process: reading them here would open
    a CUDA context that holds GPU memory for the whole run.
    """
    import torch

    if not torch.cuda.is_available():
        return None
    return json.loads(subprocess.run([sys.executable, "-c", _GPU_QUERY], capture_output=True, text=True,
                                     check=True).stdout)


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages: a number above the core count means other work shared the machine."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict:
    """The hardware of this run; ``tag`` names its results file."""
    described = {"cpu": _cpu_model(), "cores": os.cpu_count(), "ram_gb": _ram_gb(), "gpu": gpu(),
                 "os": f"{platform.system()} {platform.release()}"}
    described["tag"] = tag(described)
    return described


def tag(described: dict) -> str:
    """A file name for the machine, e.g. ``cpu-amd-epyc-2-cores`` or ``gpu-nvidia-h100-80gb-hbm3``."""
    if described["gpu"]:
        name = f"gpu-{described['gpu']['name']}"
    else:
        name = f"cpu-{described['cpu']}-{described['cores']}-cores"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict:
    """Python and the versions of the packages whose speed is measured."""
    found = {"python": platform.python_version()}
    found.update({name: _version(name) for name in ("torch", "tensorflow", "keras", "coursekit", "numpy")})
    return found


def now() -> str:
    """The current time in UTC, to the second (ISO 8601)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def command() -> str:
    """How this run was started, so that it can be repeated."""
    return shlex.join(["python", "-m", "benchmarks", *sys.argv[1:]])
