import cv2
import numpy as np

from drivers.camera import OpenCVCamera


def write_video(path, frames: int = 8):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (160, 120))
    for n in range(frames):
        writer.write(np.full((120, 160, 3), n * 20, np.uint8))
    writer.release()


def test_video_file_stream_that_ends_is_reopened_with_backoff(tmp_path):
    path = tmp_path / "clip.avi"
    write_video(path)
    camera = OpenCVCamera(source=str(path), width=160, height=120, fps=25, reconnect_initial_s=0.05,
                          reconnect_max_s=0.1)
    try:
        indices = []
        while len(indices) < 20:
            frame = camera.read(timeout=5.0)
            assert frame is not None, camera.last_error
            assert frame.image.shape == (120, 160, 3)
            indices.append(frame.index)
        assert indices == sorted(indices)
        assert "dropped" in camera.last_error  # the 8-frame clip ended at least twice and was reopened
    finally:
        camera.close()
        camera.close()


def test_missing_source_is_reported_and_read_times_out(tmp_path):
    camera = OpenCVCamera(source=str(tmp_path / "none.mp4"), width=160, height=120, fps=25,
                          reconnect_initial_s=0.05)
    try:
        assert camera.read(timeout=0.3) is None
        assert not camera.healthy
        assert "cannot open" in camera.last_error
    finally:
        camera.close()
