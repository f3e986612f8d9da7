import json

import numpy as np
import pytest

from prunedistill._validation import PrunedistillError
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


def test_id_command_errors_without_partial_output(tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.full((10, 4), np.nan))
    out = tmp_path / "id.json"
    assert main(["id", str(tmp_path / "bad.npy"), "--out", str(out)]) == 2
    assert "NaN" in capsys.readouterr().err
    assert not out.exists()
    assert main(["id", str(tmp_path / "missing.npy")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_debug_flag_shows_the_traceback(tmp_path):
    with pytest.raises(PrunedistillError, match="does not exist"):
        main(["--debug", "id", str(tmp_path / "missing.npy")])


@pytest.mark.parametrize("command", ["run", "init", "analyse", "report", "stimuli", "layers",
                                     "extract", "train", "id", "neural"])
def test_every_command_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_code:
        main([command, "--help"])
    assert exit_code.value.code == 0
    assert "example" in capsys.readouterr().out


def test_report_command_without_analyses_names_the_fix(tmp_path, capsys):
    assert main(["report", "--output", str(tmp_path / "out"), "--quiet"]) == 2
    assert "prunedistill run" in capsys.readouterr().err
    assert not (tmp_path / "out" / "report").exists()


def test_stimuli_command_writes_store_and_montage(tmp_path):
    from prunedistill.stimuli import load_stimuli

    out = tmp_path / "stim"
    assert main(["stimuli", "--set", "tafazoli", "--size", "32", "--objects",
                 "bunny,procedural:9", "--out", str(out), "--quiet"]) == 0
    stored = load_stimuli(out / "tafazoli.zarr")
    assert stored.sizes["stimulus"] == 76
    assert (out / "tafazoli_montage.png").stat().st_size > 0
    assert main(["stimuli", "--set", "training", "--n", "12", "--objects-count", "5",
                 "--size", "32", "--out", str(out)]) == 0
    training = load_stimuli(out / "training.zarr")
    assert training.sizes["stimulus"] == 12 and training.object_index.max() < 5


def test_stimuli_command_folder_errors(tmp_path, capsys):
    assert main(["stimuli", "--set", "folder", "--out", str(tmp_path / "o")]) == 2
    assert "--folder" in capsys.readouterr().err
    assert main(["stimuli", "--set", "folder", "--folder", str(tmp_path / "none"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_layers_command_lists_shapes_and_presets(capsys):
    assert main(["layers", "embedded"]) == 0
    out = capsys.readouterr().out
    assert "features.conv1_1" in out and "(16, 64, 64)" in out and "65,536" in out
    assert "preset checkpoints" in out and "preset all" in out
    assert main(["layers", "no_such_net"]) == 2
    assert "Valid: embedded" in capsys.readouterr().err


def test_extract_command_writes_a_store(tmp_path, capsys):
    from prunedistill.activations import ActivationStore

    main(["stimuli", "--set", "tafazoli", "--size", "64", "--objects", "bunny,duck",
          "--out", str(tmp_path), "--quiet"])
    out = tmp_path / "act.zarr"
    assert main(["extract", "embedded", "--weights", "untrained:1", "--stimuli",
                 str(tmp_path / "tafazoli.zarr"), "--layers", "features.pool1,classifier.fc1",
                 "--out", str(out), "--subset", "10", "--quiet"]) == 0
    store = ActivationStore(out)
    assert store.layers == ["features.pool1", "classifier.fc1"]
    assert store.subset("features.pool1").sizes == {"stimulus": 76, "unit": 10}
    assert store.attrs["stimuli"]["object"][:2] == ["bunny", "bunny"]
    assert main(["extract", "vgg11", "--stimuli", str(tmp_path / "tafazoli.zarr"),
                 "--out", str(tmp_path / "vgg.zarr"), "--quiet"]) == 2
    assert "expects 224 x 224" in capsys.readouterr().err
    assert not (tmp_path / "vgg.zarr").exists()


@pytest.mark.parametrize("write, message", [
    (lambda p: np.save(p, np.array(["a", "b", "c"])), "real numbers"),
    (lambda p: np.save(p, np.array([{"a": 1}], dtype=object)), "cannot read"),
    (lambda p: p.write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False,"
                             b" 'shape': (500, 4), }" + b" " * 40 + b"\n" + b"\0" * 64),
     "cannot read"),
])
def test_id_refuses_unreadable_points_in_one_line(tmp_path, capsys, write, message):
    path = tmp_path / "points.npy"
    write(path)
    assert main(["id", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_a_write_the_system_refuses_is_one_line(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "layer.npy", rng.standard_normal((200, 5)))
    assert main(["id", str(tmp_path / "layer.npy"), "--repeats", "2", "--out",
                 "/sys/prunedistill_id.json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Permission denied (/sys/") and "permissions" in err


def test_extract_never_deletes_a_folder_it_did_not_write(tmp_path, capsys):
    """On main `extract --out DIR` removed DIR (shutil.rmtree), rc 0."""
    main(["stimuli", "--set", "tafazoli", "--size", "64", "--objects", "bunny,duck",
          "--out", str(tmp_path), "--quiet"])
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "thesis.txt").write_text("four years")
    assert main(["extract", "embedded", "--stimuli", str(tmp_path / "tafazoli.zarr"),
                 "--out", str(mine), "--subset", "5", "--quiet"]) == 2
    assert "not an activation store written by prunedistill" in capsys.readouterr().err
    assert (mine / "thesis.txt").read_text() == "four years"
    store = tmp_path / "act.zarr"
    for _ in range(2):  # a store it wrote is replaced
        assert main(["extract", "embedded", "--stimuli", str(tmp_path / "tafazoli.zarr"),
                     "--layers", "features.pool1", "--out", str(store), "--subset", "5",
                     "--quiet"]) == 0
