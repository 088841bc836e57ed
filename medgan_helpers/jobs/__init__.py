"""Repository jobs: code that serves the repository, not a notebook's reader.

- ``runner``       the main job (``python3 kit.py run`` → ``python -m medgan_helpers.jobs.runner``)
                   and the one notebook executor (``tools/build_notebooks.py`` uses it too)
- ``front_page``   the main job's ``artifacts/index.html``, in the order a reader asks
- ``side_by_side`` its first section's models and their real / generated strips
- ``pretrain``     trains and exports the shipped generator in ``data/pretrained/``
                   (``python -m medgan_helpers.jobs.pretrain``)
- ``colab_cells``  the build-time half of the Colab support: each notebook's
                   "Open in Colab" badge and the source of its setup cell (the runtime
                   half, which that cell imports, is ``medgan_helpers.colab``)

The library never imports this subpackage (``tests/test_front_door.py`` checks it),
so ``import medgan_helpers`` and the notebooks do not depend on it.
"""
