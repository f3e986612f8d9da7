"""NWB files as labs write them: areas in electrodes.location, named interval tables, bytes
columns, robust latencies; files written here by pynwb and a real lab file from ../shared."""

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from prunedistill.cli import main
from prunedistill.neural.io import load_responses
from prunedistill.neural.nwb import NWBOptions, read_nwb, response_latency
from prunedistill.neural.schema import NeuralDataError

pynwb = pytest.importorskip("pynwb")

REAL = Path(__file__).resolve().parents[2] / "shared" / "reference" / "recordings" / \
    "human_mtl_units.nwb"
needs_real = pytest.mark.skipif(not REAL.is_file(), reason="the real NWB file lives in "
                                "../shared/reference (absent in a user's clone)")


def planted_spikes(rng, onsets, *, baseline_hz, response_hz, latency_s, duration_s=0.2):
    """A Poisson neuron: ``baseline_hz`` everywhere, ``response_hz`` more in
    [onset + latency, onset + latency + duration) of every presentation."""
    end = onsets[-1] + 2.0
    spikes = [rng.uniform(0, end, rng.poisson(baseline_hz * end))]
    for onset in onsets:
        n = rng.poisson(response_hz * duration_s)
        spikes.append(onset + latency_s + rng.uniform(0, duration_s, n))
    return np.sort(np.concatenate(spikes))


@pytest.mark.parametrize("latency_ms, baseline_hz, response_hz, n", [
    (40, 10.0, 60.0, 100),    # dense, early (rat V1-like)
    (40, 1.0, 8.0, 100),      # sparse, early
    (300, 8.0, 40.0, 90),     # dense, late (human MTL-like)
    (300, 0.5, 4.0, 90),      # sparse, late
    (450, 2.0, 10.0, 180),    # late, near the end of the search range
])
def test_planted_latencies_are_found(latency_ms, baseline_hz, response_hz, n):
    rng = np.random.default_rng(latency_ms + n)
    onsets = np.arange(n) * 2.0 + 1.0
    spikes = planted_spikes(rng, onsets, baseline_hz=baseline_hz, response_hz=response_hz,
                            latency_s=latency_ms / 1000)
    found = response_latency(spikes, onsets)
    assert found.significant
    assert found.seconds * 1000 == pytest.approx(latency_ms, abs=20)


def test_a_neuron_that_does_not_respond_is_flagged_not_given_a_noise_latency():
    rng = np.random.default_rng(7)
    onsets = np.arange(90) * 2.0 + 1.0
    flagged = [not response_latency(planted_spikes(
        rng, onsets, baseline_hz=rate, response_hz=0.0, latency_s=0.1), onsets).significant
        for rate in (0.5, 2.0, 10.0) for _ in range(5)]
    assert all(flagged)


