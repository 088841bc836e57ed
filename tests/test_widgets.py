"""The sampler widget is a view: every control reaches its explorer, and it shows what the explorer makes.

The state itself (seeds, truncation, directions, strip, nearest-real search) is
tested without a widget in ``test_explorer.py``. Real TensorFlow throughout:
tiny generators from ``models.build_generator`` and the real ``brain-mri``
ImageSet at 32 px for the nearest-real panel.
"""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest

from medgan_helpers import data, models, pictures, widgets
from medgan_helpers.explorer import LatentExplorer

SIZE = 32
LATENT = 16


@pytest.fixture()
def sampler(sampler_generator, brain32) -> widgets.SamplerWidget:
    return widgets.SamplerWidget(sampler_generator, dataset=brain32, pca_samples=64)


def shown(image_widget) -> np.ndarray:
    """What the browser receives: the PNG bytes of an Image widget, decoded."""
    return pictures.from_png(image_widget.value)


def expected_sample(sampler) -> np.ndarray:
    """What the explorer makes for the state the controls show, as the uint8 the browser gets."""
    return data.to_uint8(sampler.explorer.image())


# -- construction -------------------------------------------------------------------


def test_controls_start_at_the_explorers_state(sampler, brain32):
    ex = sampler.explorer
    assert [label for label, _ in sampler.class_dropdown.options] == brain32.class_names == sampler.class_names
    assert (sampler.seed_slider.value, sampler.seed_slider.max) == (ex.seed, ex.max_seed)
    assert sampler.strip_seed_slider.value == ex.strip_seed == 1
    assert len(sampler.direction_sliders) == len(ex.directions) == 3
    assert sampler.truncation is None and "off" in sampler.truncation_label.value
    assert f"directions: {ex.direction_note}" in sampler.widget.children[0].children[0].children[-1].value


def test_widget_shows_exactly_the_rendered_image(sampler):
    rendered = sampler.render()
    assert rendered.dtype == np.uint8 and rendered.shape == (SIZE, SIZE, 1)
    np.testing.assert_array_equal(shown(sampler.image_widget), rendered)
    np.testing.assert_array_equal(rendered, data.to_uint8(sampler.current_image))
    np.testing.assert_array_equal(rendered, expected_sample(sampler))


def test_dom_hooks_for_browser_tests(sampler):
    assert "medgan-sampler" in sampler.widget._dom_classes
    assert "medgan-sample" in sampler.image_widget._dom_classes
    assert "medgan-seed" in sampler.seed_slider._dom_classes
    assert "medgan-class" in sampler.class_dropdown._dom_classes
    assert sampler.seed_slider.description == "seed"
    assert sampler.class_dropdown.description == "class"
    assert sampler.truncation_slider.description == "truncation"


def test_a_ready_explorer_is_shown_as_it_is(sampler_generator):
    explorer = LatentExplorer(sampler_generator, pca_samples=16, seed=9, strip_length=3)
    view = widgets.SamplerWidget(explorer, display_size=96)
    assert view.explorer is explorer and view.seed_slider.value == 9 and len(view.strip_images) == 3
    assert view.image_widget.width == "96"
    with pytest.raises(ValueError, match="ready LatentExplorer and also dataset/settings"):
        widgets.SamplerWidget(explorer, seed=3)


# -- each control reaches the explorer and redraws ------------------------------------------


def test_seed_slider_and_new_seed_button(sampler):
    sampler.seed_slider.value = 3
    first = shown(sampler.image_widget)
    assert sampler.explorer.seed == 3 and "seed 3" in sampler.caption.value
    np.testing.assert_array_equal(first, expected_sample(sampler))
    sampler.seed_slider.value = 4
    assert not np.array_equal(first, shown(sampler.image_widget))
    sampler.seed_slider.value = 3
    np.testing.assert_array_equal(first, shown(sampler.image_widget))
    sampler.new_seed_button.click()  # fires the on_click handler like a browser click
    assert sampler.seed != 3 and sampler.seed_slider.value == sampler.explorer.seed
    assert not np.array_equal(first, shown(sampler.image_widget))
    np.testing.assert_array_equal(shown(sampler.image_widget), expected_sample(sampler))


def test_class_dropdown(sampler):
    sampler.class_dropdown.value = 0
    first = shown(sampler.image_widget)
    sampler.class_dropdown.value = 2
    assert sampler.explorer.label == 2 and sampler.class_names[2] in sampler.caption.value
    assert not np.array_equal(first, shown(sampler.image_widget))
    np.testing.assert_array_equal(shown(sampler.image_widget), expected_sample(sampler))


def test_unconditional_model_hides_the_class_dropdown():
    keras.utils.set_random_seed(1)
    generator = models.build_generator(SIZE, 1, LATENT, base_filters=8, max_filters=32)
    s = widgets.SamplerWidget(generator, pca_samples=16)
    assert s.num_classes is None and s.label is None
    assert s.class_dropdown.disabled and s.class_dropdown.layout.display == "none"
    with pytest.raises(ValueError, match="unconditional"):
        s.set(label=1)


