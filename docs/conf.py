"""Sphinx configuration of microwave's documentation site.

Sphinx rather than MkDocs: the field's libraries that this one sits beside
(numpy, scipy.signal, python-sounddevice) document with Sphinx, so autodoc
with numpydoc reads the docstrings as those users expect, matplotlib's
plot directive draws every waveform with the library itself at build time
(as scipy.signal's pages do), and doctest-style examples run as tests.
Built by ``bash scripts/docs.sh`` with warnings as errors.
"""
from __future__ import annotations

import sys
from pathlib import Path

import microwave

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))   # _cli.py: the command-line page, generated from the parser

project = "microwave"
author = "the microwave developers"
copyright = "2026, " + author
release = version = microwave.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]
templates_path: list[str] = []
html_theme = "alabaster"
html_static_path: list[str] = []
html_theme_options = {"description": "Microcurrent waveforms, exact to the sample and safe by construction",
                      "fixed_sidebar": True}

# autodoc: members in source order, the signature as written
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "undoc-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()

# every figure is drawn by the library itself, at build time
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
plot_rcparams = {"figure.figsize": (8, 3.2), "figure.autolayout": True, "font.size": 9}
plot_pre_code = """
import numpy as np
import matplotlib.pyplot as plt
import microwave as mw
from microwave import modes
"""

myst_heading_anchors = 3
suppress_warnings = ["myst.header"]


def setup(app):
    import _cli
    _cli.write(HERE / "cli.rst")
