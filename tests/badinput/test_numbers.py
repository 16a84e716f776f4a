"""Class 2: impossible numbers are refused with one error naming the file and the field; NaN in
data or weights is one clear error; an ignored flag is refused by name."""

from __future__ import annotations

import pytest
import torch

from codesign.core.errors import CodesignError, DataError, HardwareModelError, WorkloadError
from codesign.hw import load_hardware

from ..conftest import MPIC, ROOT

EYERISS = ROOT / "hw_models" / "eyeriss.yaml"


@pytest.mark.parametrize(
    "base, old, new, field",
    [
        (MPIC, "clock_hz: 250.0e+6", "clock_hz: .inf", "clock_hz"),
        (MPIC, "power_mw: 5.38", "power_mw: .inf", "power_mw"),
        (MPIC, "power_mw: 5.38", "power_mw: .nan", "power_mw"),
        (MPIC, "2: {2: 6.5,", "2: {2: .inf,", "macs_per_cycle.2.2"),
        (MPIC, "2: {2: 6.5,", "2: {2: 1e-300,", "macs_per_cycle.2.2"),
        (EYERISS, "access_pj_per_bit: 31.25", "access_pj_per_bit: .inf", "memories.2"),
        (EYERISS, "access_pj_per_bit: 31.25", "access_pj_per_bit: 1e308", "memories.2"),
        (EYERISS, "access_pj_per_bit: 0.75", "access_pj_per_bit: 1e308", "memories.1"),
        (EYERISS, "{shared: 884736}", "{shared: .inf}", "memories.1.capacity_bits"),
        (EYERISS, "{shared: 884736}", "{shared: .nan}", "memories.1.capacity_bits"),
        (EYERISS, "other_op_pj: 0.03", "other_op_pj: .nan", "other_op_pj"),
    ],
)
def test_an_impossible_hardware_number_names_file_and_field(tmp_path, base, old, new, field):
    text = base.read_text()
    assert old in text
    path = tmp_path / "hw.yaml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(HardwareModelError, match=rf"hw.yaml: field '{field}") as info:
        load_hardware(path)
    assert "finite" in str(info.value) or "than or equal" in str(info.value)


def test_nan_inputs_from_a_data_function_are_one_clear_error():
    from codesign.data.user import splits_from

    x = torch.randn(8, 4)
    x[3, 1] = float("nan")
    good = (torch.randn(8, 4), torch.zeros(8, dtype=torch.long))
    with pytest.raises(DataError, match="split 'val': 1 input values are NaN"):
        splits_from("mine:load", (good, (x, torch.zeros(8, dtype=torch.long)), good))


def test_nan_weights_are_one_clear_error(tmp_path):
    from codesign.stages.prepare import load_weights
    from codesign.workload import get_workload

    wl = get_workload("digits_cnn")
    state = wl.build().state_dict()
    name = next(k for k, t in state.items() if t.is_floating_point())
    state[name] = torch.full_like(state[name], float("nan"))
    torch.save(state, tmp_path / "w.pt")
    with pytest.raises(CodesignError, match=rf"'{name}'.*NaN or infinite"):
        load_weights(wl, str(tmp_path / "w.pt"))


def test_input_shape_on_a_bundled_workload_is_refused_by_name():
    from codesign.workload import get_workload

    with pytest.raises(WorkloadError, match="--input-shape 1,1,9,9: workload 'digits_cnn'"):
        get_workload("digits_cnn", (1, 1, 9, 9))
    assert get_workload("digits_cnn", (1, 1, 8, 8)).input_shape == (1, 1, 8, 8)  # its own


def test_supernet_train_with_zero_steps_is_refused(capsys):
    from codesign.cli import main

    assert main(["supernet", "train", "--hw", "mpic", "--workload", "digits_cnn", "--steps", "0"])
    err = capsys.readouterr().err
    assert "supernet_steps" in err and "Traceback" not in err
