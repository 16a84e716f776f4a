"""CIFAR-10 and Speech Commands loaders, on tiny datasets written in the real on-disk formats."""

from __future__ import annotations

import os
import pickle
import wave
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
import torch

from codesign.core.errors import DataError
from codesign.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD, load_cifar10_splits
from codesign.data.speech_commands import (
    LABELS,
    SILENCE_INDEX,
    UNKNOWN_INDEX,
    WORDS,
    load_speech_commands_splits,
    mel_filterbank,
    mfcc,
)

# ----------------------------------------------------------------------------------- CIFAR-10

PER_BATCH = 20
BATCHES = [f"data_batch_{i}" for i in range(1, 6)]


def _cifar_batch(index: int, n: int = PER_BATCH) -> dict:
    """A batch dict laid out like the real pickles: bytes keys, uint8 (n, 3072), list labels."""
    rng = np.random.default_rng(index)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    return {
        b"batch_label": f"batch {index}".encode(),
        b"labels": [i % 10 for i in range(n)],
        b"data": data,
        b"filenames": [f"img_{index}_{i}.png".encode() for i in range(n)],
    }


def _dump(file: Path, obj: object, protocol: int = 2) -> None:
    with file.open("wb") as fh:
        pickle.dump(obj, fh, protocol=protocol)


