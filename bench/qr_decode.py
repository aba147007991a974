"""QR decoding and verification: pyzbar against zxing-cpp, and camera frame to verified result.

    python bench/qr_decode.py [--runs N] [--json PATH] [--quick]

Frames are 640x480 with a code filling about a tenth of the frame (175 px square), sensor noise
and a little blur; the payloads are community passes and EU certificates. The suite pictures are
the DCC test suite's own QR images (when ../shared is present).

Dense codes, as real certificates are (QR version 15-20, an EU certificate's payload): rendered
at several widths (a share of the frame's width) into 640x480, 1280x720 and 1920x1080 frames,
then blurred (optics), noised (sensor) and JPEG-compressed (the camera's MJPEG), and searched the
way the gate searches a camera frame (candidate regions at full resolution, then the whole frame).
Read rate by width and resolution, and the search time.
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
import time

import cv2
import numpy as np

from common import ROOT, add_runs, finish, parser, percentile, runs_wanted, spread, table


def camera_frames(payloads: list[str], count: int, rng) -> list[tuple[np.ndarray, str]]:
    import segno

    frames = []
    for n in range(count):
        payload = payloads[n % len(payloads)]
        matrix = np.pad(np.array(segno.make(payload, error="m", micro=False).matrix, np.uint8), 4)
        card = cv2.resize(np.where(matrix > 0, 0, 255).astype(np.uint8), (175, 175), interpolation=cv2.INTER_AREA)
        frame = np.clip(np.full((480, 640), 110.0) + rng.normal(0, 6, (480, 640)), 0, 255).astype(np.uint8)
        x, y = int(rng.integers(0, 640 - 175)), int(rng.integers(0, 480 - 175))
        frame[y:y + 175, x:x + 175] = card
        frames.append((cv2.cvtColor(cv2.GaussianBlur(frame, (0, 0), 0.7), cv2.COLOR_GRAY2BGR), payload))
    return frames


RESOLUTIONS = ((640, 480), (1280, 720), (1920, 1080))
WIDTHS = (1 / 8, 1 / 6, 1 / 4, 1 / 3)
VERSIONS = (15, 16, 18, 20)


def dense_frame(payload: str, version: int, size: tuple[int, int], share: float, rng) -> np.ndarray:
    import segno

    width, height = size
    matrix = np.pad(np.array(segno.make(payload, error="l", version=version, micro=False).matrix, np.uint8), 4)
    side = int(round(share * width))
    card = cv2.resize(np.where(matrix > 0, 0, 255).astype(np.uint8), (side, side), interpolation=cv2.INTER_AREA)
    frame = np.clip(np.full((height, width), 110.0) + rng.normal(0, 6, (height, width)), 0, 255).astype(np.uint8)
    x, y = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
    frame[y:y + side, x:x + side] = card
    frame = cv2.GaussianBlur(frame, (0, 0), 0.6 + 0.4 * rng.random())
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE), cv2.COLOR_GRAY2BGR)


def dense_codes(certificates: list[str], per_cell: int, rng) -> dict:
    from edge.qr.decode import FrameDecoder

    results = {}
    for size in RESOLUTIONS:
        for share in WIDTHS:
            hits, times = 0, []
            for n in range(per_cell):
                payload = certificates[n % len(certificates)]
                frame = dense_frame(payload, VERSIONS[n % len(VERSIONS)], size, share, rng)
                decoder = FrameDecoder(full_every=1)  # candidates first, then the whole frame, as the gate does
                started = time.perf_counter()
                found = decoder.scan(frame)
                times.append((time.perf_counter() - started) * 1000)
                hits += payload in found
            results[f"{size[0]}x{size[1]} @ {share:.3f}"] = {
                "resolution": f"{size[0]}x{size[1]}", "width_share": round(share, 3),
                "code_px": int(round(share * size[0])), "read": hits, "frames": per_cell,
                "read_rate": hits / per_cell, "scan_ms_p50": percentile(times, 50), "scan_ms_p95": percentile(times, 95)}
    return results


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    add_runs(p)
    args = p.parse_args()
    from edge.config import DccConfig
    from edge.mqtt.auth import generate_key
    from edge.qr.dcc import TrustList, signer_from_der
    from edge.qr.dcc_issue import encode_dcc, make_signer, vaccination
    from edge.qr.decode import FrameDecoder, _pyzbar, _zxing
    from edge.qr.passes import PassVerifier, issue_pass
    from edge.qr.verify import DccVerifier, VerifierRegistry
    from edge.store import Store

    rng = np.random.default_rng(5)
    now = time.time()
    private, public = generate_key()
    key, signer = make_signer()
    passes = [issue_pass(private, "k", site="s", gates=["*"], holder=f"visitor {n}", valid_from=now - 60,
                         valid_until=now + 86400, uses=10**9)[0] for n in range(10)]
    certificates = [encode_dcc(vaccination(given=f"Visitor{chr(65 + n)}"), key, signer, issued=now - 60, expires=now + 86400)
                    for n in range(10)]
    count = 40 if args.quick else 200
    frames = camera_frames(passes + certificates, count, rng)
    empty = camera_frames(passes, 20, rng)
    for frame, _ in empty:
        frame[:] = 110

    readers = {"zxing-cpp": _zxing(), "pyzbar": _pyzbar()}
    rows, figures = [], {}
    suite_pictures = []
    suite = ROOT.parent / "shared" / "data" / "dcc-testdata"
    if suite.is_dir():
        from edge.qr.dcc_suite import case_files

        for path in case_files(suite)[: 150 if args.quick else None]:
            case = json.loads(path.read_text())
            picture = case.get("2DCODE") or case.get("_2DCODE")
            if picture:
                image = cv2.imdecode(np.frombuffer(base64.b64decode(picture), np.uint8), cv2.IMREAD_GRAYSCALE)
                if image is not None:
                    suite_pictures.append((image, case.get("PREFIX")))
    for name, read in readers.items():
        grey_frames = [(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), p) for f, p in frames]
        times, hits = [], 0
        for grey, payload in grey_frames:
            started = time.perf_counter()
            found = read(grey)
            times.append((time.perf_counter() - started) * 1000)
            hits += payload.encode() in found
        suite_hits, suite_times = 0, []
        for image, prefix in suite_pictures:
            started = time.perf_counter()
            found = read(image)
            suite_times.append((time.perf_counter() - started) * 1000)
            suite_hits += (prefix or "").encode() in found
        figures[name] = {"frames_read": hits, "frames": len(frames), "frame_ms_p50": percentile(times, 50),
                         "suite_read": suite_hits, "suite_pictures": len(suite_pictures),
                         "suite_ms_p50": percentile(suite_times, 50)}
        rows.append((name, f"{hits}/{len(frames)}", percentile(times, 50),
                     f"{suite_hits}/{len(suite_pictures)}", percentile(suite_times, 50) if suite_times else "-"))
    print(table("Decoders on whole images", rows, ("decoder", "camera frames read", "p50 ms", "suite pictures read",
                                                   "p50 ms")))

    scratch = tempfile.mkdtemp(prefix="gatepost-qr-bench-")
    with Store(scratch) as store:
        registry = VerifierRegistry()
        registry.register("GP1:", PassVerifier({"k": public}, site="s", gate="g", store=store))
        registry.register("HC1:", DccVerifier(TrustList([signer_from_der(signer)]), DccConfig()))
        decoder = FrameDecoder(full_every=0)
        end_to_end, scan_only, valid = [], [], 0
        for frame, payload in frames:
            started = time.perf_counter()
            codes = decoder.scan(frame)
            scanned = time.perf_counter()
            results = [registry.verify(code, "camera") for code in codes]
            end_to_end.append((time.perf_counter() - started) * 1000)
            scan_only.append((scanned - started) * 1000)
            valid += any(r.status == "valid" and r.payload == payload[:64] for r in results)
        idle = []
        for frame, _ in empty:
            started = time.perf_counter()
            decoder.scan(frame)
            idle.append((time.perf_counter() - started) * 1000)
    import shutil

    shutil.rmtree(scratch, ignore_errors=True)
    rows = [("frame to verified result (code in view)", percentile(end_to_end, 50), percentile(end_to_end, 95)),
            ("of which: search and decode", percentile(scan_only, 50), percentile(scan_only, 95)),
            ("frame with no code", percentile(idle, 50), percentile(idle, 95))]
    print()
    print(table(f"Camera frame to verified result ({valid}/{len(frames)} frames verified valid)", rows,
                ("path", "p50 ms", "p95 ms")))
    figures["frame_to_result_ms"] = {"p50": percentile(end_to_end, 50), "p95": percentile(end_to_end, 95),
                                     "verified": valid, "frames": len(frames)}
    figures["empty_frame_ms"] = {"p50": percentile(idle, 50), "p95": percentile(idle, 95)}
    runs = [dense_codes(certificates, 8 if args.quick else 40, np.random.default_rng(11 + n))
            for n in range(runs_wanted(args))]
    print()
    print(table(f"Dense codes (version 15-20, an EU certificate) by frame and width, {len(runs)} run(s) of "
                f"{runs[0][next(iter(runs[0]))]['frames']} codes: median (min to max)",
                [(d["resolution"], f"1/{round(1 / d['width_share'])}", d["code_px"],
                  spread([100 * r[cell]["read_rate"] for r in runs]) + " %",
                  spread([r[cell]["scan_ms_p50"] for r in runs]), spread([r[cell]["scan_ms_p95"] for r in runs]))
                 for cell, d in runs[0].items()],
                ("frame", "width", "code px", "read rate", "p50 ms", "p95 ms")))
    figures["dense_codes"] = runs
    finish(args, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
