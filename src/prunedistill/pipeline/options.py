"""Analysis options built from the study config's sections."""

from __future__ import annotations

from ..config import StudyConfig, section_dict


def neural_options(config: StudyConfig):
    """The per-area analysis options, from the neural, dimension and decoding sections."""
    from ..neural import NeuralAnalysisConfig

    n, d = config.neural, config.dimension
    return NeuralAnalysisConfig(
        construction=n.construction, n_neurons=n.n_neurons, n_resamples=n.resamples,
        fraction=d.fraction, scale=d.scale, max_blocks=d.max_blocks,
        include_pixels=n.include_pixels, alpha=d.alpha,
        decoding_sizes=tuple(config.decoding.population_sizes),
        decoding_resamples=config.decoding.resamples, pseudo_trials=n.pseudo_trials,
        seed=config.seed)


def unit_analysis_config(information: dict, seed: int, *, trials: bool = False):
    """:class:`UnitAnalysisConfig` from the information section as plain data (as tasks
    carry it). ``trials``: recorded data, where the noise model does not apply."""
    from ..unit_analysis import PoissonNoise, UnitAnalysisConfig

    noise = information["noise"]
    return UnitAnalysisConfig(
        n_bins=information["n_bins"], low_level_bins=information["luminance_bins"],
        correction=information["bias_correction"], n_shuffles=information["shuffles"],
        seed=seed, invariance_threshold=information["invariance_threshold"],
        invariance_sweep=tuple(information["invariance_sweep"]), alpha=information["alpha"],
        noise=None if trials or noise["kind"] == "none" else PoissonNoise(
            n_trials=noise["n_trials"], peak_rate=noise["peak_rate"], seed=seed))


def unit_options(config: StudyConfig, trials: bool = False):
    """The single-unit information options of a study."""
    return unit_analysis_config(section_dict(config.information), config.seed, trials=trials)