def test_truncation_slider_and_its_off_end(sampler):
    sampler.set(seed=5, truncation=0.5)
    assert sampler.truncation_slider.value == 0.5 and "|z| ≤ 0.5" in sampler.truncation_label.value
    np.testing.assert_array_equal(shown(sampler.image_widget), expected_sample(sampler))
    sampler.truncation_slider.value = sampler.truncation_slider.max
    assert sampler.explorer.truncation is None and "off" in sampler.truncation_label.value
    sampler.truncation_slider.value = 1.2
    assert sampler.explorer.truncation == pytest.approx(1.2)
    sampler.set(truncation=None)  # None means off, as in the explorer
    assert sampler.truncation_slider.value == sampler.truncation_slider.max
    sampler.set(truncation=0.01)  # below what the slider shows: the slider clamps, the explorer follows
    assert sampler.explorer.truncation == pytest.approx(sampler.truncation_slider.min)


def test_direction_sliders_and_reset_button(sampler):
    sampler.set(seed=7, directions=[0, 0, 0])
    z0, image0 = sampler.current_latent(), shown(sampler.image_widget)
    sampler.direction_sliders[0].value = 2.0
    np.testing.assert_allclose(sampler.explorer.direction_values, [2.0, 0, 0])
    np.testing.assert_allclose(sampler.current_latent(), z0 + 2.0 * sampler.directions[0], atol=1e-5)
    assert not np.array_equal(image0, shown(sampler.image_widget))
    sampler.reset_directions_button.click()
    assert [s.value for s in sampler.direction_sliders] == [0.0, 0.0, 0.0]
    np.testing.assert_array_equal(image0, shown(sampler.image_widget))


def test_strip_slider_redraws_the_strip(sampler):
    sampler.set(seed=10, strip_seed=20)
    assert sampler.strip_seed_slider.value == 20
    np.testing.assert_allclose(sampler.strip_images, sampler.explorer.strip(), atol=1e-6)
    picture = shown(sampler.strip_widget)
    assert picture.shape[1] == sampler.explorer.strip_length * SIZE + (sampler.explorer.strip_length - 1) * 2
    np.testing.assert_array_equal(picture, pictures.from_png(pictures.to_png(pictures.image_strip(sampler.strip_images))))
    before = sampler.strip_images
    sampler.strip_seed_slider.value = 21
    assert sampler.explorer.strip_seed == 21 and not np.allclose(sampler.strip_images[-1], before[-1])
    np.testing.assert_allclose(sampler.strip_images[0], before[0], atol=1e-6)


def test_nearest_panel_shows_the_explorers_nearest_real_image(sampler_generator, brain32):
    s = widgets.SamplerWidget(sampler_generator, dataset=brain32, pca_samples=16, nearest_max=50, seed=3)
    found = s.explorer.nearest_real(s.current_image)
    assert (s.nearest_index, s.nearest_distance) == (found.index, found.distance)
    np.testing.assert_array_equal(shown(s.nearest_widget), brain32.pixels[s.nearest_index])
    assert f"#{s.nearest_index} (searched 50 of {len(brain32)} images)" in s.nearest_label.value
    bare = widgets.SamplerWidget(sampler_generator, pca_samples=16)
    assert bare.nearest_index is None and bare.nearest_distance is None


# -- set / hold: several controls, one redraw; a bad value moves nothing -------------------------


def test_set_and_hold_redraw_once(sampler, monkeypatch):
    renders = []
    original = sampler.render
    monkeypatch.setattr(sampler, "render", lambda: renders.append(1) or original())
    image = sampler.set(seed=42, label=1, truncation=0.8, directions=[1.0, -1.0, 0.5], strip_seed=7)
    assert len(renders) == 1
    assert (sampler.seed_slider.value, sampler.class_dropdown.value, sampler.strip_seed_slider.value) == (42, 1, 7)
    assert [s.value for s in sampler.direction_sliders] == [1.0, -1.0, 0.5]
    np.testing.assert_array_equal(image, expected_sample(sampler))
    with sampler.hold():
        sampler.seed_slider.value = 43
        sampler.class_dropdown.value = 2
    assert len(renders) == 2 and sampler.explorer.state()["seed"] == 43 and sampler.label == 2


def test_a_bad_value_in_set_moves_no_control(sampler):
    sampler.set(seed=5, label=1)
    with pytest.raises(ValueError, match="not a class of this model"):
        sampler.set(seed=6, label="liver")
    with pytest.raises(ValueError, match="seed=1000 is outside"):
        sampler.set(seed=1000)
    assert (sampler.seed_slider.value, sampler.class_dropdown.value, sampler.seed) == (5, 1, 5)
    assert "seed 5" in sampler.caption.value


# -- latency (printed, never asserted) -------------------------------------------


def test_print_single_sample_latency(sampler):
    for seed in range(3):  # warm-up
        sampler.seed_slider.value = seed
    times = []
    for seed in range(3, 23):
        start = time.perf_counter()
        sampler.seed_slider.value = seed
        times.append((time.perf_counter() - start) * 1000)
    print(
        f"\nsampler latency ({SIZE} px tiny G + nearest of {len(sampler.explorer.dataset)} real): "
        f"median {np.median(times):.1f} ms, p95 {np.percentile(times, 95):.1f} ms; "
        f"time_render() {sampler.time_render():.1f} ms"
    )
    assert len(times) == 20 and sampler.last_render_ms > 0
