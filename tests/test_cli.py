import json

import numpy as np
import pytest

from prunedistill.cli import main


def test_id_command_writes_json(tmp_path, capsys):
    rng = np.random.default_rng(0)
    points = rng.standard_normal((400, 3)) @ rng.standard_normal((3, 30))
    np.save(tmp_path / "layer.npy", np.vstack([points, points[:5]]))
    out = tmp_path / "id.json"
    assert main(["id", str(tmp_path / "layer.npy"), "--repeats", "5", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["n_duplicates_dropped"] == 5
    assert report["id_twonn"] == pytest.approx(3, rel=0.15)
    assert "TwoNN ID" in capsys.readouterr().out


def test_id_command_errors_without_partial_output(tmp_path):
    np.save(tmp_path / "bad.npy", np.full((10, 4), np.nan))
    out = tmp_path / "id.json"
    with pytest.raises(SystemExit, match="NaN"):
        main(["id", str(tmp_path / "bad.npy"), "--out", str(out)])
    assert not out.exists()
    with pytest.raises(SystemExit, match="does not exist"):
        main(["id", str(tmp_path / "missing.npy")])


def test_run_says_not_available(capsys):
    assert main(["run"]) == 2
    assert "not" in capsys.readouterr().err
