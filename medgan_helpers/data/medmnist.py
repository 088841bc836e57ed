"""MedMNIST v2/v3 2-D datasets: a URL/MD5/licence table, verified download, memory-mapped load.

The facts (file names, MD5 per file, class names, licences) are copied from the
``medmnist`` package's ``info.py`` (v3.0.2). We do not depend on that package: it
imports torch.

Files live in ``<cache>/medmnist/{flag}{suffix}.npz`` (``config.cache_dir()``,
``MEDGAN_CACHE_DIR`` overrides). Every file's MD5 is checked before first use and
again whenever the file changes; a mismatch refuses the file (it is renamed to
``*.rejected`` so it is never used again) with an error that says what to do.
The arrays are extracted once, streaming, to ``.npy`` files next to it and read
with ``np.load(mmap_mode="r")``, so even TissueMNIST at 224 px (236 386 images,
11.9 GB of pixels) loads in a few hundred MB of RAM.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path

import numpy as np

from medgan_helpers import config
from medgan_helpers.data import cachefiles
from medgan_helpers.data.imageset import (
    SPLITS,
    DataError,
    DatasetCard,
    ImageSet,
    LoadReport,
    class_counts,
)

SIZES = (28, 64, 128, 224)
URL_TEMPLATE = "https://zenodo.org/records/10519652/files/{flag}{suffix}.npz?download=1"
HOMEPAGE = "https://medmnist.com/"
CITATION = (
    "Jiancheng Yang, Rui Shi, Donglai Wei, Zequan Liu, Lin Zhao, Bilian Ke, Hanspeter "
    "Pfister, Bingbing Ni. MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D "
    "biomedical image classification. Scientific Data, 2023. (Plus the source dataset's "
    "paper listed on medmnist.com.)"
)

#: MD5 of every file, from medmnist/info.py (v3.0.2): flag -> {size: md5}.
MD5 = {
    "pneumoniamnist": {28: "28209eda62fecd6e6a2d98b1501bb15f", 64: "8f4eceb4ccffa70c672198ea285246c6", 128: "05b46931834c231683c68f40c47b2971", 224: "d6a3c71de1b945ea11211b03746c1fe1"},
    "breastmnist": {28: "750601b1f35ba3300ea97c75c52ff8f6", 64: "742edef2a1fd1524b2efff4bd7ba9364", 128: "363e4b3f8d712e9b5de15470a2aaadf1", 224: "b56378a6eefa9fed602bb16d192d4c8b"},
    "chestmnist": {28: "02c8a6516a18b556561a56cbdd36c4a8", 64: "9de6cd0b934ebb5b7426cfba5efbae16", 128: "db107e5590b27930b62dbaf558aebee3", 224: "45bd33e6f06c3e8cdb481c74a89152aa"},
    "dermamnist": {28: "0744692d530f8e62ec473284d019b0c7", 64: "b70a2f5635c6199aeaa28c31d7202e1f", 128: "2defd784463fa5243564e855ed717de1", 224: "8974907d8e169bef5f5b96bc506ae45d"},
    "octmnist": {28: "c68d92d5b585d8d81f7112f81e2d0842", 64: "e229e9440236b774d9f0dfef9d07bdaf", 128: "0a97e76651ace45c5d943ee3f65b63ae", 224: "abc493b6d529d5de7569faaef2773ba3"},
    "retinamnist": {28: "bd4c0672f1bba3e3a89f0e4e876791e4", 64: "afda852cc34dcda56f86ad2b2457dbcc", 128: "e48e916a24454daf90583d4e6efb1a18", 224: "eae7e3b6f3fcbda4ae613ebdcbe35348"},
    "bloodmnist": {28: "7053d0359d879ad8a5505303e11de1dc", 64: "2b94928a2ae4916078ca51e05b6b800b", 128: "adace1e0ed228fccda1f39692059dd4c", 224: "b718ff6835fcbdb22ba9eacccd7b2601"},
    "pathmnist": {28: "a8b06965200029087d5bd730944a56c1", 64: "55aa9c1e0525abe5a6b9d8343a507616", 128: "ac42d08fb904d92c244187169d1fd1d9", 224: "2c51a510bcdc9cf8ddb2af93af1eadec"},
    "tissuemnist": {28: "ebe78ee8b05294063de985d821c1c34b", 64: "123ece2eba09d0aa5d698fda57103344", 128: "61b955355d7425a89687b06cca3ce0c2", 224: "b077128c4a949f0a4eb01517f9037b9c"},
    "organamnist": {28: "68e3f8846a6bd62f0c9bf841c0d9eacc", 64: "2dcccc29b88e6da5a01161ef20cda288", 128: "eeae80d0a227a8d099027e1b3cfd3b60", 224: "50747347e05c87dd3aaf92c49f9f3170"},
    "organcmnist": {28: "b9ceb9546e10131b32923c5bbeaea2b1", 64: "3ce34a8724ea6f548e6db4744d03b6a9", 128: "773c1f009daa3fe5d9a2a201b2a7ed94", 224: "050f5e875dc056f6768abf94ec9995d1"},
    "organsmnist": {28: "9ab87b696fb54e2a387ebe992d6ed5f1", 64: "53a6d115339d874c25e309a994ff46d3", 128: "ded0c5fa01a95dc4978b956f613e9b8e", 224: "b354719e553fbbb2513d5533f52a4cb1"},
}

_ORGANS = ["bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver", "lung-left", "lung-right", "pancreas", "spleen"]
_ORGAN_DESC = "Abdominal CT (LiTS), {view} centre slices of organ bounding boxes, abdominal window."

#: flag -> facts (from medmnist/info.py): channels, images per split, task, licence,
#: modality and class names.
INFO = {
    "pneumoniamnist": dict(channels=1, n={"train": 4708, "val": 524, "test": 624}, task="binary-class", licence="CC BY 4.0", modality="X-ray (paediatric chest radiographs)", classes=["normal", "pneumonia"]),
    "breastmnist": dict(channels=1, n={"train": 546, "val": 78, "test": 156}, task="binary-class", licence="CC BY 4.0", modality="ultrasound (breast)", classes=["malignant", "normal, benign"]),
    "chestmnist": dict(channels=1, n={"train": 78468, "val": 11219, "test": 22433}, task="multi-label, binary-class", licence="CC BY 4.0", modality="X-ray (chest radiographs, NIH ChestX-ray14)", classes=["atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule", "pneumonia", "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis", "pleural", "hernia"]),
    "dermamnist": dict(channels=3, n={"train": 7007, "val": 1003, "test": 2005}, task="multi-class", licence="CC BY-NC 4.0", modality="dermatoscopy (colour photographs, HAM10000)", classes=["actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma", "benign keratosis-like lesions", "dermatofibroma", "melanoma", "melanocytic nevi", "vascular lesions"]),
    "octmnist": dict(channels=1, n={"train": 97477, "val": 10832, "test": 1000}, task="multi-class", licence="CC BY 4.0", modality="optical coherence tomography (retina)", classes=["choroidal neovascularization", "diabetic macular edema", "drusen", "normal"]),
    "retinamnist": dict(channels=3, n={"train": 1080, "val": 120, "test": 400}, task="ordinal-regression", licence="CC BY 4.0", modality="fundus photography (colour, DeepDRiD)", classes=["0", "1", "2", "3", "4"]),
    "bloodmnist": dict(channels=3, n={"train": 11959, "val": 1712, "test": 3421}, task="multi-class", licence="CC BY 4.0", modality="microscopy (blood cells, colour)", classes=["basophil", "eosinophil", "erythroblast", "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)", "lymphocyte", "monocyte", "neutrophil", "platelet"]),
    "pathmnist": dict(channels=3, n={"train": 89996, "val": 10004, "test": 7180}, task="multi-class", licence="CC BY 4.0", modality="histopathology (colorectal cancer H&E, colour)", classes=["adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle", "normal colon mucosa", "cancer-associated stroma", "colorectal adenocarcinoma epithelium"]),
    "tissuemnist": dict(channels=1, n={"train": 165466, "val": 23640, "test": 47280}, task="multi-class", licence="CC BY 4.0", modality="microscopy (kidney cortex cells)", classes=["Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule", "Glomerular endothelial cells", "Interstitial endothelial cells", "Leukocytes", "Podocytes", "Proximal Tubule Segments", "Thick Ascending Limb"]),
    "organamnist": dict(channels=1, n={"train": 34561, "val": 6491, "test": 17778}, task="multi-class", licence="CC BY 4.0", modality="CT (abdominal, axial)", classes=_ORGANS),
    "organcmnist": dict(channels=1, n={"train": 12975, "val": 2392, "test": 8216}, task="multi-class", licence="CC BY 4.0", modality="CT (abdominal, coronal)", classes=_ORGANS),
    "organsmnist": dict(channels=1, n={"train": 13932, "val": 2452, "test": 8827}, task="multi-class", licence="CC BY 4.0", modality="CT (abdominal, sagittal)", classes=_ORGANS),
}
FLAGS = tuple(INFO)
FLAGS_3D = ("organmnist3d", "nodulemnist3d", "adrenalmnist3d", "fracturemnist3d", "vesselmnist3d", "synapsemnist3d")
LICENCE_URLS = {
    "CC BY 4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC BY-NC 4.0": "https://creativecommons.org/licenses/by-nc/4.0/",
}
_KEYS = ("train_images", "train_labels", "val_images", "val_labels", "test_images", "test_labels")
TRUST_STAMP_ABOVE_BYTES = 256 * 1024**2
_VERIFIED: dict[str, tuple[int, int]] = {}  # path -> (size, mtime_ns) verified in this process
_LICENCE_SHOWN: set[str] = set()


def file_name(flag: str, image_size: int) -> str:
    """``pneumoniamnist_64.npz`` style file name (no suffix at 28 px)."""
    return f"{flag}{'' if image_size == 28 else f'_{image_size}'}.npz"


def url(flag: str, image_size: int) -> str:
    """The Zenodo download URL of one file."""
    return URL_TEMPLATE.format(flag=flag, suffix="" if image_size == 28 else f"_{image_size}")


def expected_md5(flag: str, image_size: int) -> str:
    """The published MD5 of one file."""
    return MD5[flag][image_size]


def local_path(flag: str, image_size: int) -> Path:
    """Where the file must be: ``<cache>/medmnist/<file name>``."""
    return config.cache_dir() / "medmnist" / file_name(flag, image_size)


def md5_of(path: Path, chunk: int = 1 << 22) -> str:
    """MD5 of a file, read in 4 MB chunks (constant memory)."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _offline_message(flag: str, image_size: int, reason: str) -> str:
    path = local_path(flag, image_size)
    return (
        f"Could not download {file_name(flag, image_size)} for {flag!r} at {image_size} px "
        f"({reason}). If this machine is offline, download the file by hand:\n"
        f"    {url(flag, image_size)}\n"
        f"(e.g. `curl -L -o {file_name(flag, image_size)} '{url(flag, image_size)}'` on a "
        f"machine with internet) and put it here:\n"
        f"    {path}\n"
        f"Its MD5 must be {expected_md5(flag, image_size)}. (Set MEDGAN_CACHE_DIR to use "
        "another cache folder.)"
    )


