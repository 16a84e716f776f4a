"""Tabulate memory and MAC area / energy with the component models AccelForge uses, into the
YAML codesign reads (`codesign/hw_models/components/cacti_45nm.yaml`).

Runs in a virtual environment of its own, never codesign's (CACTI is not a run-time
dependency of codesign: only the YAML this writes is)::

    python3.12 -m venv /work/peers/hwc
    /work/peers/hwc/bin/pip install hwcomponents hwcomponents-cacti hwcomponents-library \
        hwcomponents-neurosim
    # the hwcomponents-cacti wheel ships object files built against a newer glibc: rebuild
    make -C /work/peers/hwc/lib/python3.12/site-packages/hwcomponents_cacti/cacti clean_dbg dbg
    /work/peers/hwc/bin/python tools/tabulate_components.py \
        --out codesign/hw_models/components/cacti_45nm.yaml

Memories: `hwcomponents_cacti.SRAM` (CACTI 7 through hwcomponents-cacti), one read / write
port, one bank, at each capacity (powers of two) and port width. MACs: Aladdin's integer
multiplier (width_a x width_b) and adder (hwcomponents-library, Shao et al. ISCA 2014), scaled
by hwcomponents to the node.
"""

from __future__ import annotations

import argparse
from importlib import metadata

import yaml

TECH_NM = 45
WIDTHS = (16, 64)  # bits per access: a PE's register file word, a global-buffer bank port
CAPACITIES = tuple(2**k for k in range(6, 25))  # 64 bits .. 16 Mib (2 MiB)
MULT_BITS = (2, 4, 8, 16)
ADDER_BITS = (16, 24, 32)


def main() -> None:
    from hwcomponents_cacti import SRAM
    from hwcomponents_library.library.aladdin import AladdinAdder, AladdinMultiplier

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    args = p.parse_args()
    node = TECH_NM * 1e-9
    versions = {
        k: metadata.version(k)
        for k in ("hwcomponents", "hwcomponents-cacti", "hwcomponents-library")
    }
    sram = []
    for width in WIDTHS:
        for cap in CAPACITIES:
            if cap < 4 * width:
                continue
            s = SRAM(tech_node=node, width=width, size=cap)
            sram.append(
                {
                    "capacity_bits": cap,
                    "width_bits": width,
                    "read_pj": round(s.read_energy * 1e12, 6),
                    "write_pj": round(s.write_energy * 1e12, 6),
                    "area_um2": round(s.cacti_area * 1e12, 3),
                }
            )
    mult = []
    for a in MULT_BITS:
        for w in MULT_BITS:
            m = AladdinMultiplier(tech_node=node, width_a=a, width_b=w)
            mult.append(
                {
                    "a_bits": a,
                    "w_bits": w,
                    "energy_pj": round(m.read().energy * 1e12, 6),
                    "area_um2": round(m.area * 1e12, 3),
                }
            )
    adders = []
    for b in ADDER_BITS:
        ad = AladdinAdder(tech_node=node, width=b)
        adders.append(
            {
                "bits": b,
                "energy_pj": round(ad.add().energy * 1e12, 6),
                "area_um2": round(ad.area * 1e12, 3),
            }
        )
    doc = {
        "version": 1,
        "name": f"CACTI 7 + Aladdin at {TECH_NM} nm",
        "technology_nm": TECH_NM,
        "sram_tool": f"CACTI 7 via hwcomponents-cacti {versions['hwcomponents-cacti']} "
        f"(hwcomponents {versions['hwcomponents']}), SRAM, 1 read/write port, 1 bank",
        "mac_tool": f"Aladdin multiplier and adder via hwcomponents-library "
        f"{versions['hwcomponents-library']} (hwcomponents {versions['hwcomponents']})",
        "generated_by": "tools/tabulate_components.py",
        "sram": sram,
        "multiplier": mult,
        "adder": adders,
    }
    header = (
        "# Memory and MAC area / energy at 45 nm, tabulated by tools/tabulate_components.py\n"
        "# (do not edit by hand; rerun it). Sources:\n"
        "#   sram:       CACTI 7 (Balasubramonian et al., ACM TACO 14(2) 2017) through\n"
        "#               hwcomponents-cacti, the memory model AccelForge uses\n"
        "#   multiplier, adder: Aladdin (Shao et al., ISCA 2014) through hwcomponents-library\n"
        "# Units: pJ per access of width_bits (sram) or per operation; um^2.\n"
    )
    with open(args.out, "w") as fh:
        fh.write(header)
        yaml.safe_dump(doc, fh, sort_keys=False, width=100)
    print(f"wrote {args.out}: {len(sram)} SRAM, {len(mult)} multiplier, {len(adders)} adder rows")


if __name__ == "__main__":
    main()
