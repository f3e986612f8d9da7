"""End to end: a tiny study through every stage, its report, resume after kill -9, the
Dask path, and caching that recomputes only what a changed option touches."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from prunedistill._validation import PrunedistillError
from prunedistill.config import validate_config
from prunedistill.pipeline import run_study
from prunedistill.pipeline.cache import StageMissing

TINY = {
    "name": "tiny",
    "stimuli": {"objects": ["bunny", "duck", "procedural:6"]},
    "networks": [{"model": "embedded", "trained": "trained", "untrained_seeds": [0]}],
    "dimension": {"points": "training", "n_points": 60, "repeats": 4, "max_blocks": 3},
    "information": {"units_per_layer": 40, "shuffles": 4, "invariance_sweep": [0.0, 0.9]},
    "decoding": {"single_units": 10, "population_sizes": [6], "resamples": 2},
    "comparison": {"bootstrap": 20, "coupling_permutations": 50},
    "executor": {"workers": 1},
}
FIGURES = ["dimension_profile", "dimension_scale", "information_decomposition",
           "low_mid_information", "invariance", "decoding", "coupling"]
EXPECTED_COLUMNS = {
    "dimension": ["network", "weights", "role", "layer", "id", "id_mean", "id_std", "id_mle",
                  "id_mle_se", "n_points", "n_duplicates"],
    "dimension_scale": ["layer", "n_blocks", "n_points", "id_mean"],
    "information_summary": ["layer", "metric", "median", "se", "mean", "n_units",
                            "fraction_significant"],
    "information_units": ["unit", "I_S", "I_L", "I_S_given_L", "f_high_L", "I_C", "I_invariant",
                          "degenerate", "rf_fit_r2"],
    "invariance_summary": ["layer", "threshold", "median", "n_units"],
    "decoding_single_summary": ["layer", "protocol", "percent_correct", "information"],
    "decoding_population": ["layer", "n_units", "protocol", "percent_correct",
                            "chance_percent_correct"],
    "comparison": ["layer", "metric", "untrained", "difference", "p", "p_holm", "effect_size"],
    "verdicts": ["layer", "pruning", "distillation", "I_L_difference", "f_high_L_difference"],
    "coupling": ["layer", "id_change", "I_L_change", "r", "p"],
}
# Values that must be finite in every row (others are NaN by definition in some rows, e.g.
# f_high of a unit without information or a test of identical input layers).
FINITE = {"dimension": ["id", "id_mean", "id_std", "id_mle"],
          "dimension_scale": ["id_mean"],
          "decoding_population": ["percent_correct", "information"],
          "decoding_single_summary": ["percent_correct", "information"],
          "coupling": ["id_change", "I_L_change", "r", "p"]}
PRE_ANALYSIS = ("stimuli", "bars", "networks", "extract", "receptive_fields")


def tiny_config(output: Path, **changes):
    data = {**TINY, "output": str(output)}
    for section, values in changes.items():
        data[section] = {**data.get(section, {}), **values}
    return validate_config(data)


def copy_pre_analysis_cache(source: Path, target: Path) -> None:
    for stage in PRE_ANALYSIS:
        shutil.copytree(source / "cache" / stage, target / "cache" / stage)


def table_bytes(output: Path) -> dict[str, bytes]:
    folder = output / "report" / "tables"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    output = tmp_path_factory.mktemp("reference")
    run_study(tiny_config(output), quiet=True)
    return output


def test_report_has_every_file_and_table(reference):
    report = reference / "report"
    assert (report / "report.html").stat().st_size > 1000
    page = (report / "report.html").read_text()
    for name in FIGURES:
        for suffix in ("png", "svg"):
            path = report / "figures" / f"{name}.{suffix}"
            assert path.stat().st_size > 1000, path
        assert f"figures/{name}.png" in page
    assert (report / "figures" / "montage.png").exists()
    for name, columns in EXPECTED_COLUMNS.items():
        table = pd.read_csv(report / "tables" / f"{name}.csv")
        assert len(table) > 0, name
        assert set(columns) <= set(table.columns), (name, set(columns) - set(table.columns))
        parquet = pd.read_parquet(report / "tables" / f"{name}.parquet")
        assert parquet.shape == table.shape
        for column in FINITE.get(name, []):
            assert np.isfinite(table[column]).all(), (name, column)
    units = pd.read_csv(report / "tables" / "information_units.csv")
    # 8 checkpoint layers x 2 instances x 40 units (the input layer has 4096 pixels).
    assert len(units) == 8 * 2 * 40
    live = units[~units.degenerate]
    assert np.isfinite(live[["I_S", "I_L", "I_C"]]).all().all()
    # Deterministic units: I(R;S) is the response entropy, at most log2(3) bits.
    assert (np.log2(3) + 1e-9 >= live.I_S).all()
    metadata = (report / "metadata.json").read_text()
    assert "weights_identity" in metadata and "stage_seconds" in metadata


def test_trained_network_prunes_and_distils_in_its_late_layers(reference):
    verdicts = pd.read_csv(reference / "report" / "tables" / "verdicts.csv")
    late = verdicts[verdicts.layer.isin(["features.pool4", "classifier.fc2"])]
    assert (late.I_L_difference < 0).all() and (late.f_high_L_difference > 0).all()
    # The input layer is the same image for both networks: no difference at all.
    first = verdicts[verdicts.layer == "input"].iloc[0]
    assert first.I_L_difference == 0 and not first.pruning


def test_second_run_is_cached(reference, capsys):
    started = time.perf_counter()
    run_study(tiny_config(reference))
    assert time.perf_counter() - started < 20
    out = capsys.readouterr().out
    assert "0 computed" in out and "[report]" in out and "(cached)" in out


def test_changing_one_option_recomputes_only_that_analysis(reference, tmp_path):
    copy_pre_analysis_cache(reference, tmp_path)
    for stage in ("analyse_dimension", "analyse_information", "analyse_decoding"):
        shutil.copytree(reference / "cache" / stage, tmp_path / "cache" / stage)
    before = {s: set(os.listdir(tmp_path / "cache" / s)) for s in os.listdir(tmp_path / "cache")}
    run_study(tiny_config(tmp_path, decoding={"resamples": 3}), quiet=True)
    after = {s: set(os.listdir(tmp_path / "cache" / s)) for s in os.listdir(tmp_path / "cache")}
    new = {s: after[s] - before.get(s, set()) for s in after}
    assert len(new["analyse_decoding"]) == 16  # 8 layers x 2 instances
    assert not new["analyse_information"] and not new["analyse_dimension"]
    assert not any(new[s] for s in PRE_ANALYSIS)
    ref, changed = table_bytes(reference), table_bytes(tmp_path)
    assert ref["information_units.csv"] == changed["information_units.csv"]
    assert ref["decoding_population.csv"] != changed["decoding_population.csv"]


def test_resume_after_kill_gives_identical_tables(reference, tmp_path):
    copy_pre_analysis_cache(reference, tmp_path)
    config_path = tmp_path / "study.yaml"
    config_path.write_text(yaml.safe_dump({**TINY, "output": str(tmp_path)}))
    process = subprocess.Popen([sys.executable, "-m", "prunedistill.cli", "run",
                                str(config_path), "--quiet"])
    information = tmp_path / "cache" / "analyse_information"
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if information.exists() and len([p for p in information.iterdir()
                                         if not p.name.endswith(".partial")]) >= 3:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "report").exists()
    run_study(tiny_config(tmp_path), quiet=True)
    assert table_bytes(tmp_path) == table_bytes(reference)
    leftovers = list((tmp_path / "cache").rglob("*.partial"))
    assert not leftovers


def test_dask_cluster_gives_the_local_results(reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    copy_pre_analysis_cache(reference, tmp_path)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1")
        run_study(tiny_config(tmp_path), quiet=True, scheduler=cluster.scheduler_address)
    assert table_bytes(tmp_path) == table_bytes(reference)


def test_local_process_pool_gives_the_serial_results(reference, tmp_path):
    copy_pre_analysis_cache(reference, tmp_path)
    run_study(tiny_config(tmp_path, executor={"workers": 2}), quiet=True)
    assert table_bytes(tmp_path) == table_bytes(reference)


def test_report_only_needs_the_analyses(tmp_path):
    with pytest.raises(StageMissing, match="prunedistill run"):
        run_study(tiny_config(tmp_path), quiet=True, report_only=True)
    assert not (tmp_path / "report").exists()


def _study_stimuli(output: Path):
    from prunedistill.stimuli import load_stimuli

    (entry,) = [p for p in (output / "cache" / "stimuli").iterdir()
                if not p.name.endswith(".partial")]
    return load_stimuli(entry / "stimuli.zarr")


def test_neural_dataset_joins_the_report(reference, tmp_path):
    from dataclasses import replace

    from prunedistill.neural import simulate_population
    from prunedistill.neural.io import save_netcdf
    from prunedistill.neural.simulate import RAT_LIKE

    areas = [replace(a, n_neurons=20) for a in RAT_LIKE]
    ds, _ = simulate_population(_study_stimuli(reference), areas, n_trials=8, seed=2)
    save_netcdf(ds, tmp_path / "sim.nc")
    for stage in os.listdir(reference / "cache"):
        if stage != "report":
            shutil.copytree(reference / "cache" / stage, tmp_path / "cache" / stage)
    config = tiny_config(tmp_path, neural={
        "datasets": [{"path": str(tmp_path / "sim.nc"), "label": "sim"}], "resamples": 3})
    run_study(config, quiet=True)
    report = tmp_path / "report"
    for name in ("brain_vs_network", "similarity"):
        assert (report / "figures" / f"{name}.png").stat().st_size > 1000
    similarity = pd.read_csv(report / "tables" / "similarity.csv")
    assert len(similarity) == 8 * 4 * 2  # layers x areas x instances
    assert similarity["cka"].between(0, 1).all() and similarity["rsa"].between(-1, 1).all()
    joint = pd.read_csv(report / "tables" / "brain_vs_network.csv")
    assert {"brain", "trained", "untrained"} <= set(joint["kind"])
    assert joint["relative_depth"].between(0, 1).all()
    units = pd.read_csv(report / "tables" / "neural_information_units.csv")
    assert len(units) == 80 and set(units["layer"]) == {"V1", "LM", "LI", "LL"}
    page = (report / "report.html").read_text()
    assert "Synthetic data" in page and "sim (recorded)" in page
    # The network analyses were all reused from the reference cache.
    assert table_bytes(tmp_path)["verdicts.csv"] == table_bytes(reference)["verdicts.csv"]


def test_neural_commands(reference, tmp_path, capsys):
    from prunedistill.cli import main
    from prunedistill.stimuli import save_stimuli

    stimuli = save_stimuli(_study_stimuli(reference), tmp_path / "stim.zarr")
    data = tmp_path / "sim.npz"
    assert main(["neural", "simulate", "--stimuli", str(stimuli), "--out", str(data),
                 "--neuron-scale", "0.1", "--trials", "6", "--quiet"]) == 0
    assert (tmp_path / "sim_planted.csv").exists()
    assert main(["neural", "info", str(data)]) == 0
    out = capsys.readouterr().out
    assert "[SYNTHETIC]" in out and "V1 -> LM -> LI -> LL" in out
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump({"information": {"shuffles": 4},
                                     "neural": {"resamples": 3},
                                     "decoding": {"population_sizes": [6], "resamples": 2},
                                     "dimension": {"max_blocks": 3},
                                     "comparison": {"bootstrap": 20}}))
    assert main(["neural", "report", str(data), "--stimuli", str(stimuli), "--config",
                 str(study), "--out", str(tmp_path / "rep"), "--quiet"]) == 0
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "SYNTHETIC" in page and "figures/dimension_profile.png" in page
    assert (tmp_path / "rep" / "tables" / "information_summary.csv").exists()
    assert main(["neural", "info", str(tmp_path / "missing.nc")]) == 2
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "thesis.txt").write_text("four years")
    assert main(["neural", "report", str(data), "--stimuli", str(stimuli), "--config",
                 str(study), "--out", str(mine), "--quiet"]) == 2
    assert (mine / "thesis.txt").read_text() == "four years"


def test_a_folder_of_images_runs_through_the_study(reference, tmp_path):
    from PIL import Image

    stimuli = _study_stimuli(reference)
    folder = tmp_path / "images"
    folder.mkdir()
    rows = []
    for i in range(0, stimuli.sizes["stimulus"], 3):
        name = f"img{i}.png"
        Image.fromarray((stimuli["images"].values[i] * 255).astype(np.uint8)).save(folder / name)
        rows.append({"file": name, "object": str(stimuli["object"].values[i]),
                     "view": int(stimuli["view"].values[i])})
    pd.DataFrame(rows).to_csv(folder / "metadata.csv", index=False)
    config = validate_config({
        "output": str(tmp_path / "out"), "stimuli": {"set": "folder", "folder": str(folder)},
        "networks": [{"model": "embedded", "untrained_seeds": [0]}],
        "dimension": {"points": "stimuli", "repeats": 3, "max_blocks": 2},
        "information": {"units_per_layer": 20, "shuffles": 2,
                        "receptive_fields": "full_field"},
        "decoding": {"single_units": 5, "population_sizes": [6], "resamples": 1},
        "comparison": {"bootstrap": 10, "coupling_permutations": 20}})
    run_study(config, quiet=True)
    stored = _study_stimuli(tmp_path / "out")
    assert stored["object"].dtype.kind == "U"  # fixed-width text after the zarr round trip
    decoding = pd.read_csv(tmp_path / "out" / "report" / "tables" / "decoding_population.csv")
    assert np.isfinite(decoding["percent_correct"]).all()


def _tables_of(output: Path) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_parquet(p)
            for p in sorted((output / "report" / "tables").glob("*.parquet"))}


def test_every_network_appears_in_every_figure(reference, tmp_path):
    from prunedistill.report import FIGURES, draw_figures

    tables = _tables_of(reference)
    two = {name: pd.concat([t, t.assign(network="second")], ignore_index=True)
           if "network" in t else t for name, t in tables.items()}
    drawn = draw_figures(two, tmp_path)
    assert set(drawn) == {f.name for f in FIGURES if f.drawable(two)}
    assert len(drawn) == 7  # every figure of a study without recordings
    for name, data in drawn.items():
        assert set(data["network"]) == {"embedded", "second"}, name
        assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_the_page_leads_with_findings_and_collapses_metadata(reference):
    page = (reference / "report" / "report.html").read_text()
    assert page.index("Findings") < page.index("Intrinsic dimension</h2>")
    assert "<b>Pruning</b>" in page and "<b>Distillation</b>" in page
    assert "<details><summary>config</summary>" in page
    assert "I_L_p_holm" not in page  # headers a person reads, not column names
    assert "Points of the ID: 60 held-out renders" in page


def test_user_files_are_never_deleted_by_output_options(reference, tmp_path, capsys):
    from prunedistill.cli import main
    from prunedistill.report import write_report

    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "thesis.txt").write_text("four years")
    with pytest.raises(PrunedistillError, match="not a prunedistill report"):
        write_report({}, mine, title="t", metadata={})
    assert (mine / "thesis.txt").read_text() == "four years"
    # run --output DIR with a DIR/report/ that prunedistill did not write
    for stage in os.listdir(reference / "cache"):
        shutil.copytree(reference / "cache" / stage, tmp_path / "out" / "cache" / stage)
    (tmp_path / "out" / "report").mkdir()
    (tmp_path / "out" / "report" / "thesis.txt").write_text("four years")
    config_path = tmp_path / "study.yaml"
    config_path.write_text(yaml.safe_dump({**TINY, "output": str(tmp_path / "out")}))
    assert main(["run", str(config_path), "--quiet"]) == 2
    assert "is not a prunedistill report" in capsys.readouterr().err
    assert (tmp_path / "out" / "report" / "thesis.txt").read_text() == "four years"
    # a report prunedistill wrote is replaced
    shutil.rmtree(tmp_path / "out" / "report")
    assert main(["run", str(config_path), "--quiet"]) == 0
    assert table_bytes(tmp_path / "out") == table_bytes(reference)


def test_the_stimuli_key_follows_every_file_the_folder_loader_reads(tmp_path):
    """On main only the top-level files of stimuli.folder were fingerprinted: images in a
    subfolder or an outside CSV changed with the run still cached."""
    from PIL import Image

    from prunedistill.pipeline.cache import Cache
    from prunedistill.pipeline.inputs import ImageFormat
    from prunedistill.pipeline.log import StageLog
    from prunedistill.pipeline.stages import stage_stimuli

    folder, outside = tmp_path / "images", tmp_path / "elsewhere"
    (folder / "sub" / "deeper").mkdir(parents=True)
    outside.mkdir()
    rng = np.random.default_rng(0)

    def image(path):
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(path)

    files = ["sub/a.png", "sub/b.png", "sub/deeper/c.png", "sub/deeper/d.png"]
    for name in files:
        image(folder / name)
    csv = outside / "meta.csv"
    pd.DataFrame({"file": files, "object": ["x", "x", "y", "y"],
                  "view": [0, 1, 0, 1]}).to_csv(csv, index=False)
    config = validate_config({"output": str(tmp_path / "out"), "stimuli": {
        "set": "folder", "folder": str(folder), "metadata": str(csv)}})
    cache, log = Cache(tmp_path / "out" / "cache"), StageLog(quiet=True)
    keys = [stage_stimuli(config, cache, log, ImageFormat(16)).key]
    image(folder / "sub" / "a.png")
    keys.append(stage_stimuli(config, cache, log, ImageFormat(16)).key)
    image(folder / "sub" / "deeper" / "d.png")
    keys.append(stage_stimuli(config, cache, log, ImageFormat(16)).key)
    pd.read_csv(csv).assign(contrast=[1.0, 2.0, 3.0, 4.0]).to_csv(csv, index=False)
    keys.append(stage_stimuli(config, cache, log, ImageFormat(16)).key)
    assert len(set(keys)) == 4
    # unchanged files: cached
    assert stage_stimuli(config, cache, log, ImageFormat(16)).key == keys[-1]


def test_two_runs_on_one_output_folder_take_turns(reference, tmp_path):
    """On main, 8 of 8 simultaneous starts failed and 6 of 8 left a cache every later run
    failed on. Now the second run waits for the first and finds everything cached."""
    copy_pre_analysis_cache(reference, tmp_path)
    config_path = tmp_path / "study.yaml"
    config_path.write_text(yaml.safe_dump({**TINY, "output": str(tmp_path)}))
    command = [sys.executable, "-m", "prunedistill.cli", "run", str(config_path)]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    errors = "".join(err for _, err in outputs)
    assert "waiting:" in errors and "is in use by pid" in errors
    assert any("0 computed" in out for out, _ in outputs)  # the second found it all cached
    assert table_bytes(tmp_path) == table_bytes(reference)
    assert not list((tmp_path / "cache").rglob("*.partial"))


def test_an_output_that_is_a_file_is_a_named_error(tmp_path, capsys):
    from prunedistill.cli import main

    (tmp_path / "results").write_text("not a folder")
    assert main(["run", "--output", str(tmp_path / "results"), "--quiet"]) == 2
    assert "is a file" in capsys.readouterr().err


def test_a_flipped_bit_or_an_edited_table_is_recomputed_never_used(reference, tmp_path):
    """On main one flipped bit in a stored Gram chunk changed a reported ID with rc 0, and a
    Parquet entry edited in place flowed into the report."""
    for stage in os.listdir(reference / "cache"):
        if stage != "report":
            shutil.copytree(reference / "cache" / stage, tmp_path / "cache" / stage)
    chunk = sorted((tmp_path / "cache" / "extract_id").glob("*/activations.zarr/*/gram/*"))[0]
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x10
    chunk.write_bytes(bytes(data))
    units = sorted((tmp_path / "cache" / "analyse_information").glob("*/information_units"
                                                                       ".parquet"))[0]
    edited = pd.read_parquet(units)
    edited["I_L"] = 1.0
    edited.to_parquet(units, index=False)
    config_path = tmp_path / "study.yaml"
    config_path.write_text(yaml.safe_dump({**TINY, "output": str(tmp_path)}))
    run = subprocess.run([sys.executable, "-m", "prunedistill.cli", "run", str(config_path),
                          "--quiet"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    notices = [line for line in run.stderr.splitlines() if line.startswith("[cache]")]
    assert any("extract_id/" in n and "does not match its checksum" in n for n in notices)
    assert any("analyse_information/" in n for n in notices)
    assert table_bytes(tmp_path) == table_bytes(reference)


def test_pool_workers_die_with_their_parent(reference, tmp_path):
    """On main, killing only the main process (as the OOM killer does) left both workers
    alive: they published their in-flight entry, then idled at 0.7 GB each."""
    psutil = pytest.importorskip("psutil")
    copy_pre_analysis_cache(reference, tmp_path)
    config_path = tmp_path / "study.yaml"
    config_path.write_text(yaml.safe_dump({**TINY, "output": str(tmp_path),
                                           "executor": {"workers": 2}}))
    run = subprocess.Popen([sys.executable, "-m", "prunedistill.cli", "run", str(config_path),
                            "--quiet"])
    parent = psutil.Process(run.pid)
    deadline = time.time() + 120
    workers = []
    while time.time() < deadline and len(workers) < 2 and run.poll() is None:
        workers = parent.children()
        time.sleep(0.2)
    assert len(workers) >= 2, "the pool never started"
    time.sleep(3)  # let them start a task
    run.send_signal(signal.SIGKILL)
    run.wait()
    gone, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, f"{len(alive)} workers outlived their parent"


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_dask_workers_started_in_another_folder_find_the_cache(reference, tmp_path,
                                                               monkeypatch):
    """As dask-jobqueue starts them on Slurm: scheduler and worker in another working
    directory, a relative output path on the client. On main: `no activation store at
    out/small/cache/...`."""
    pytest.importorskip("distributed")
    from distributed import Client

    client_dir, worker_dir = tmp_path / "client", tmp_path / "elsewhere"
    worker_dir.mkdir()
    copy_pre_analysis_cache(reference, client_dir / "out" / "small")
    monkeypatch.chdir(client_dir)
    address = f"tcp://127.0.0.1:{_free_port()}"
    dask = str(Path(sys.executable).parent / "dask")
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port",
                                  address.rsplit(":", 1)[1], "--no-dashboard"],
                                 cwd=worker_dir, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([dask, "worker", address, "--nworkers", "1", "--nthreads", "1",
                               "--no-dashboard"], cwd=worker_dir, stderr=subprocess.DEVNULL)
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
        run_study(tiny_config(Path("out/small")), quiet=True, scheduler=address)
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(timeout=30)
    assert table_bytes(client_dir / "out" / "small") == table_bytes(reference)


def test_a_recording_of_other_stimuli_fails_before_any_network_work(reference, tmp_path):
    """On main the mismatch was found after every network had been analysed."""
    from prunedistill.neural import neural_responses
    from prunedistill.neural.io import save_npz

    recording = neural_responses(np.ones((2, 3, 2)), area=["V1", "LL"],
                                 stimulus_id=["cow/v0", "cow/v1", "cow/v2"],
                                 area_order=["V1", "LL"])
    save_npz(recording, tmp_path / "cows.npz")
    shutil.copytree(reference / "cache" / "stimuli", tmp_path / "out" / "cache" / "stimuli")
    config = tiny_config(tmp_path / "out", neural={
        "datasets": [{"path": str(tmp_path / "cows.npz"), "label": "cows"}]})
    started = time.perf_counter()
    with pytest.raises(PrunedistillError, match="'cows'.*first: cow/v0"):
        run_study(config, quiet=True)
    assert time.perf_counter() - started < 20
    assert sorted(os.listdir(tmp_path / "out" / "cache")) == ["stimuli"]


def test_sigterm_cleans_up_like_ctrl_c(tmp_path):
    """A Slurm time limit sends SIGTERM; on main it left the half-written entry behind."""
    config_path = tmp_path / "study.yaml"
    config_path.write_text(yaml.safe_dump({**TINY, "output": str(tmp_path)}))
    run = subprocess.Popen([sys.executable, "-m", "prunedistill.cli", "run", str(config_path),
                            "--quiet"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while (time.time() < deadline and run.poll() is None
           and not list(tmp_path.glob("cache/*/*.partial"))):
        time.sleep(0.02)
    if not list(tmp_path.glob("cache/*/*.partial")):
        run.kill()
        _, err = run.communicate(timeout=60)
        raise AssertionError(f"never caught a write in progress (exit {run.returncode}):\n"
                             f"{err[-3000:]}")
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert not list(tmp_path.rglob("*.partial"))


def test_several_trained_instances_give_network_level_tests(tmp_path):
    """Two committed trained instances and two untrained seeds: each instance is analysed,
    the comparison has one row per trained instance, the network-level table takes each
    instance's median as a sample, and the report shows the per-instance effects."""
    config = validate_config({
        "output": str(tmp_path / "out"), "stimuli": {"objects": ["bunny", "duck", "mug"]},
        "networks": [{"model": "embedded", "trained": ["trained:0", "trained:1"],
                      "untrained_seeds": [0, 1],
                      "layers": ["features.pool4", "classifier.fc1"]}],
        "dimension": {"points": "stimuli", "repeats": 3, "max_blocks": 2},
        "information": {"units_per_layer": 30, "shuffles": 2, "invariance_sweep": [0.9],
                        "receptive_fields": "full_field"},
        "decoding": {"single_units": 10, "population_sizes": [6], "resamples": 1},
        "comparison": {"bootstrap": 10, "coupling_permutations": 20},
        "executor": {"workers": 1}})
    run_study(config, quiet=True)
    tables = _tables_of(tmp_path / "out")
    assert set(tables["dimension"]["weights"]) == {"trained:0", "trained:1", "untrained:0",
                                                   "untrained:1"}
    comparison = tables["comparison"]
    assert {"pooled", "instance0", "instance1"} == set(comparison["trained"])
    network = tables["network_level"].set_index(["layer", "metric"])
    row = network.loc[("classifier.fc1", "I_L")]
    assert row.n_trained_instances == 2 and row.n_untrained_instances == 2
    units = tables["information_units"]
    live = units[(units.layer == "classifier.fc1") & ~units.degenerate]
    medians = live.groupby("weights")["I_L"].median()
    assert row.mean_trained == pytest.approx(medians[["trained:0", "trained:1"]].mean())
    assert row.mean_untrained == pytest.approx(medians[["untrained:0", "untrained:1"]].mean())
    assert np.isfinite(row.p) and 1 / 6 - 1e-9 <= row.p_exact <= 1
    verdicts = tables["verdicts"]
    assert (verdicts["n_trained_instances"] == 2).all()
    assert verdicts["pruning_network"].notna().all()
    page = (tmp_path / "out" / "report" / "report.html").read_text()
    assert "Network-level replication" in page and "2 trained vs 2 untrained instances" in page
