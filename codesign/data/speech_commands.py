"""Google Speech Commands (v0.02 layout) as MLPerf Tiny / "Hello Edge" keyword-spotting MFCCs.

The input follows Zhang et al. 2017, "Hello Edge: Keyword Spotting on Microcontrollers": 1 s clips
at 16 kHz, 40 ms windows every 20 ms (49 frames), 40 mel bands, 10 MFCCs per frame, and 12 classes:
the ten words below, "_silence_" and "_unknown_" (every other word). The split follows the
dataset's own `validation_list.txt` and `testing_list.txt`; files in neither are training.

Nothing is downloaded and nothing is cached on disk: features are computed from the WAV files on
every call, with numpy / scipy only.
"""

from __future__ import annotations

import wave
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.fft
import torch
from torch.utils.data import TensorDataset

from codesign.core.errors import DataError
from codesign.data import DataSplits
from codesign.data.cifar10 import check_limit, stratified_cap

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
LABELS = (*WORDS, SILENCE, UNKNOWN)
SILENCE_INDEX = LABELS.index(SILENCE)
UNKNOWN_INDEX = LABELS.index(UNKNOWN)
BACKGROUND = "_background_noise_"
VALIDATION_LIST = "validation_list.txt"
TESTING_LIST = "testing_list.txt"

# Feature parameters (Hello Edge, Zhang et al. 2017, Section 3 / Table 1 DNN-CNN input: 49 x 10).
SAMPLE_RATE = 16_000  # Hz; the dataset's rate
CLIP_SAMPLES = 16_000  # 1 s clips: shorter ones are zero-padded at the end, longer ones trimmed
WINDOW = 640  # 40 ms analysis window (periodic Hann)
STRIDE = 320  # 20 ms hop
N_FFT = 1024  # next power of two above the window, as TensorFlow's audio_spectrogram uses
NUM_FRAMES = 1 + (CLIP_SAMPLES - WINDOW) // STRIDE  # 49
N_MELS = 40  # triangular mel filters (HTK mel scale) ...
MEL_LOW_HZ = 20.0  # ... spanning 20 Hz ...
MEL_HIGH_HZ = 4000.0  # ... to 4 kHz, TensorFlow's mfcc defaults
N_MFCC = 10  # DCT-II (orthonormal) coefficients kept per frame
LOG_FLOOR = 1e-6  # added to the mel magnitudes before the log (as in the MLPerf Tiny KWS code)

