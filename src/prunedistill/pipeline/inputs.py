"""What each network of a study is shown: the stimulus set at its own input size, resized and
centre-cropped as its weights' transforms say, in colour or gray; and the checks that refuse
impossible combinations before any work starts."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import MIN_ID_POINTS, ConfigError, NetworkConfig, StudyConfig
from ..models.preprocessing import Preprocessing


@dataclass(frozen=True)
class ImageFormat:
    """The study's stimulus set at one size: rendered at ``size``, or natural images resized
    (shorter side to ``resize_size``, with ``interpolation``) and centre-cropped to ``size``."""

    size: int
    resize_size: int | None = None
    interpolation: str = "bilinear"

    def describe(self) -> str:
        if self.resize_size in (None, self.size):
            return f"{self.size} px"
        return f"{self.size} px (shorter side to {self.resize_size}, centre crop, " \
               f"{self.interpolation})"


@dataclass(frozen=True)
class NetworkInput:
    """One network's preprocessing, the format of the stimuli it gets and, in words, what is
    done to their colour."""

    preprocessing: Preprocessing
    format: ImageFormat
    colour: str


def base_format(config: StudyConfig) -> ImageFormat:
    """The set at ``stimuli.size``: for networks that take any size, recordings, the report."""
    return ImageFormat(config.stimuli.size)


def _format(config: StudyConfig, preprocessing: Preprocessing) -> ImageFormat:
    if config.stimuli.set != "folder":  # rendered at the size: no resize or crop
        return ImageFormat(preprocessing.input_size or config.stimuli.size)
    return natural_image_format(config, preprocessing)


def stimuli_are_colour(config: StudyConfig) -> bool:
    """Whether the study's stimulus set is colour (rendered sets are gray)."""
    if config.stimuli.set != "folder" or config.stimuli.grayscale:
        return False
    from ..stimuli.folder import folder_is_colour

    return folder_is_colour(config.stimuli.folder, config.stimuli.metadata)


def network_input(config: StudyConfig, network: NetworkConfig, colour: bool) -> NetworkInput:
    from ..models import preprocessing_of

    try:
        preprocessing = preprocessing_of(network.model, network.input_spec,
                                         arguments=network.arguments,
                                         declared_values=network.preprocessing)
    except (ValueError, FileNotFoundError, ImportError) as error:
        raise ConfigError(f"network {network.name!r}: {error}") from None
    if colour and preprocessing.channels == 1:
        raise ConfigError(
            f"network {network.name!r} ({network.model}) takes gray images, and the folder "
            f"{config.stimuli.folder} holds colour images. Set stimuli.grayscale: true to "
            "show every network their luma (BT.601), or study this network on a gray set.")
    return NetworkInput(preprocessing, _format(config, preprocessing),
                        preprocessing.colour_note(colour))


def natural_image_format(config: StudyConfig, preprocessing: Preprocessing) -> ImageFormat:
    """The format of natural images (a folder set, or folder ID points) for a network: its
    size, with its resize and interpolation (networks that take any size get
    ``stimuli.size``, cropped square)."""
    size = preprocessing.input_size or config.stimuli.size
    resize = preprocessing.resize_size if preprocessing.input_size is not None else None
    return ImageFormat(size, resize if resize != size else None, preprocessing.interpolation)


def check_points(config: StudyConfig) -> None:
    """A ``dimension.points`` folder must exist and hold enough images for TwoNN with error
    bars; raises :class:`ConfigError` naming the minimum."""
    folder = config.dimension.points_folder
    if folder is None:
        return
    from ..stimuli.folder import IMAGE_SUFFIXES, image_files

    if not folder.is_dir():
        raise ConfigError(f"dimension.points: {str(folder)!r} is neither 'training', "
                          "'stimuli' nor an existing folder of images.")
    found = len(image_files(folder))
    if found < MIN_ID_POINTS:
        raise ConfigError(
            f"dimension.points: {folder} holds {found} image(s) "
            f"({', '.join(IMAGE_SUFFIXES)}); TwoNN with error bars needs at least "
            f"{MIN_ID_POINTS} (hundreds give a usable estimate). Add images, or use "
            "'training' or 'stimuli'.")


def network_inputs(config: StudyConfig) -> dict[str, NetworkInput]:
    """Every network's input, by network name; raises :class:`ConfigError` for impossible
    combinations (a gray network on colour images, an unknown model, bad preprocessing,
    too few ID points)."""
    check_points(config)
    colour = stimuli_are_colour(config)
    return {network.name: network_input(config, network, colour)
            for network in config.networks}
