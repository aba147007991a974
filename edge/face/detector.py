"""Face detectors: YuNet (default) and SCRFD from an insightface pack, one call each."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Detection:
    box: np.ndarray  # x1, y1, x2, y2
    landmarks: np.ndarray  # 5 x 2: right eye, left eye, nose, mouth right, mouth left (image order)
    score: float

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.landmarks[0] - self.landmarks[1]))


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    order = np.argsort(-scores)
    keep: list[int] = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        xx1 = np.maximum(boxes[best, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[best, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[best, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[best, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        iou = inter / (areas[best] + areas[rest] - inter + 1e-9)
        order = rest[iou <= threshold]
    return keep


class YuNetDetector:
    """OpenCV Zoo's YuNet: BGR 0-255 input padded to a multiple of 32, outputs per stride."""

    strides = (8, 16, 32)

    def __init__(self, session, *, score_threshold: float = 0.6, nms_threshold: float = 0.3,
                 max_faces: int = 20) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_names = [o.name for o in session.get_outputs()]
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_faces = max_faces

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        blob = np.zeros((1, 3, ph, pw), dtype=np.float32)
        blob[0, :, :h, :w] = image.transpose(2, 0, 1)
        outputs = dict(zip(self.output_names, self.session.run(self.output_names, {self.input_name: blob})))
        boxes, marks, scores = [], [], []
        for stride in self.strides:
            cols = pw // stride
            cls = np.clip(outputs[f"cls_{stride}"][0, :, 0], 0, 1)
            obj = np.clip(outputs[f"obj_{stride}"][0, :, 0], 0, 1)
            score = np.sqrt(cls * obj)
            keep = np.nonzero(score >= self.score_threshold)[0]
            if not keep.size:
                continue
            rows, columns = np.divmod(keep, cols)
            bbox = outputs[f"bbox_{stride}"][0, keep]
            kps = outputs[f"kps_{stride}"][0, keep].reshape(-1, 5, 2)
            cx, cy = (columns + bbox[:, 0]) * stride, (rows + bbox[:, 1]) * stride
            bw, bh = np.exp(bbox[:, 2]) * stride, np.exp(bbox[:, 3]) * stride
            boxes.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1))
            marks.append((kps + np.stack([columns, rows], axis=1)[:, None, :]) * stride)
            scores.append(score[keep])
        if not boxes:
            return []
        all_boxes, all_marks, all_scores = np.concatenate(boxes), np.concatenate(marks), np.concatenate(scores)
        chosen = nms(all_boxes, all_scores, self.nms_threshold)[: self.max_faces]
        return [Detection(all_boxes[i].astype(np.float32), all_marks[i].astype(np.float32), float(all_scores[i]))
                for i in chosen]


class ScrfdDetector:
    """SCRFD from an insightface pack, through insightface's own wrapper (it knows the decoding)."""

    def __init__(self, session, *, score_threshold: float = 0.5, nms_threshold: float = 0.4) -> None:
        from insightface.model_zoo.scrfd import SCRFD

        self.model = SCRFD(model_file=None, session=session)
        self.model.prepare(-1, det_thresh=score_threshold, nms_thresh=nms_threshold, input_size=(640, 640))

    def detect(self, image: np.ndarray) -> list[Detection]:
        boxes, marks = self.model.detect(image, input_size=(640, 640))
        if marks is None:
            return []
        return [Detection(box[:4].astype(np.float32), kps.astype(np.float32), float(box[4]))
                for box, kps in zip(boxes, marks)]
