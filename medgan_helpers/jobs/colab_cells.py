"""Build-time half of the Colab support: the "Open in Colab" badge and the setup cell's source.

``tools/build_notebooks.py`` puts :func:`colab_badge_markdown` where a notebook
source says ``<!-- colab-badge -->`` and :func:`setup_cell_source` where it says
``# setup-cell``; ``tools/colab_twin.py`` runs that source in a twin of Colab. The
runtime half — what the setup cell imports and calls on Colab — is
``medgan_helpers.colab``, which also holds the repository address both halves use.
"""

from __future__ import annotations

from medgan_helpers.colab import BRANCH, COLAB_CHECKOUT, REPO, REPO_URL


def colab_badge_url(notebook_name: str) -> str:
    """The "Open in Colab" link for ``notebooks/<notebook_name>.ipynb``."""
    return (
        f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/notebooks/"
        f"{notebook_name}.ipynb"
    )


def colab_badge_markdown(notebook_name: str) -> str:
    """Markdown for the badge that opens a notebook in Colab."""
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_badge_url(notebook_name)})"
    )


def setup_cell_source() -> str:
    """The source of every notebook's setup cell (rendered into the notebooks)."""
    return (
        "# Setup: on Google Colab this fetches the kit and installs only what Colab lacks\n"
        "# (it never upgrades TensorFlow, Keras, ipywidgets or matplotlib). Elsewhere it\n"
        "# installs nothing: it only reports the device the kit will use.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import os\n"
        "    import subprocess\n"
        "\n"
        f'    if not os.path.isdir("{COLAB_CHECKOUT}"):\n'
        f'        subprocess.run(["git", "clone", "-q", "--depth", "1", "{REPO_URL}.git", '
        f'"{COLAB_CHECKOUT}"], check=True)\n'
        f'    sys.path.insert(0, "{COLAB_CHECKOUT}")\n'
        "\n"
        "from medgan_helpers import colab\n"
        "\n"
        "plan = colab.setup()\n"
    )
