"""Run NNCF's HAWQ mixed-precision initialisation on one network, for a sweep of compression
ratios.

Usage (inside NNCF's own environment, nncf 2.x: its legacy PyTorch API holds HAWQ, 3.x
dropped it): python run_nncf.py IN.json OUT.json

IN.json: {"spec", "state", "arrays": {"train_x", "train_y"}, "input_shape", "w_bits",
"a_bits", "ratios", "samples", "seed"} (see benchmarks/bench_peers.py). For each compression
ratio r (NNCF's "ratio between the bit complexity of the all-8-bit model and the mixed one"),
from the full-precision weights: `create_compressed_model` with the quantization algorithm,
target device TRIAL (any bit-width) and the HAWQ precision initialiser over `w_bits`, on
`samples` training samples. OUT.json: per ratio, each conv / linear layer's weight bits (from
its weight quantizer) and input bits (the fewest bits of `a_bits` that hold the distinct values
its quantized input takes on a batch), with the seconds and CPU seconds it took.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from netspec import input_bits, load_inputs, quantizable  # noqa: E402


def _input_bits(model: nn.Module, names: list[str], x: torch.Tensor, a_bits: list[int]) -> dict:
    """Each layer's input bits, read off the distinct values its input holds."""
    mods = dict(model.named_modules())
    layers = {
        name: next(v for k, v in mods.items() if k.split(".")[-1] == name and hasattr(v, "weight"))
        for name in names
    }
    return input_bits(model, layers, x, a_bits)


def main(src: str, dst: str) -> None:
    """Read IN.json, initialise at every ratio, write OUT.json."""
    os.environ["NNCF_TORCH_LEGACY_TRACING"] = "1"  # nncf 2.19 keeps HAWQ behind its old tracer
    # its C++ kernels are built on first use (minutes on a busy machine), then cached
    os.environ.setdefault("NNCF_EXTENSION_LOAD_TIMEOUT", "0")
    from nncf import NNCFConfig
    from nncf.torch import create_compressed_model, register_default_init_args

    cfg = json.loads(Path(src).read_text())
    torch.set_num_threads(1)
    base, arr = load_inputs(cfg)
    x, y = arr["train_x"].float(), arr["train_y"].long()
    n = min(cfg["samples"], len(x))
    names = quantizable(cfg["spec"])
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x[:n], y[:n]), batch_size=64, shuffle=False
    )
    results = []
    for ratio in cfg["ratios"]:
        t0, c0 = time.perf_counter(), time.process_time()
        torch.manual_seed(cfg["seed"])
        doc = {
            "input_info": {"sample_size": [1, *cfg["input_shape"]]},
            "target_device": "TRIAL",
            "compression": {
                "algorithm": "quantization",
                "initializer": {
                    "range": {"num_init_samples": n},
                    "batchnorm_adaptation": {"num_bn_adaptation_samples": 0},
                    "precision": {
                        "type": "hawq",
                        "bits": sorted(cfg["w_bits"]),
                        "compression_ratio": ratio,
                        "num_data_points": n,
                        "iter_number": 200,
                        "tolerance": 1e-4,
                    },
                },
            },
        }
        config = register_default_init_args(
            NNCFConfig.from_dict(doc), loader, criterion=nn.CrossEntropyLoss()
        )
        ctrl, model = create_compressed_model(copy.deepcopy(base), config)
        wbits = {}
        for qid, info in ctrl.weight_quantizers.items():
            target = str(getattr(qid, "target_node_name", qid))
            for name in names:
                if f"[{name}]" in target:
                    wbits[name] = int(info.quantizer_module_ref.num_bits)
        missing = [nm for nm in names if nm not in wbits]
        if missing:
            raise SystemExit(f"NNCF placed no weight quantizer on layers {missing}")
        abits = _input_bits(model, names, x[:256], cfg["a_bits"])
        layers = {nm: {"a": abits[nm], "w": wbits[nm]} for nm in names}
        results.append(
            {
                "ratio": ratio,
                "layers": layers,
                "seconds": time.perf_counter() - t0,
                "cpu_seconds": time.process_time() - c0,
            }
        )
    Path(dst).write_text(json.dumps({"tool": "nncf", "results": results}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
