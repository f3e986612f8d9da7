import matplotlib.pyplot as plt
import numpy as np

from prunedistill.report.figures import save


def _figure():
    fig, axes = plt.subplots(1, 2)
    axes[0].imshow(np.arange(64.0).reshape(8, 8), cmap="gray")  # an image: ids, clip paths
    axes[1].plot([0, 1, 2], [1, 0, 2], marker="o")
    return fig


def test_the_same_figure_is_saved_as_the_same_bytes(tmp_path):
    """Both files of a figure are reproducible: the SVG's element ids come from a fixed salt,
    not matplotlib's default uuid4 (which changed every SVG of the report between runs)."""
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    save(_figure(), first, "panel")
    save(_figure(), second, "panel")
    for suffix in ("svg", "png"):
        a = (first / f"panel.{suffix}").read_bytes()
        assert len(a) > 1000
        assert a == (second / f"panel.{suffix}").read_bytes(), suffix
    assert b"clip-path" in (first / "panel.svg").read_bytes()
