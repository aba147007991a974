from drivers.passage import SerialPassageSensor
from drivers.qrscanner import SerialQrScanner
from tests.emulators import PtyBoard, wait_for


class Wire(PtyBoard):
    def feed(self, data: bytes) -> None:
        pass


def test_qr_scanner_reads_one_code_per_line_and_drops_garbage():
    wire = Wire()
    try:
        scanner = SerialQrScanner(port=wire.port, max_line_bytes=64)
        codes: list[str] = []
        wire.write(b"GP1:first\r\nGP1:sec")
        assert wait_for(lambda: codes.extend(scanner.poll()) or codes == ["GP1:first"])
        wire.write(b"ond\n" + b"x" * 100 + b"\n" + b"\xff\xfe\n" + b"HC1:third\n")
        assert wait_for(lambda: codes.extend(scanner.poll()) or len(codes) >= 3)
        assert codes == ["GP1:first", "GP1:second", "HC1:third"]
        scanner.close()
    finally:
        wire.close()


def test_serial_passage_sensor_counts_token_lines():
    wire = Wire()
    try:
        sensor = SerialPassageSensor(port=wire.port, token="PASS")
        seen = []
        wire.write(b"PASS\r\nNOISE\nPASS\n")
        assert wait_for(lambda: seen.append(sensor.poll()) or sum(seen) >= 2)
        assert sum(seen) == 2
        sensor.close()
    finally:
        wire.close()


def test_a_serial_turnstile_of_both_ways_tells_the_way_of_each_passage():
    wire = Wire()
    try:
        sensor = SerialPassageSensor(port=wire.port, token="PASS", in_token="IN", out_token="OUT")
        counts, ways = [], []

        def read() -> bool:
            counts.append(sensor.poll())
            ways.extend(sensor.ways)
            return sum(counts) >= 4

        wire.write(b"IN\r\nPASS\nOUTWARD\nOUT\r\nIN\n")
        assert wait_for(read)
        assert sum(counts) == 4 and ways == ["in", "out", "in"]  # "OUTWARD" is no token: dropped
        sensor.close()
    finally:
        wire.close()
