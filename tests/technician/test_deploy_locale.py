"""`gatepass deploy` builds the gate's Chinese: /glyphs.bin (display) and /voice.bin (voice
module) from the deployed source's message catalog, only for profiles that have them."""
from __future__ import annotations

import json
import shutil

import pytest

from gatepass import firmware_dir, fonts
from gatepass.technician import deploy as dep
from gatepass.technician import glyphs


def _profile(name):
    return json.loads((firmware_dir().parent / "boards" / (name + ".json")).read_text())


def test_glyph_and_voice_files_are_part_of_the_build():
    files = dep.build_firmware(_profile("esp32-devkitc"), (6, 3, "xtensawin"), frozen=True)
    held = glyphs.read_glyph_file(files[dep.GLYPHS_PATH])
    from app import reasons

    for _en, zh in reasons.texts():
        assert set(zh) <= set(held), zh
    assert files[dep.VOICE_PATH] == glyphs.build_voice_file()
    # the build id covers them: another catalog is another build
    s3 = dep.build_firmware(_profile("esp32-s3"), (6, 3, "xtensawin"), frozen=True)
    assert dep.GLYPHS_PATH not in s3 and dep.VOICE_PATH not in s3  # no display, no voice


def test_the_deployed_sources_catalog_is_rendered(tmp_path):
    src = tmp_path / "fw"
    shutil.copytree(firmware_dir(), src, ignore=shutil.ignore_patterns("__pycache__"))
    p = src / "app" / "reasons.py"
    p.write_text(p.read_text().replace('"欢迎通行"', '"欢迎光临"'))
    files = dep.locale_files(_profile("esp32-devkitc"), src)
    assert "光" in glyphs.read_glyph_file(files[dep.GLYPHS_PATH])
    assert "光" not in glyphs.read_glyph_file(dep.locale_files(_profile("esp32-devkitc"))[dep.GLYPHS_PATH])


def test_missing_font_stops_the_deploy_with_the_package_name(monkeypatch, tmp_path):
    monkeypatch.setattr(fonts, "GLYPH_FONT_PATHS", (str(tmp_path / "none.hex"),))
    with pytest.raises(dep.DeployError, match="apt-get install unifont"):
        dep.locale_files(_profile("esp32-devkitc"))


def test_the_display_language_is_a_per_device_config_field():
    from app import config

    from gatepass.sim.simgate import device_config
    from gatepass.technician import provisioning as prov

    base = device_config("g", "in", "greenhill", [(b"\x01\x02", b"\x04" + bytes(64))])
    assert config.Config(base).lang == "zh"  # Chinese first
    for lang in ("zh", "en"):
        cfg = prov.build_config(base, lang=lang)
        assert cfg["lang"] == lang and config.Config(cfg).lang == lang
    with pytest.raises(config.ConfigError, match="lang"):
        config.Config(dict(base, lang="fr"))