_CHUNK = 512  # clips per feature batch: bounds peak memory to ~200 MB


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Return the HTK mel value of a frequency in Hz: 2595 * log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """Return the (N_FFT // 2 + 1, N_MELS) float32 matrix of triangular mel filter weights.

    Filters are triangles in mel space with edges evenly spaced from `MEL_LOW_HZ` to
    `MEL_HIGH_HZ` and peak weight 1; the DC bin gets no weight.
    """
    bins_mel = _hz_to_mel(np.arange(N_FFT // 2 + 1) * SAMPLE_RATE / N_FFT)[:, None]
    edges = np.linspace(_hz_to_mel(MEL_LOW_HZ), _hz_to_mel(MEL_HIGH_HZ), N_MELS + 2)
    lo, mid, hi = edges[:-2], edges[1:-1], edges[2:]
    rising, falling = (bins_mel - lo) / (mid - lo), (hi - bins_mel) / (hi - mid)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0] = 0.0
    return weights.astype(np.float32)


@lru_cache(maxsize=1)
def _hann() -> np.ndarray:
    """Return the periodic Hann window of `WINDOW` samples as float32."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(WINDOW) / WINDOW)).astype(np.float32)


def mfcc(clips: np.ndarray) -> np.ndarray:
    """Return MFCCs shaped (N, 49, 10) float32 for clips shaped (N, 16000) (or one (16000,) clip).

    Samples are expected as floats in [-1, 1]. Per frame: periodic-Hann-windowed 640-sample frame,
    1024-point FFT magnitude, 40 mel filters (20 Hz - 4 kHz), log(x + 1e-6), orthonormal DCT-II,
    first 10 coefficients.
    """
    x = np.asarray(clips, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] != CLIP_SAMPLES:
        raise ValueError(f"expected clips shaped (N, {CLIP_SAMPLES}), got {x.shape}")
    frames = np.lib.stride_tricks.sliding_window_view(x, WINDOW, axis=1)[:, ::STRIDE]
    spectrum = np.abs(scipy.fft.rfft(frames * _hann(), n=N_FFT, axis=-1))
    log_mel = np.log(spectrum @ mel_filterbank() + np.float32(LOG_FLOOR))
    coeffs = scipy.fft.dct(log_mel, type=2, norm="ortho", axis=-1)[..., :N_MFCC]
    return np.ascontiguousarray(coeffs, dtype=np.float32)


def read_wav(path: Path) -> np.ndarray:
    """Return a 16 kHz mono 16-bit PCM WAV file's samples as float32 in [-1, 1].

    Raises `DataError` (one line naming `path`) for an unreadable file or any other format.
    """
    try:
        with wave.open(str(path), "rb") as w:
            rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            raw = w.readframes(w.getnframes())
    except FileNotFoundError:
        raise DataError(f"{path}: no such WAV file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (wave.Error, EOFError, ValueError) as exc:
        raise DataError(f"{path}: not a readable PCM WAV file ({exc})") from None
    if (rate, channels, width) != (SAMPLE_RATE, 1, 2):
        raise DataError(
            f"{path}: expected 16 kHz mono 16-bit PCM, got {rate} Hz, {channels} channel(s), "
            f"{8 * width}-bit"
        )
    raw = raw[: len(raw) // 2 * 2]
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / np.float32(32768.0)


def _fit(audio: np.ndarray) -> np.ndarray:
    """Return `audio` zero-padded at the end or trimmed to exactly `CLIP_SAMPLES` samples."""
    if len(audio) >= CLIP_SAMPLES:
        return audio[:CLIP_SAMPLES]
    return np.pad(audio, (0, CLIP_SAMPLES - len(audio)))


def _read_list(file: Path) -> set[str]:
    """Return the relative paths (forward slashes) listed one per line in a split list file."""
    if not file.is_file():
        raise DataError(f"{file}: missing Speech Commands split list")
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{file}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DataError(f"{file}: not a UTF-8 text list of relative .wav paths") from None
    return {line.strip().replace("\\", "/") for line in text.splitlines() if line.strip()}


def _scan(root: Path) -> list[tuple[str, Path, int]]:
    """Return (relative path, path, label) for every word-folder WAV under `root`, sorted."""
    found = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if sub.name.startswith(("_", ".")):
            continue
        label = WORDS.index(sub.name) if sub.name in WORDS else UNKNOWN_INDEX
        for wav in sorted(sub.glob("*.wav")):
            found.append((f"{sub.name}/{wav.name}", wav, label))
    return found


def _silence(noise: list[np.ndarray], count: int, split: int, seed: int) -> list[np.ndarray]:
    """Return `count` 1 s silence clips cut from background noise (zeros if there is none).

    Each noise file is divided 80 / 10 / 10 % into train / validation / test regions so the
    splits' silence clips do not overlap; a region shorter than 1 s falls back to the whole file.
    """
    if not noise:
        return [np.zeros(CLIP_SAMPLES, dtype=np.float32) for _ in range(count)]
    rng = np.random.default_rng([seed, 20 + split])
    bounds = (0.0, 0.8, 0.9, 1.0)
    clips = []
    for _ in range(count):
        audio = noise[int(rng.integers(len(noise)))]
        lo, hi = (int(bounds[split + k] * len(audio)) for k in (0, 1))
        if hi - lo < CLIP_SAMPLES:
            lo, hi = 0, len(audio)
        start = int(rng.integers(lo, max(lo, hi - CLIP_SAMPLES) + 1))
        clips.append(_fit(audio[start : start + CLIP_SAMPLES]))
    return clips


def _features(sources: list[Path | np.ndarray]) -> np.ndarray:
    """Return MFCC inputs (N, 1, 49, 10) float32 for WAV paths or ready 1 s clips."""
    out = np.empty((len(sources), 1, NUM_FRAMES, N_MFCC), dtype=np.float32)
    for start in range(0, len(sources), _CHUNK):
        chunk = sources[start : start + _CHUNK]
        clips = np.stack([_fit(read_wav(s) if isinstance(s, Path) else s) for s in chunk])
        out[start : start + len(chunk), 0] = mfcc(clips)
    return out


def load_speech_commands_splits(
    path: str | Path, seed: int = 0, limit: int | None = None
) -> DataSplits:
    """Load a local Speech Commands v0.02 folder as 12-class keyword-spotting MFCC splits.

    Returns `DataSplits` named "speech_commands" with `len(LABELS)` = 12 classes (the ten `WORDS`,
    then "_silence_", then "_unknown_") and inputs shaped (N, 1, 49, 10) float32 (see `mfcc`).
    Splits follow `validation_list.txt` / `testing_list.txt`. In each split the unknown words are
    subsampled, and silence clips are cut from `_background_noise_` (zeros if absent), to about
    the size of an average keyword class, deterministically in `seed`. `limit` caps each split
    (a class-balanced subset, deterministic in `seed`). Raises `DataError` naming the offending
    file for a missing folder or list, or a WAV that is not 16 kHz mono 16-bit PCM.
    """
    check_limit(limit)
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"{root}: no such Speech Commands folder")
    val_list = _read_list(root / VALIDATION_LIST)
    test_list = _read_list(root / TESTING_LIST)
    files = _scan(root)
    if not files:
        raise DataError(f"{root}: no .wav files in word subfolders (not a Speech Commands folder)")
    bg = root / BACKGROUND
    noise = [read_wav(p) for p in sorted(bg.glob("*.wav"))] if bg.is_dir() else []

    by_split: list[list[tuple[Path, int]]] = [[], [], []]
    for rel, wav, label in files:
        split = 1 if rel in val_list else 2 if rel in test_list else 0
        by_split[split].append((wav, label))

    datasets = []
    for split, entries in enumerate(by_split):
        keywords = [(p, y) for p, y in entries if y != UNKNOWN_INDEX]
        unknown = [(p, y) for p, y in entries if y == UNKNOWN_INDEX]
        per_class = round(len(keywords) / len(WORDS))
        keep = np.random.default_rng([seed, 10 + split]).permutation(len(unknown))[:per_class]
        unknown = [unknown[i] for i in np.sort(keep)]
        silence = [(c, SILENCE_INDEX) for c in _silence(noise, per_class, split, seed)]
        items: list[tuple[Path | np.ndarray, int]] = [*keywords, *silence, *unknown]
        labels = np.asarray([y for _, y in items], dtype=np.int64)
        picked = stratified_cap(labels, limit, np.random.default_rng([seed, 30 + split]))
        x = _features([items[i][0] for i in picked])
        datasets.append(TensorDataset(torch.from_numpy(x), torch.from_numpy(labels[picked])))
    return DataSplits("speech_commands", *datasets, num_classes=len(LABELS))
