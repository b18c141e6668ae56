"""Build a signed firmware release: every app/ and drivers/ module through mpy-cross, a
manifest (version, .mpy version, per-file sha256) signed with the firmware key
(gatepass.issuing.release). The device side is firmware/app/release.py + otaboot.py.

    out = build_release(key, version=7, out_dir=Path("rel-7"), arch="xtensawin")
    # rel-7/manifest.cose, rel-7/app/*.mpy, rel-7/drivers/*.mpy
"""
from __future__ import annotations

from pathlib import Path

from ..issuing import release as rel
from ..issuing.keys import IssuerKey
from . import deploy


class ReleaseBuildError(ValueError):
    pass


def compile_set(arch: str = "xtensawin", fw_dir: Path | None = None, progress=None) -> dict[str, bytes]:
    """{app/x.mpy: bytes} of every OTA-updatable module (root files stay USB-only)."""
    cmd = deploy.mpy_cross_command()
    srcs = [(r, p) for r, p in deploy.firmware_sources(fw_dir) if r not in deploy.ROOT_SOURCES]
    out: dict[str, bytes] = {}
    for i, (r, p) in enumerate(srcs):
        if not arch and deploy.is_native(p):
            continue
        out[r[:-3] + ".mpy"] = deploy.compile_mpy(p, r, arch, cmd)
        if progress:
            progress(i + 1, len(srcs))
    return out


def build_release(key: IssuerKey, version: int, out_dir: Path, arch: str = "xtensawin",
                  force: bool = False, fw_dir: Path | None = None, progress=None) -> dict:
    """Write the release into out_dir; returns {"version", "mpy", "files", "bytes", "manifest"}."""
    if version < 1:
        raise ReleaseBuildError("version must be 1 or more (and above every earlier release)")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise ReleaseBuildError("%s is not empty (--force replaces it)" % out_dir)
    try:
        _, (mpy, _sub) = deploy.mpy_cross_version()
    except deploy.DeployError as e:
        raise ReleaseBuildError(str(e)) from None
    files = compile_set(arch, fw_dir, progress)
    data = rel.build(key, files, version, mpy)
    for path, b in files.items():
        p = out_dir / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b)
    (out_dir / "manifest.cose").write_bytes(data)
    return {"version": version, "mpy": mpy, "files": len(files), "bytes": sum(len(b) for b in files.values()),
            "manifest": str(out_dir / "manifest.cose")}
