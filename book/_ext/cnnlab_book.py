"""Sphinx extension for the cnnlab book, loaded through ``sphinx.local_extensions`` in ``_config.yml``.

It does what the configuration alone cannot:

- Launch buttons need a repository URL. Until ``repository.url`` is set in
  ``_config.yml`` (or ``CNNLAB_REPOSITORY_URL`` in the environment, which the
  GitHub workflow sets to the repository it runs in), the buttons are left
  out instead of pointing at a made-up address.
- Every figure gets alt text. A notebook cell sets it with the metadata
  ``"mystnb": {"image": {"alt": "..."}}``. Figures without it would get their
  file name as alt text, so they get a description of where they are instead,
  the class ``cnnlab-generated-alt`` that the browser test rejects, and a
  warning that fails the strict build.
- ``_static/cnnlab.js`` gives alt text to the figures an embedded widget
  draws when the page loads, and lets the widget manager typeset with
  MathJax 3. (Figures stay readable in dark mode without help: the theme puts
  images on a light background there, and the browser test checks it.)
- Every page loads without errors in the browser console. Sphinx 7.4 writes
  each inline script that is registered after the builder started twice
  (once as file name None, once as ""), and the second copy of sphinx-thebe's
  ``const THEBE_JS_URL = ...`` fails; each page keeps one copy. The theme
  logs an error for every new visitor unless ``html_context`` sets
  ``default_mode``; it is set to ``auto`` (follow the system's light or dark
  setting).
- Notebook execution: after a cell that displays widgets, the reply to the
  next request is sometimes already waiting on the shell socket while the
  asyncio poll in jupyter_client does not wake up until its timeout, which is
  the whole cell timeout (jupyter/nbclient#312). Each missed wake-up cost five
  minutes here. Polling in one-second slices bounds it to one second and keeps
  the timeout's meaning.
"""
from __future__ import annotations

import os
from pathlib import Path

from docutils import nodes
from jupyter_client.channels import AsyncZMQSocketChannel
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

from cnnlab.teaching.classroom.remote import get_msg_in_slices

LOGGER = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent.parent / "_static"
GENERATED_ALT_CLASS = "cnnlab-generated-alt"


# One implementation, shared with the class grader's kernels.
_get_msg_in_slices = get_msg_in_slices


def _launch_buttons_need_a_repository(app: Sphinx, config: Config) -> None:
    options = config.html_theme_options
    url = options.get("repository_url") or os.environ.get("CNNLAB_REPOSITORY_URL", "")
    if url:
        options["repository_url"] = url
    elif options.pop("launch_buttons", None):
        LOGGER.info("cnnlab_book: no repository URL in _config.yml, so no launch buttons (see README.md)")


def _theme_follows_the_system(app: Sphinx, config: Config) -> None:
    config.html_context.setdefault("default_mode", "auto")


def _one_copy_of_each_script(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    # Sphinx adds a late inline script once with filename None and once with "" (sphinx/builders/html).
    seen, unique = set(), []
    for script in context["script_files"]:
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique


def _alt_text_for_notebook_figures(app: Sphinx, doctree: nodes.document) -> None:
    if not app.env.metadata[app.env.docname].get("kernelspec"):
        return  # not a notebook: Markdown images carry their own alt text
    for image in doctree.findall(nodes.image):
        if image.get("alt"):
            continue
        section = next((node for node in _ancestors(image) if isinstance(node, nodes.section)), None)
        where = f" in the section “{section[0].astext()}”" if section is not None else ""
        image["alt"] = f"Figure drawn by the code cell above{where}."
        image["classes"].append(GENERATED_ALT_CLASS)
        # a warning, so the strict build (-W) fails: a generic description helps no reader
        LOGGER.warning(
            f"cnnlab_book: {app.env.docname}: a figure{where} has no alt text; describe it with "
            'the cell metadata "mystnb": {"image": {"alt": "..."}}'
        )


def _ancestors(node: nodes.Node):
    while node.parent is not None:
        node = node.parent
        yield node


def _add_static_files(app: Sphinx) -> None:
    app.config.html_static_path.append(str(STATIC))


def setup(app: Sphinx) -> dict:
    AsyncZMQSocketChannel.get_msg = _get_msg_in_slices
    app.connect("config-inited", _launch_buttons_need_a_repository)
    app.connect("config-inited", _theme_follows_the_system)
    app.connect("html-page-context", _one_copy_of_each_script)
    app.connect("builder-inited", _add_static_files)
    app.connect("doctree-read", _alt_text_for_notebook_figures)
    app.add_js_file("cnnlab.js")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
