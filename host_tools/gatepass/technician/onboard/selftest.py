"""Runs ON the board (sent over the raw REPL by `gatepass device selftest`): builds the
devices from /board.json with the firmware's own drivers and checks each one. The host
appends `print(repr(selftest(RELAY_MS)))`; the result is [(check, ok, detail)] with ok
True, False, or None (not tested)."""
import time


def selftest(relay_ms):
    out = []

    def note(name, ok, detail):
        out.append((name, ok, detail))

    try:
        import machine
    except ImportError:
        note('hardware', None, 'no machine module on this board (emulator or unsupported port)')
        return out
    missing = [n for n in ('Pin', 'I2C', 'UART') if not hasattr(machine, n)]
    if missing:
        note('hardware', None, 'no machine/I2C: machine.%s missing on this board (REPL bridge or an '
             'emulator: nothing wired to test)' % '/'.join(missing))
        return out
    try:
        from app import board
        prof = board.load('/board.json')
    except Exception as e:
        note('board', False, 'no valid /board.json (%s): run gatepass deploy' % e)
        return out
    from drivers import devices
    try:
        dev = devices.build(prof, configure_scanner=False)
    except Exception as e:
        note('build', False, 'building the devices failed: %s: %s' % (type(e).__name__, e))
        return out
    for name, msg in dev.faults:
        note(name, False, msg)
    if dev.sensor is not None:
        try:
            o, a = dev.sensor.read()
            note('thermometer', True, 'object %d.%02d C, ambient %d.%02d C (I2C scan: %s)' % (
                o // 100, o % 100, a // 100, a % 100,
                ', '.join(['0x%02x' % x for x in dev.i2c.scan()])))
        except Exception as e:
            note('thermometer', False, '%s: %s' % (type(e).__name__, e))
    try:
        from drivers import qrscanner
        z = dev.scanner.read_zone(qrscanner.ZONE_MODE)
        note('scanner', True, 'GM65 answered (scan mode zone 0x0000 = 0x%02x)' % z)
    except Exception as e:
        note('scanner', False, '%s: %s' % (type(e).__name__, e))
    try:
        note('door', True, 'contact reads %s' % ('open' if dev.door.is_open else 'closed'))
    except Exception as e:
        note('door', False, '%s: %s' % (type(e).__name__, e))
    v = dev.voice
    if v is not None:
        try:
            from drivers import voice
            v.prompts = voice.load_prompts('/voice.bin')
            if not v.prompts:
                note('voice', False, 'no /voice.bin: run gatepass deploy')
            else:
                v.say(0)
                t0 = time.ticks_ms()
                while time.ticks_diff(time.ticks_ms(), t0) < 500 and not v.acks:
                    v.update()
                    time.sleep_ms(20)
                if v.acks:
                    note('voice', True, 'voice module said prompt 1 (%d bytes of GB2312)' % len(v.prompts[0]))
                elif prof['voice'].get('rx') is None:
                    note('voice', None, 'prompt 1 sent; no RX wire in the profile: listen for it')
                else:
                    note('voice', False, 'no answer from the voice module (errors %d): check TX/RX '
                         'crossing, 9600 baud and its power' % v.errors)
        except Exception as e:
            note('voice', False, '%s: %s' % (type(e).__name__, e))
    r = dev.relay
    if relay_ms:
        pin = r._pin
        r.unlock(relay_ms)
        on = pin.value()
        time.sleep_ms(relay_ms)
        r.lock()
        off = pin.value()
        ok = on == r.unlock_level and off == 1 - r.unlock_level
        note('relay', ok, 'pulsed GPIO%d for %d ms: read back unlocked=%d locked=%d (unlock level %d)'
             % (prof['relay']['pin'], relay_ms, on, off, r.unlock_level))
    else:
        note('relay', None, 'not pulsed (use --relay)')
    return out
