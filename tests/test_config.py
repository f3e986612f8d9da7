"""The study config: the shipped default, named errors, init."""

import pytest
import yaml

from prunedistill.cli import main
from prunedistill.config import (
    ConfigError,
    StudyConfig,
    default_config,
    default_config_text,
    load_config,
    validate_config,
)


def test_default_study_matches_the_schema_defaults():
    # The shipped YAML documents every key; it must say what the code does without it.
    assert default_config() == StudyConfig()
    assert default_config().networks[0].weight_specs == [
        "trained:0", "trained:1", "trained:2", "untrained:0", "untrained:1", "untrained:2"]


def test_init_writes_each_shipped_study(tmp_path, monkeypatch):
    from prunedistill.config import STUDIES, shipped_config, study_text

    monkeypatch.chdir(tmp_path)
    assert main(["init", "--study", "imagenet"]) == 0
    imagenet = load_config(tmp_path / "imagenet.yaml")
    assert imagenet == shipped_config("imagenet")
    assert (tmp_path / "imagenet.yaml").read_text() == study_text("imagenet")
    network = imagenet.networks[0]
    assert network.model == "efficientnet_lite0" and network.untrained_seeds == [0, 1, 2]
    assert imagenet.stimuli.set == "tafazoli" and imagenet.dimension.points == "stimuli"
    assert set(STUDIES) == {"default", "imagenet"}
    with pytest.raises(ConfigError, match="no shipped study named 'vgg'.*default, imagenet"):
        study_text("vgg")


def test_unknown_key_names_the_key_and_the_allowed_keys():
    with pytest.raises(ConfigError) as error:
        validate_config({"information": {"units": 10}})
    message = str(error.value)
    assert "information.units: unknown key" in message
    assert "units_per_layer" in message and "bias_correction" in message


def test_wrong_value_names_the_key_and_the_allowed_values():
    with pytest.raises(ConfigError) as error:
        validate_config({"information": {"bias_correction": "jackknife"}})
    message = str(error.value)
    assert "information.bias_correction" in message
    assert "'pt'" in message and "'qe'" in message and "jackknife" in message


def test_wrong_type_and_every_problem_listed():
    with pytest.raises(ConfigError) as error:
        validate_config({"seed": "zero", "stimuli": {"size": 2}, "networks": [{"modle": "x"}]})
    message = str(error.value)
    assert "3 problem(s)" in message
    assert "seed" in message and "stimuli.size" in message and "networks.0.modle" in message


def test_networks_need_distinct_names():
    with pytest.raises(ConfigError, match="label"):
        validate_config({"networks": [{"model": "embedded"}, {"model": "embedded"}]})


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="prunedistill init"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("stimuli: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(listed)


def test_init_writes_the_default_and_refuses_to_overwrite(tmp_path, capsys):
    path = tmp_path / "study.yaml"
    assert main(["init", str(path)]) == 0
    assert path.read_text() == default_config_text()
    assert load_config(path) == default_config()
    assert main(["init", str(path)]) == 2
    assert "--force" in capsys.readouterr().err


def test_cli_reports_config_errors(tmp_path, capsys):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"executor": {"kind": "slurm"}}))
    assert main(["run", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "executor.kind" in err and "'dask'" in err


@pytest.mark.parametrize("section", ["dimension", "information", "decoding", "neural",
                                     "comparison"])
def test_analysis_options_have_the_yaml_names_and_defaults(section):
    from dataclasses import fields

    from prunedistill.config import StudyConfig, section_dict

    config = StudyConfig()
    yaml_section = getattr(config, section)
    options = yaml_section.options()
    names = {f.name for f in fields(options)}
    yaml_keys = set(section_dict(yaml_section)) - {"datasets"}
    assert names == yaml_keys
    defaults = type(options)()
    for name in names:
        value = getattr(options, name)
        assert value == getattr(defaults, name), name
        shown = section_dict(yaml_section)[name]
        if isinstance(shown, list):
            shown = tuple(shown)
        if isinstance(shown, dict):
            shown = type(value)(**shown)
        assert value == shown, name
