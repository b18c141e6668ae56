"""The gate's Chinese display on MicroPython: glyph file size (as `gatepass deploy` builds it),
heap held by the loaded font, and the time to draw a full two-line screen (fill + glyph
lines: 体温异常请稍候 / 37.8°C on 128x32)."""
import json

DRAW = """
import framebuf, gc, time
from drivers import glyphs
class D(framebuf.FrameBuffer):
    def __init__(self, w, h):
        self.buffer = bytearray(w * h // 8)
        super().__init__(self.buffer, w, h, framebuf.MONO_VLSB)
        self.width = w
        self.height = h
gc.collect()
a = gc.mem_alloc()
font = glyphs.load('/glyphs.bin')
gc.collect()
held = gc.mem_alloc() - a
d = D(128, 32)
n = %d
t0 = time.ticks_ms()
for _ in range(n):
    d.fill(0)
    glyphs.lines(d, font, 16, 'Fever - staff', 'called 37.8 C', 'Fever - staff called', '37.8 C')
us = time.ticks_diff(time.ticks_ms(), t0) * 1000 // n  # ms ticks: the wasm port's us ticks are coarse
print('@@RESULT@@' + repr((held, us, font.count)))
"""


def run(rounds=500, rt=None):
    from gatepass.mp.runtime import MicroPython, _parse_result
    from gatepass.technician import glyphs

    data = glyphs.build_glyph_file()
    own = rt is None
    rt = rt or MicroPython()
    try:
        held, us, count = _parse_result(rt.run(DRAW % rounds, files={"/glyphs.bin": data}))
    finally:
        if own:
            rt.close()
    return {"glyph_file_bytes": len(data), "glyph_count": count, "glyph_font_heap_bytes": held,
            "glyph_draw_us_mean": us}


if __name__ == "__main__":
    print(json.dumps(run(), sort_keys=True))