def write_cifar(root: Path, protocol: int = 2) -> Path:
    """Write a 5 x 20 + 20 image CIFAR-10 folder under `root`; return the batches folder."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i, name in enumerate(BATCHES):
        _dump(folder / name, _cifar_batch(i), protocol)
    test = _cifar_batch(99)
    test[b"data"][0] = np.arange(3072) % 256  # a known pattern to check the pixel layout
    _dump(folder / "test_batch", test, protocol)
    meta = {b"num_cases_per_batch": PER_BATCH, b"label_names": [b"c%d" % i for i in range(10)]}
    _dump(folder / "batches.meta", meta, protocol)
    return folder


def _rows(ds) -> set[bytes]:
    x = ds.tensors[0].numpy()
    return {x[i].tobytes() for i in range(len(x))}


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_shapes_sizes_and_stratified_val(tmp_path, protocol):
    folder = write_cifar(tmp_path, protocol)
    splits = load_cifar10_splits(folder)
    assert splits.name == "cifar10" and splits.num_classes == 10
    sizes = [len(splits.train), len(splits.val), len(splits.test)]
    assert sizes == [90, 10, 20]
    for ds in (splits.train, splits.val, splits.test):
        x, y = ds.tensors
        assert x.dtype == torch.float32 and x.shape[1:] == (3, 32, 32)
        assert y.dtype == torch.int64 and int(y.min()) >= 0 and int(y.max()) <= 9
    assert torch.bincount(splits.val.tensors[1], minlength=10).tolist() == [1] * 10
    # train and val partition the 100 training images exactly
    train, val = _rows(splits.train), _rows(splits.val)
    assert len(train) == 90 and len(val) == 10 and not train & val


def test_cifar_accepts_parent_folder(tmp_path):
    write_cifar(tmp_path)
    a = load_cifar10_splits(tmp_path)
    b = load_cifar10_splits(tmp_path / "cifar-10-batches-py")
    assert torch.equal(a.train.tensors[0], b.train.tensors[0])


def test_cifar_pixel_layout_and_normalisation(tmp_path):
    write_cifar(tmp_path)
    x = load_cifar10_splits(tmp_path).test.tensors[0][0].numpy()
    c, r, col = np.meshgrid(np.arange(3), np.arange(32), np.arange(32), indexing="ij")
    raw = ((c * 1024 + r * 32 + col) % 256) / 255.0
    mean = np.array([0.4914, 0.4822, 0.4465])[:, None, None]
    std = np.array([0.2470, 0.2435, 0.2616])[:, None, None]
    np.testing.assert_allclose(x, (raw - mean) / std, rtol=1e-5, atol=1e-5)
    assert CIFAR10_MEAN == (0.4914, 0.4822, 0.4465) and CIFAR10_STD == (0.2470, 0.2435, 0.2616)


def test_cifar_seed_determinism_and_limit(tmp_path):
    write_cifar(tmp_path)
    a, b = load_cifar10_splits(tmp_path, seed=3), load_cifar10_splits(tmp_path, seed=3)
    c = load_cifar10_splits(tmp_path, seed=4)
    for part in ("train", "val", "test"):
        assert torch.equal(getattr(a, part).tensors[0], getattr(b, part).tensors[0])
    assert _rows(a.val) != _rows(c.val)

    small = load_cifar10_splits(tmp_path, seed=3, limit=15)
    assert [len(small.train), len(small.val), len(small.test)] == [15, 10, 15]
    counts = torch.bincount(small.train.tensors[1], minlength=10)
    assert int(counts.min()) == 1 and int(counts.max()) == 2
    again = load_cifar10_splits(tmp_path, seed=3, limit=15)
    assert torch.equal(small.train.tensors[0], again.train.tensors[0])
    with pytest.raises(DataError, match="limit"):
        load_cifar10_splits(tmp_path, limit=0)


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def _break_missing(folder: Path) -> str:
    (folder / "data_batch_3").unlink()
    return "data_batch_3"


def _break_garbage(folder: Path) -> str:
    (folder / "data_batch_2").write_bytes(b"this is not a pickle at all")
    return "data_batch_2"


def _break_truncated(folder: Path) -> str:
    data = (folder / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(data[: len(data) // 2])
    return "test_batch"


def _break_not_dict(folder: Path) -> str:
    _dump(folder / "data_batch_1", [1, 2, 3])
    return "data_batch_1"


def _break_no_key(folder: Path) -> str:
    batch = _cifar_batch(0)
    del batch[b"labels"]
    _dump(folder / "data_batch_1", batch)
    return "data_batch_1"


def _break_shape(folder: Path) -> str:
    batch = _cifar_batch(4)
    batch[b"data"] = batch[b"data"][:, :100].copy()
    _dump(folder / "data_batch_5", batch)
    return "data_batch_5"


def _break_dtype(folder: Path) -> str:
    batch = _cifar_batch(4)
    batch[b"data"] = batch[b"data"].astype(np.float64)
    _dump(folder / "data_batch_5", batch)
    return "data_batch_5"


def _break_label_range(folder: Path) -> str:
    batch = _cifar_batch(99)
    batch[b"labels"][3] = 10
    _dump(folder / "test_batch", batch)
    return "test_batch"


def _break_label_count(folder: Path) -> str:
    batch = _cifar_batch(1)
    batch[b"labels"] = batch[b"labels"][:-1]
    _dump(folder / "data_batch_2", batch)
    return "data_batch_2"


def _break_evil(folder: Path) -> str:
    _dump(folder / "data_batch_4", _Evil(folder / "pwned"))
    return "data_batch_4"


@pytest.mark.parametrize(
    "breaker",
    [
        _break_missing,
        _break_garbage,
        _break_truncated,
        _break_not_dict,
        _break_no_key,
        _break_shape,
        _break_dtype,
        _break_label_range,
        _break_label_count,
        _break_evil,
    ],
)
def test_cifar_malformed_files_raise_one_line_data_error(tmp_path, breaker):
    folder = write_cifar(tmp_path)
    name = breaker(folder)
    with pytest.raises(DataError) as info:
        load_cifar10_splits(tmp_path)
    message = str(info.value)
    assert name in message and "\n" not in message
    assert info.value.__cause__ is None
    assert not (folder / "pwned").exists()


def test_cifar_missing_path(tmp_path):
    with pytest.raises(DataError, match="nowhere"):
        load_cifar10_splits(tmp_path / "nowhere")


# ------------------------------------------------------------------------------ Speech Commands

RATE = 16_000


def write_wav(file: Path, samples: np.ndarray, rate: int = RATE, width: int = 2) -> None:
    """Write float samples in [-1, 1] (shape (n,) or (n, channels)) as integer PCM."""
    file.parent.mkdir(parents=True, exist_ok=True)
    samples = np.asarray(samples, dtype=np.float64)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    if width == 2:
        pcm = np.round(samples * 32767).astype("<i2").tobytes()
    else:  # 8-bit WAV is unsigned
        pcm = np.round(samples * 127 + 128).astype(np.uint8).tobytes()
    with wave.open(str(file), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm)


def tone(freq: float, n: int = RATE, amp: float = 0.5) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(n) / RATE)


def _keyword_clip(word_index: int, j: int) -> np.ndarray:
    n = {(0, 2): 8_000, (1, 2): 24_000}.get((word_index, j), RATE)  # one short, one long clip
    return tone(300 + 100 * word_index + 20 * j, n)


def write_speech(root: Path, background: bool = True) -> Path:
    """Keywords: 4 clips each (2 train, 1 val, 1 test); 'bed' and 'cat': 6 each (4 / 1 / 1)."""
    rng = np.random.default_rng(0)
    val, test = [], []
    for w, word in enumerate(WORDS):
        for j in range(4):
            rel = f"{word}/spk{j}_nohash_0.wav"
            write_wav(root / rel, _keyword_clip(w, j))
            (val if j == 1 else test if j == 2 else []).append(rel)
    for word in ("bed", "cat"):
        for j in range(6):
            rel = f"{word}/spk{j}_nohash_0.wav"
            write_wav(root / rel, rng.uniform(-0.3, 0.3, RATE))
            (val if j == 4 else test if j == 5 else []).append(rel)
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    if background:
        noise_dir = root / "_background_noise_"
        write_wav(noise_dir / "white_noise.wav", rng.uniform(-0.5, 0.5, 12 * RATE))
        (noise_dir / "README.md").write_text("noise\n")
    return root


def _silence_features() -> np.ndarray:
    return mfcc(np.zeros(RATE))[0]


def test_speech_shapes_sizes_and_classes(tmp_path):
    splits = load_speech_commands_splits(write_speech(tmp_path / "sc"))
    assert splits.name == "speech_commands" and splits.num_classes == 12 == len(LABELS)
    words = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
    assert LABELS == (*words, "_silence_", "_unknown_")
    assert (SILENCE_INDEX, UNKNOWN_INDEX) == (10, 11)
    assert [len(splits.train), len(splits.val), len(splits.test)] == [24, 12, 12]
    expected = {"train": 2, "val": 1, "test": 1}
    for part, per_class in expected.items():
        x, y = getattr(splits, part).tensors
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 49, 10)
        assert y.dtype == torch.int64
        assert torch.bincount(y, minlength=12).tolist() == [per_class] * 12
        assert torch.isfinite(x).all()


def test_speech_labels_and_list_files_match_the_audio(tmp_path):
    root = write_speech(tmp_path / "sc", background=False)
    splits = load_speech_commands_splits(root)
    for part, j in (("train", 0), ("val", 1), ("test", 2)):
        x, y = getattr(splits, part).tensors
        feats = x[:, 0].numpy()
        for w in range(len(WORDS)):
            clip = _keyword_clip(w, j)
            clip = np.pad(clip, (0, max(0, RATE - len(clip))))[:RATE]
            clip = np.round(clip * 32767) / 32768  # what the 16-bit file holds
            want = mfcc(clip)[0]
            hits = [i for i in range(len(feats)) if np.allclose(feats[i], want, atol=1e-3)]
            assert len(hits) == 1, (part, WORDS[w])
            assert int(y[hits[0]]) == w
    # without background noise the silence class is all-zero audio
    x, y = splits.train.tensors
    silence = x[y == SILENCE_INDEX][:, 0].numpy()
    np.testing.assert_allclose(silence, np.broadcast_to(_silence_features(), silence.shape))


def test_mfcc_tone_differs_from_silence_and_matches_a_direct_frame(tmp_path):
    quiet = _silence_features()
    assert quiet.shape == (49, 10)
    # log(1e-6) in all 40 bands -> orthonormal DCT puts sqrt(40) * log(1e-6) in c0, zeros elsewhere
    np.testing.assert_allclose(quiet[:, 0], np.sqrt(40) * np.log(1e-6), rtol=1e-5)
    np.testing.assert_allclose(quiet[:, 1:], 0.0, atol=1e-3)

    clip = tone(1000.0)
    feats = mfcc(clip)[0]
    assert np.abs(feats - quiet).max() > 10.0
    assert np.abs(feats - mfcc(tone(2500.0))[0]).max() > 1.0
    assert feats.std(axis=0).max() < 0.1 * np.abs(feats).max()  # a steady tone: steady frames

    # frame k starts at k * 20 ms = 320 k samples and spans 40 ms = 640 samples
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, RATE) * np.linspace(0.1, 1.0, RATE)
    noise_feats = mfcc(noise)[0]
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(640) / 640)
    for k in (0, 10, 48):
        seg = noise[320 * k : 320 * k + 640] * hann
        mel = np.abs(np.fft.rfft(seg, n=1024)) @ mel_filterbank().astype(np.float64)
        direct = scipy.fft.dct(np.log(mel + 1e-6), type=2, norm="ortho")[:10]
        np.testing.assert_allclose(noise_feats[k], direct, atol=1e-3)
        assert np.abs(noise_feats[k + (1 if k < 48 else -1)] - direct).max() > 0.01

    mag = np.abs(np.fft.rfft(clip[3200:3840] * hann, n=1024))

    bank = mel_filterbank()
    assert bank.shape == (513, 40) and (bank.sum(axis=0) > 0).all()
    freqs = np.arange(513) * RATE / 1024
    assert freqs[bank.any(axis=1)].min() >= 20 and freqs[bank.any(axis=1)].max() <= 4000
    peak_band = np.argmax(mag @ bank)
    centre = freqs[np.argmax(bank[:, peak_band])]
    assert abs(centre - 1000.0) < 60.0


def test_speech_seed_determinism_and_limit(tmp_path):
    root = write_speech(tmp_path / "sc")
    a, b = load_speech_commands_splits(root, seed=1), load_speech_commands_splits(root, seed=1)
    c = load_speech_commands_splits(root, seed=2)
    for part in ("train", "val", "test"):
        assert torch.equal(getattr(a, part).tensors[0], getattr(b, part).tensors[0])
        assert torch.equal(getattr(a, part).tensors[1], getattr(b, part).tensors[1])
    assert not torch.equal(a.train.tensors[0], c.train.tensors[0])
    # silence pieces come from the noise file, so they are not all-zero audio
    silence = a.train.tensors[0][a.train.tensors[1] == SILENCE_INDEX][:, 0].numpy()
    assert np.abs(silence - _silence_features()).max() > 1.0
    assert (a.train.tensors[1] == UNKNOWN_INDEX).sum() == 2

    small = load_speech_commands_splits(root, seed=1, limit=5)
    assert [len(small.train), len(small.val), len(small.test)] == [5, 5, 5]
    assert len(set(small.train.tensors[1].tolist())) == 5


def _bad_rate(root: Path) -> str:
    write_wav(root / "yes" / "spk0_nohash_0.wav", tone(440, 8000), rate=8000)
    return "yes/spk0_nohash_0.wav"


def _bad_stereo(root: Path) -> str:
    write_wav(root / "left" / "spk1_nohash_0.wav", np.stack([tone(440)] * 2, axis=1))
    return "left/spk1_nohash_0.wav"


def _bad_width(root: Path) -> str:
    write_wav(root / "go" / "spk2_nohash_0.wav", tone(440), width=1)
    return "go/spk2_nohash_0.wav"


def _bad_bytes(root: Path) -> str:
    (root / "up" / "spk1_nohash_0.wav").write_bytes(b"RIFF\x00\x00garbage")
    return "up/spk1_nohash_0.wav"


def _bad_background(root: Path) -> str:
    write_wav(root / "_background_noise_" / "white_noise.wav", tone(440), rate=44_100)
    return "white_noise.wav"


def _no_validation_list(root: Path) -> str:
    (root / "validation_list.txt").unlink()
    return "validation_list.txt"


def _no_testing_list(root: Path) -> str:
    (root / "testing_list.txt").unlink()
    return "testing_list.txt"


@pytest.mark.parametrize(
    "breaker",
    [
        _bad_rate,
        _bad_stereo,
        _bad_width,
        _bad_bytes,
        _bad_background,
        _no_validation_list,
        _no_testing_list,
    ],
)
def test_speech_malformed_inputs_raise_one_line_data_error(tmp_path, breaker):
    root = write_speech(tmp_path / "sc")
    name = breaker(root)
    with pytest.raises(DataError) as info:
        load_speech_commands_splits(root)
    message = str(info.value)
    assert name in message.replace("\\", "/") and "\n" not in message
    assert info.value.__cause__ is None


def test_speech_missing_or_empty_folder(tmp_path):
    with pytest.raises(DataError, match="nowhere"):
        load_speech_commands_splits(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "validation_list.txt").write_text("")
    (empty / "testing_list.txt").write_text("")
    with pytest.raises(DataError, match="no .wav files"):
        load_speech_commands_splits(empty)
