"""The sampler widget on a diffusion sampler: a steps and a guidance slider, and none for a GAN.

Real TensorFlow: a tiny 16 px denoiser (``diffusion_models.build_denoiser``) whose
output layer is random instead of zero, so what it draws depends on the steps and
the guidance as a trained one's does; the GAN is ``conftest.sampler_generator``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from medgan_helpers import data, diffusion, diffusion_models, pictures, widgets

PX = 16


def _sampler(num_classes: int | None = 3) -> diffusion.DiffusionSampler:
    keras.utils.set_random_seed(0)
    network = diffusion_models.build_denoiser(PX, 1, num_classes, base_filters=4, max_filters=8, depth=1,
                                              time_dim=8)
    kernel = network.get_layer("noise").kernel
    kernel.assign(np.random.default_rng(0).normal(0, 0.3, kernel.shape).astype("float32"))
    return diffusion.DiffusionSampler(network, diffusion.CosineSchedule(), num_classes=num_classes,
                                      class_names=[f"c{i}" for i in range(num_classes or 0)], steps=3,
                                      guidance=1.0)


@pytest.fixture(scope="module")
def model() -> diffusion.DiffusionSampler:
    return _sampler()


@pytest.fixture()
def view(model) -> widgets.SamplerWidget:
    return widgets.SamplerWidget(model, n_directions=1, pca_samples=4, strip_length=2)


def drawn(view: widgets.SamplerWidget, model, **options) -> np.ndarray:
    """What the sampler itself draws for the widget's latent and class, with ``options``, as the browser's uint8."""
    z = view.current_latent()[None]
    return data.to_uint8(model.generate_from_latent(z, np.array([view.label]), **options))[0]


def test_a_diffusion_sampler_gets_steps_and_guidance_sliders_at_its_defaults(view, model):
    assert (view.steps_slider.value, view.guidance_slider.value) == (model.steps, model.guidance) == (3, 1.0)
    assert (view.steps, view.guidance) == (3, 1.0)
    assert (view.steps_slider.min, view.steps_slider.max) == (1, 250)
    assert "medgan-steps" in view.steps_slider._dom_classes and "medgan-guidance" in view.guidance_slider._dom_classes
    controls = view.widget.children[0].children[0].children
    assert view.steps_slider in controls and view.guidance_slider in controls
    assert not view.guidance_slider.disabled and view.guidance_slider.layout.display is None
    assert "3 steps · guidance 1.0" in view.caption.value
    np.testing.assert_array_equal(pictures.from_png(view.image_widget.value)[..., :1], drawn(view, model))


def test_the_sliders_change_what_is_drawn_and_leave_the_sampler_alone(view, model):
    before, strip_before = view.render(), view.strip_images.copy()
    view.steps_slider.value = 6
    assert view.explorer.options == {"steps": 6, "guidance": 1.0}
    after_steps = view.current_image
    np.testing.assert_array_equal(data.to_uint8(after_steps), drawn(view, model, steps=6, guidance=1.0))
    assert not np.array_equal(data.to_uint8(after_steps), before)
    assert not np.array_equal(view.strip_images, strip_before)  # the strip is drawn with the new steps too
    view.guidance_slider.value = 3.0
    assert view.explorer.options == {"steps": 6, "guidance": 3.0} and "6 steps · guidance 3.0" in view.caption.value
    np.testing.assert_array_equal(data.to_uint8(view.current_image), drawn(view, model, steps=6, guidance=3.0))
    assert not np.array_equal(view.current_image, after_steps)
    assert (model.steps, model.guidance) == (3, 1.0)  # the sampler's own defaults do not move


def test_set_moves_the_sliders_and_a_bad_value_moves_nothing(view, model):
    shown = view.set(steps=2, guidance=2.5, seed=4)
    assert (view.steps_slider.value, view.guidance_slider.value, view.seed) == (2, 2.5, 4)
    np.testing.assert_array_equal(shown, drawn(view, model, steps=2, guidance=2.5))
    for bad, message in (({"steps": 0}, "steps=0: use a whole number of denoising steps from 1 to 250"),
                         ({"steps": 2.5}, "steps=2.5"), ({"guidance": -1.0}, r"guidance=-1.0: use a number from 0"),
                         ({"seed": 3, "guidance": "high"}, "guidance='high'")):
        with pytest.raises(ValueError, match=message):
            view.set(**bad)
        assert (view.steps, view.guidance, view.seed) == (2, 2.5, 4), bad


def test_the_sliders_start_at_the_explorers_options(model):
    view = widgets.SamplerWidget(model, n_directions=1, pca_samples=4, strip_length=2,
                                 options={"steps": 5, "guidance": 2.0})
    assert (view.steps, view.guidance) == (5, 2.0)


def test_an_unconditional_diffusion_sampler_hides_the_guidance_slider():
    view = widgets.SamplerWidget(_sampler(num_classes=None), n_directions=1, pca_samples=4, strip_length=2)
    assert view.steps == 3 and view.guidance_slider.disabled and view.guidance_slider.layout.display == "none"
    assert "3 steps" in view.caption.value and "guidance" not in view.caption.value
    first = view.current_image
    view.steps_slider.value = 7
    assert not np.array_equal(view.current_image, first)


def test_a_gan_has_no_steps_or_guidance(sampler_generator):
    view = widgets.SamplerWidget(sampler_generator, n_directions=1, pca_samples=8, strip_length=2)
    assert view.steps_slider is None and view.guidance_slider is None and view.steps is None
    assert view.guidance is None and "steps" not in view.caption.value
    assert view.explorer.options == {}
    with pytest.raises(ValueError, match="steps: GeneratorModel draws in one pass, without steps or guidance"):
        view.set(steps=10)