def write_lab_file(path, *, locations=("CA1", "CA1", "LEC"), unit_electrodes=((0, 1), (2,),
                   (0, 2, 2)), onsets=None, column=b"face", unit_areas=None):
    """A file laid out as labs do: no trials table, an interval table with a bytes column,
    areas only in electrodes.location."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.epoch import TimeIntervals

    nwb = NWBFile(session_description="lab", identifier="lab1", session_id="s1",
                  session_start_time=datetime(2026, 1, 1, tzinfo=UTC))
    device = nwb.create_device("probe")
    group = nwb.create_electrode_group("shank", "a shank", "brain", device)
    for location in locations:
        nwb.add_electrode(group=group, location=location)
    rng = np.random.default_rng(0)
    onsets = np.arange(40) * 2.0 + 1.0 if onsets is None else onsets
    table = TimeIntervals(name="encoding_table", description="clips")
    table.add_column("stimCategory", "category")
    for i, onset in enumerate(onsets):
        table.add_row(start_time=float(onset), stop_time=float(onset) + 1.0,
                      stimCategory=[column, b"house"][i % 2])
    nwb.add_time_intervals(table)
    if unit_areas is not None:
        nwb.add_unit_column("brain_area", "the unit's area, as some labs record it")
    for u, electrodes in enumerate(unit_electrodes):
        spikes = planted_spikes(rng, np.sort(onsets[np.isfinite(onsets)]), baseline_hz=2.0,
                                response_hz=30.0, latency_s=0.05 + 0.1 * u)
        extra = {} if unit_areas is None else {"brain_area": unit_areas[u]}
        nwb.add_unit(spike_times=spikes, electrodes=list(electrodes), **extra)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def test_areas_come_from_the_electrodes_the_units_refer_to(tmp_path):
    path = write_lab_file(tmp_path / "lab.nwb")
    ds = read_nwb(path, options=NWBOptions(intervals="encoding_table",
                                           stimulus_column="stimCategory"))
    # unit 0: electrodes 0, 1 (CA1, CA1); unit 1: electrode 2 (LEC); unit 2: CA1, LEC, LEC
    assert ds["area"].values.tolist() == ["CA1", "LEC", "LEC"]
    assert ds["stimulus_id"].values.tolist() == ["face", "house"]  # bytes decoded
    assert ds.sizes["trial"] == 20
    np.testing.assert_allclose(ds["latency_ms"].values, [50, 150, 250], atol=20)
    assert ds["latency_significant"].values.all()


def test_units_without_an_area_are_named_or_dropped(tmp_path):
    path = write_lab_file(tmp_path / "lab.nwb", unit_areas=["CA1", "", "LEC"])
    options = NWBOptions(intervals="encoding_table", stimulus_column="stimCategory")
    with pytest.raises(NeuralDataError, match=r"1 units have no area \(ids \['1'\]\).*"
                                              "--drop-unassigned"):
        read_nwb(path, options=options)
    kept = read_nwb(path, options=NWBOptions(**{**options.__dict__,
                                                "drop_unassigned": True}))
    assert kept["neuron_id"].values.tolist() == ["0", "2"]
    assert kept["area"].values.tolist() == ["CA1", "LEC"]  # the units' own column first


@pytest.mark.parametrize("change, message", [
    (dict(onsets=np.array([1.0, 5.0, 3.0] + list(np.arange(37) * 2.0 + 7.0))), "not sorted"),
    (dict(onsets=np.r_[np.arange(39) * 2.0 + 1.0, np.nan]), "not numbers"),
])
def test_bad_presentation_tables_are_named(tmp_path, change, message):
    path = write_lab_file(tmp_path / "lab.nwb", **change)
    with pytest.raises(NeuralDataError, match=message):
        read_nwb(path, options=NWBOptions(intervals="encoding_table",
                                          stimulus_column="stimCategory"))


def test_bad_files_and_tables_are_named(tmp_path):
    import h5py

    path = write_lab_file(tmp_path / "lab.nwb")
    with pytest.raises(NeuralDataError, match="no presentation table 'trials'.*encoding_table "
                                              r"\(columns start_time.*stimCategory"):
        read_nwb(path)
    with pytest.raises(NeuralDataError, match="no column 'image'.*stimCategory"):
        read_nwb(path, options=NWBOptions(intervals="encoding_table", stimulus_column="image"))
    with h5py.File(tmp_path / "plain.h5", "w") as handle:
        handle["x"] = np.arange(3)
    with pytest.raises(NeuralDataError, match="not a readable NWB file"):
        load_responses(_renamed(tmp_path / "plain.h5"))
    truncated = tmp_path / "truncated.nwb"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(NeuralDataError, match="not a readable NWB file"):
        load_responses(truncated)


def _renamed(path: Path) -> Path:
    target = path.with_suffix(".nwb")
    path.rename(target)
    return target


def test_electrodes_without_location_are_named(tmp_path):
    import h5py

    path = write_lab_file(tmp_path / "lab.nwb")
    with h5py.File(path, "r+") as handle:  # pynwb will not write such a table: edit it after
        electrodes = handle["general/extracellular_ephys/electrodes"]
        del electrodes["location"]
        electrodes.attrs["colnames"] = [c for c in electrodes.attrs["colnames"]
                                        if c != "location"]
    # pynwb 4 refuses the table itself; older versions reach the reader's own check
    with pytest.raises(NeuralDataError, match="ElectrodesTable|location") as error:
        read_nwb(path, options=NWBOptions(intervals="encoding_table",
                                          stimulus_column="stimCategory"))
    assert len(str(error.value)) < 500


def test_units_without_spike_times_are_named(tmp_path):
    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile(session_description="lab", identifier="lab3",
                  session_start_time=datetime(2026, 1, 1, tzinfo=UTC))
    nwb.add_unit_column("area", "area")
    nwb.add_unit(area="CA1", obs_intervals=[[0.0, 10.0]])
    nwb.add_trial(start_time=0.5, stop_time=1.0)
    with NWBHDF5IO(str(tmp_path / "nospikes.nwb"), "w") as io:
        io.write(nwb)
    with pytest.raises(NeuralDataError, match="no spike_times"):
        read_nwb(tmp_path / "nospikes.nwb")


def test_reader_options_are_study_config_keys():
    from prunedistill.config import ConfigError, validate_config

    with pytest.raises(ConfigError, match=r"neural\.datasets\.0\.latency"):
        validate_config({"neural": {"datasets": [{"path": __file__, "latency": -5}]}})
    config = validate_config({"neural": {"datasets": [{
        "path": __file__, "intervals": "encoding_table", "stimulus_column": "stimCategory",
        "window_ms": 300, "latency": 250, "drop_unassigned": True}]}})
    assert config.neural.datasets[0].nwb_options() == NWBOptions(
        intervals="encoding_table", stimulus_column="stimCategory", window_ms=300,
        latency=250, drop_unassigned=True)


REAL_FLAGS = ["--intervals", "encoding_table", "--stimulus-column", "stimCategory"]


@needs_real
def test_the_real_file_prints_its_areas(capsys):
    assert main(["neural", "info", str(REAL), *REAL_FLAGS]) == 0
    out = capsys.readouterr().out
    assert "35 neurons, 3 stimuli, up to 30 trials" in out
    assert "hippocampus_right       25" in out and "amygdala_right          10" in out


@needs_real
def test_the_real_file_without_flags_lists_its_tables(capsys):
    assert main(["neural", "info", str(REAL)]) == 2
    err = capsys.readouterr().err
    assert "encoding_table (columns" in err and "stimCategory" in err
    assert "recognition_table" in err and "--intervals" in err


@needs_real
def test_latencies_of_the_real_file_are_where_its_neurons_respond():
    """Image onsets (recognition table): unit 28 rises from about 1 to 5 Hz at 300-400 ms
    (its PSTH), unit 29 weakly at 400-450 ms; video-clip onsets drive no unit."""
    ds = load_responses(REAL, nwb=NWBOptions(intervals="recognition_table",
                                             stimulus_column="frameName"))
    significant = ds["latency_significant"].values
    latency = dict(zip(ds["neuron_id"].values[significant].tolist(),
                       ds["latency_ms"].values[significant].tolist()))
    assert 300 <= latency["28"] <= 360 and 380 <= latency["29"] <= 460
    assert np.median(list(latency.values())) >= 250
    clips = load_responses(REAL, nwb=NWBOptions(intervals="encoding_table",
                                                stimulus_column="stimCategory"))
    assert not clips["latency_significant"].values.any()


@needs_real
def test_the_real_file_converts_and_reads_back_identically(tmp_path):
    import xarray as xr

    for suffix in (".nc", ".npz"):
        out = tmp_path / f"mtl{suffix}"
        assert main(["neural", "convert", str(REAL), str(out), *REAL_FLAGS]) == 0
        original = load_responses(REAL, nwb=NWBOptions(intervals="encoding_table",
                                                       stimulus_column="stimCategory"))
        xr.testing.assert_identical(original.drop_attrs(), load_responses(out).drop_attrs())


@needs_real
def test_the_real_file_gets_an_area_by_area_report(tmp_path):
    import pandas as pd

    out = tmp_path / "report"
    assert main(["neural", "report", str(REAL), *REAL_FLAGS, "--out", str(out),
                 "--quiet"]) == 0
    tables = {p.stem: pd.read_csv(p) for p in (out / "tables").glob("*.csv")}
    assert set(tables["dimension"]["layer"]) == {"hippocampus_right", "amygdala_right"}
    information = tables["information_summary"].query("metric == 'I_S'")
    assert len(information) == 2 and information["n_units"].tolist() == [25, 10]
    decoding = tables["decoding_population"]
    assert set(decoding["protocol"]) == {"separability"}
    page = (out / "report.html").read_text()
    assert "Stimulus information per neuron" in page and "Population decoding" in page
    assert page.count("need the stimulus images and RF maps") >= 2  # skipped, with reason
    assert (out / "figures" / "stimulus_information.png").exists()
    assert not (out / "figures" / "information_decomposition.png").exists()


@needs_real
def test_an_object_column_groups_the_real_clips_into_categories(tmp_path):
    import xarray as xr

    from prunedistill.neural.study import analyse_dataset

    options = NWBOptions(intervals="encoding_table", stimulus_column="Clip_name",
                         object_column="stimCategory")
    ds = load_responses(REAL, nwb=options)
    assert ds.sizes["stimulus"] == 90 and ds.sizes["trial"] == 1
    assert sorted(np.unique(ds["object"].values, return_counts=True)[1]) == [30, 30, 30]
    for suffix in (".nc", ".npz"):
        assert main(["neural", "convert", str(REAL), str(tmp_path / f"clips{suffix}"),
                     "--intervals", "encoding_table", "--stimulus-column", "Clip_name",
                     "--object-column", "stimCategory"]) == 0
        xr.testing.assert_identical(ds.drop_attrs(),
                                    load_responses(tmp_path / f"clips{suffix}").drop_attrs())
    tables = analyse_dataset(ds, None, name="clips")
    assert {"I_O", "I_S"} <= set(tables["information_summary"]["metric"])
    assert set(tables["decoding_population"]["protocol"]) == {"separability",
                                                              "generalisation"}


def test_a_stimulus_with_two_objects_is_named(tmp_path):
    path = write_lab_file(tmp_path / "lab.nwb")
    # stop_time differs between presentations of one stimulus: it cannot name its object
    with pytest.raises(NeuralDataError, match="two values of 'stop_time'"):
        read_nwb(path, options=NWBOptions(intervals="encoding_table",
                                          stimulus_column="stimCategory",
                                          object_column="stop_time"))
