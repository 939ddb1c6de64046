"""The CPU this process runs on: model name and the instruction sets that decide which
inference path is fastest (read from /proc/cpuinfo; no third-party package)."""

from __future__ import annotations

import functools
import hashlib
import os
import platform

# /proc/cpuinfo flag names of the instruction sets that matter for transformer inference:
# wide fp32 SIMD, int8 dot products (VNNI), bf16 dot products, and the AMX tile units.
FLAGS = {
    "avx2": ("avx2",),
    "avx512": ("avx512f",),
    "vnni": ("avx512_vnni", "avx_vnni"),
    "avx512_bf16": ("avx512_bf16",),
    "amx_bf16": ("amx_bf16",),
    "amx_int8": ("amx_int8",),
}


@functools.cache
def cpu_info() -> dict:
    """{"model": str, "cores": int, "flags": {name: bool}, "key": short id of model + flags}."""
    model, flags = "", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                name = name.strip()
                if name == "model name" and not model:
                    model = value.strip()
                elif name == "flags" and not flags:
                    flags = set(value.split())
                if flags and name == "":  # end of the first processor's block
                    break
    except OSError:
        pass
    model = model or platform.processor() or platform.machine()
    found = {name: any(flag in flags for flag in names) for name, names in FLAGS.items()}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    key = hashlib.sha256(f"{model}|{sorted(k for k, v in found.items() if v)}|{cores}".encode()).hexdigest()[:12]
    return {"model": model, "cores": cores, "flags": found, "key": key}


def has_bf16() -> bool:
    """bf16 matrix products in hardware (AVX-512 BF16 or AMX): otherwise bf16 is emulated and slow."""
    flags = cpu_info()["flags"]
    return flags["avx512_bf16"] or flags["amx_bf16"]


def describe() -> str:
    info = cpu_info()
    shown = ", ".join(name for name, present in info["flags"].items() if present) or "none of " + ", ".join(FLAGS)
    return f"{info['model']} ({info['cores']} cores; {shown})"