def download_file(flag: str, image_size: int, timeout: float = 60.0) -> Path:
    """Download one file into the cache, verifying its MD5 before it is kept.

    The bytes go to a temporary file that is published with ``os.replace`` only
    when the MD5 matches; on any error it is removed. Call with the entry's lock
    held (:func:`load` does).
    """
    path = local_path(flag, image_size)
    source = url(flag, image_size)
    digest = hashlib.md5()
    with cachefiles.temporary_file(path) as tmp:
        with open(tmp, "wb") as out:
            try:
                response = urllib.request.urlopen(source, timeout=timeout)  # noqa: S310
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise DataError(_offline_message(flag, image_size, str(exc))) from exc
            with response:
                total = int(response.headers.get("Content-Length") or 0)
                done, shown = 0, -1
                while block := response.read(1 << 20):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if total and (pct := done * 10 // total) != shown:
                        shown = pct
                        print(f"\rdownloading {file_name(flag, image_size)}: {pct * 10}%", end="")
                if total:
                    print()
        got = digest.hexdigest()
        want = expected_md5(flag, image_size)
        if got != want:
            raise DataError(
                f"The download of {source} is corrupt: its MD5 is {got}, expected {want}. "
                "The file was discarded. Try again later, or download it by hand and put it "
                f"at {path}."
            )
        os.replace(tmp, path)
    return path


def _stamp_path(path: Path) -> Path:
    return path.with_suffix(".verified.json")


def _extract_dir(path: Path) -> Path:
    return path.with_suffix("")  # pneumoniamnist_64.npz -> pneumoniamnist_64/


def _read_stamp(path: Path) -> dict:
    try:
        stamp = json.loads(_stamp_path(path).read_text())
        return stamp if isinstance(stamp, dict) else {}
    except (OSError, ValueError):
        return {}


def _file_key(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _reject(path: Path, got: str, want: str) -> None:
    """Move a file with the wrong MD5 aside (call with the entry's lock held)."""
    rejected = path.with_name(path.name + ".rejected")
    os.replace(path, rejected)
    shutil.rmtree(_extract_dir(path), ignore_errors=True)
    _stamp_path(path).unlink(missing_ok=True)
    for key in [k for k in _VERIFIED if k == str(path) or k.startswith(str(_extract_dir(path)))]:
        _VERIFIED.pop(key, None)
    raise DataError(
        f"Refusing {path}: its MD5 is {got} but the published MD5 is {want}, so the file is "
        f"corrupt or was altered. It was moved aside to {rejected} and will not be used. "
        "Load again to download a fresh copy, or download it by hand from "
        f"{URL_TEMPLATE.split('{')[0]}… (the error for a missing file prints the exact URL)."
    )


def _md5_ok(path: Path, want: str) -> bool:
    """Is the npz verified? Memo of this process, a trusted stamp (big files), or a hash now.

    Small files are re-hashed once per process; big ones (hashing takes seconds)
    trust the stamp written after their last check while size and mtime are unchanged.
    """
    key = _file_key(path)
    if _VERIFIED.get(str(path)) == key:
        return True
    stamp = _read_stamp(path)
    trusted = key[0] > TRUST_STAMP_ABOVE_BYTES and [stamp.get("size"), stamp.get("mtime_ns")] == list(key)
    if not (trusted and stamp.get("md5") == want) and md5_of(path) != want:
        return False
    _VERIFIED[str(path)] = key
    return True


def verify(flag: str, image_size: int) -> Path:
    """Check the cached file's MD5 before use; refuse a mismatch (the file is never used)."""
    path = local_path(flag, image_size)
    with cachefiles.file_lock(path):
        _verify_locked(path, expected_md5(flag, image_size))
    return path


def _verify_locked(path: Path, want: str) -> None:
    if not _md5_ok(path, want):
        _reject(path, md5_of(path), want)


def _crc32_of(path: Path, chunk: int = 1 << 22) -> int:
    crc = 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            crc = zlib.crc32(block, crc)
    return crc


def _array_ok(target: Path, info: zipfile.ZipInfo, recorded: dict) -> bool:
    """Is one extracted ``.npy`` complete and equal to its npz member? Never raises.

    Size against the zip directory always; the CRC-32 once per process for files
    up to ``TRUST_STAMP_ABOVE_BYTES`` (bigger ones: unchanged size and mtime since
    the extraction the stamp records).
    """
    try:
        stat = _file_key(target)
        if stat[0] != info.file_size:
            return False
        if _VERIFIED.get(str(target)) != stat:
            trusted = stat[0] > TRUST_STAMP_ABOVE_BYTES and recorded.get(target.stem) == list(stat)
            if not trusted and _crc32_of(target) != info.CRC:
                return False
            _VERIFIED[str(target)] = stat
    except OSError:
        return False
    return True


def _arrays_ok(path: Path) -> bool:
    """Are all extracted arrays of ``path`` usable? False means "extract again" (never raises)."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = {k: archive.getinfo(f"{k}.npy") for k in _KEYS}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False
    recorded = _read_stamp(path).get("arrays") or {}
    folder = _extract_dir(path)
    return all(_array_ok(folder / f"{k}.npy", info, recorded) for k, info in infos.items())


def _extract(path: Path, want: str) -> Path:
    """Stream every array of the npz into ``.npy`` files (constant memory); return the folder.

    Call with the entry's lock held. Only missing or damaged arrays are written,
    each to a temporary file published with ``os.replace`` (a process that has
    the old file open keeps reading it); the stamp then records what was checked.
    """
    folder = _extract_dir(path)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{path} is not a valid .npz (zip) file: {exc}. Delete it and load again.") from exc
    recorded = _read_stamp(path).get("arrays") or {}
    with archive:
        names = set(archive.namelist())
        missing = [k for k in _KEYS if f"{k}.npy" not in names]
        if missing:
            raise DataError(f"{path} lacks the arrays {missing}; it is not a MedMNIST file.")
        for key in _KEYS:
            target = folder / f"{key}.npy"
            info = archive.getinfo(f"{key}.npy")
            if _array_ok(target, info, recorded):
                continue
            cachefiles.remove_stale_temporaries(folder, target.name)
            with cachefiles.temporary_file(target) as tmp:
                try:
                    with open(tmp, "wb") as out, archive.open(info) as member:
                        shutil.copyfileobj(member, out, 1 << 22)  # zipfile checks the CRC-32
                except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                    raise DataError(
                        f"{path} is damaged: its array {key} cannot be extracted ({exc}). Delete "
                        "the file and load again to download a fresh copy."
                    ) from exc
                os.replace(tmp, target)
            _VERIFIED[str(target)] = _file_key(target)
    arrays = {k: list(_file_key(folder / f"{k}.npy")) for k in _KEYS}
    size, mtime_ns = _file_key(path)
    stamp = {"size": size, "mtime_ns": mtime_ns, "md5": want, "arrays": arrays}
    if _read_stamp(path) != stamp:
        cachefiles.publish_bytes(_stamp_path(path), json.dumps(stamp).encode())
    return folder


def _labels(folder: Path, split: str, multi: bool) -> np.ndarray:
    raw = np.load(folder / f"{split}_labels.npy")
    labels = np.asarray(raw, dtype=np.int64)
    return labels.reshape(len(labels), -1) if multi else labels.reshape(len(labels))


def _grey_ok(images: np.ndarray, cache_file: Path) -> bool:
    try:
        grey = np.load(cache_file, mmap_mode="r")
    except (OSError, ValueError, EOFError):
        return False
    return grey.dtype == np.uint8 and grey.shape == images.shape[:3] + (1,)


def _write_grey(images: np.ndarray, cache_file: Path) -> None:
    """RGB uint8 memmap -> greyscale (ITU-R 601 luma), written chunk-wise (lock held)."""
    cachefiles.remove_stale_temporaries(cache_file.parent, cache_file.name)
    with cachefiles.temporary_file(cache_file) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=images.shape[:3] + (1,))
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        for start in range(0, len(images), 4096):
            chunk = np.asarray(images[start : start + 4096], dtype=np.float32)
            out[start : start + 4096, ..., 0] = np.clip(np.rint(chunk @ weights), 0, 255)
        out.flush()
        del out
        os.replace(tmp, cache_file)


def _open(path: Path, split: str, grey: bool, multi: bool, *, repair: bool):
    """Memory-map one split and read every split's labels; None if a grey copy needs writing.

    With ``repair`` (exclusive lock held) a missing or damaged grey copy is rewritten.
    """
    folder = _extract_dir(path)
    images = np.load(folder / f"{split}_images.npy", mmap_mode="r")
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise DataError(f"{path}: {split}_images is {images.dtype} {images.shape}, not uint8 images")
    pixels = images[..., None] if images.ndim == 3 else images
    if grey and pixels.shape[-1] == 3:
        grey_file = folder / f"{split}_images_grey.npy"
        if not _grey_ok(pixels, grey_file):
            if not repair:
                return None
            _write_grey(pixels, grey_file)
        pixels = np.load(grey_file, mmap_mode="r")
    return pixels, {s: _labels(folder, s, multi) for s in SPLITS}


def _open_verified(flag: str, image_size: int, split: str, grey: bool, multi: bool, download: bool):
    """Download if needed, verify, extract and memory-map — safely beside other processes.

    Readers hold the entry's lock shared while they check and open files; only
    when something is missing or damaged do they take it exclusively to download,
    verify (rejecting a bad file), extract or rewrite, so no process deletes or
    replaces a file while another one is between checking and opening it.
    """
    path = local_path(flag, image_size)
    want = expected_md5(flag, image_size)
    with cachefiles.file_lock(path, shared=True):
        if path.is_file() and _md5_ok(path, want) and _arrays_ok(path):
            opened = _open(path, split, grey, multi, repair=False)
            if opened is not None:
                return opened
    with cachefiles.file_lock(path):
        cachefiles.remove_stale_temporaries(path.parent, path.name)
        if not path.is_file():
            if not download:
                raise DataError(_offline_message(flag, image_size, "download=False"))
            download_file(flag, image_size)
        _verify_locked(path, want)
        _extract(path, want)
        return _open(path, split, grey, multi, repair=True)


def load(flag: str, image_size: int, split: str, *, download: bool = True, color: str = "auto"):
    """Load one split of a MedMNIST 2-D flag as an ImageSet (pixels memory-mapped)."""
    if image_size not in SIZES:
        raise DataError(
            f"MedMNIST {flag!r} has no image_size={image_size}. Valid sizes: "
            f"{', '.join(map(str, SIZES))}."
        )
    if color not in ("auto", "grey", "gray"):
        raise DataError(f"color={color!r} is not valid for MedMNIST; use 'auto' or 'grey'.")
    info = INFO[flag]
    multi = info["task"].startswith("multi-label")
    grey = color in ("grey", "gray")
    pixels, all_labels = _open_verified(flag, image_size, split, grey, multi, download)
    preprocessing = [
        "as published by MedMNIST (already resized and scaled to uint8 by its authors)",
        "memory-mapped uint8 from the verified file; scaled to [-1, 1] on use",
    ]
    if grey and INFO[flag]["channels"] == 3:
        preprocessing.append("converted RGB to greyscale (0.299 R + 0.587 G + 0.114 B)")
    names = list(info["classes"])
    labels = all_labels[split]
    counts = {s: class_counts(all_labels[s], names, 0) for s in SPLITS}
    licence = f"{info['licence']} ({LICENCE_URLS[info['licence']]})"
    notes = [f"task: {info['task']}"]
    if multi:
        notes.append(
            "multi-label: labels are N×14 multi-hot int64 (an image can show several "
            "findings or none); counts are images carrying each label"
        )
    if info["licence"] == "CC BY-NC 4.0":
        notes.append("NON-COMMERCIAL licence: do not use this data or models trained on it commercially")
    card = DatasetCard(
        name=flag,
        source=f"MedMNIST v2 ({HOMEPAGE}), file {file_name(flag, image_size)} from {url(flag, image_size)}",
        modality=info["modality"],
        licence=licence,
        description=f"{flag} at {image_size} px: {info['modality']}, {len(names)} classes.",
        image_size=image_size,
        channels=int(pixels.shape[-1]),
        class_names=names,
        counts=counts,
        preprocessing=preprocessing,
        citation=CITATION,
        notes=notes,
    )
    report = LoadReport(flag, split, loaded=len(pixels))
    report.notes.append(
        f"MD5 verified ({expected_md5(flag, image_size)}); pixels memory-mapped from the "
        f"kit's cache (medmnist/{file_name(flag, image_size)[:-4]}/)"
    )
    report.notes.append(f"licence: {licence}")
    if flag not in _LICENCE_SHOWN:
        _LICENCE_SHOWN.add(flag)
        extra = " NON-COMMERCIAL use only." if info["licence"] == "CC BY-NC 4.0" else ""
        print(f"{flag}: MedMNIST data under {licence}.{extra} Please cite MedMNIST v2 (see the card).")
    return ImageSet(
        pixels,
        labels,
        names,
        name=flag,
        split=split,
        report=report,
        card=card,
        multi_label=multi,
    )

