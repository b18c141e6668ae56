# The SSD1306 driver stand-in on the simulated board (the shared FakeSSD1306 model).
from sim.display import FakeSSD1306

displays = []


def SSD1306_I2C(width, height, i2c, addr=0x3C, external_vcc=False):
    d = FakeSSD1306(width, height, i2c, addr, external_vcc)
    displays.append(d)
    return d
