"""Sphinx configuration: the Markdown pages through MyST, the Pallets theme.

Build: ``sphinx-build -W --keep-going -n -b html docs docs/_build/html`` (``make docs``).
"""

import json
from pathlib import Path

from pallets_sphinx_themes import ProjectLink, get_version

from flask_sms_otp import openapi
from flask_sms_otp.settings import DEFAULTS, Settings

project = "flask-sms-otp"
copyright = "flask-sms-otp contributors"
author = "flask-sms-otp contributors"
release, version = get_version("flask-sms-otp")

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "pallets_sphinx_themes",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated"]
root_doc = "index"

# Every cross-reference must resolve (``-n``). Without network access there is no
# intersphinx, so the standard library's and other projects' types in signatures cannot
# link anywhere; nor can docstrings that name internal helpers. Those are listed here.
nitpicky = True
nitpick_ignore = [
    ("py:class", name)
    for name in (
        "babel.core.Locale",
        "collections.abc.Callable",
        "collections.abc.Iterable",
        "collections.abc.Mapping",
        "datetime.datetime",
        "Flask",
        "flask.app.Flask",
        "httpx.BaseTransport",
        "httpx.Response",
        "Limiter",
        "SQLAlchemy",
        # Type aliases and type variables of the package's internal modules.
        "Clock",
        "CodeGenerator",
        "flask_sms_otp.extension.F",
        # What SmsConnector.from_settings() takes: the internal, validated SMS_OTP_* keys.
        "Settings",
        # What SmsConnector.redactor() returns: internal, described in connectors/index.md.
        "flask_sms_otp.redaction.Redactor",
        # What SmsConnector.receipt() takes and returns: described in receipts.md.
        "datetime",
        "Receipt",
        "ReceiptRequest",
    )
]
nitpick_ignore_regex = [
    # SmsOtp's code-engine methods point at the internal service they delegate to.
    ("py:meth", r"ChallengeService\..*"),
]

myst_enable_extensions = ["colon_fence", "deflist"]
# Links to headings inside pages, e.g. [...](json-api.md#errors).
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True

html_theme = "flask"
html_theme_options = {"index_sidebar_logo": False}
html_context = {
    "project_links": [
        ProjectLink("Changes", "changes.html"),
    ]
}
html_sidebars = {
    "index": ["project.html", "localtoc.html", "searchbox.html"],
    "**": ["localtoc.html", "relations.html", "searchbox.html"],
}
# Only the stylesheet: the screenshots under _static/ reach the output as images.
html_static_path = ["_static/css"]
html_css_files = ["screenshots.css"]
html_title = f"flask-sms-otp Documentation ({version})"
html_show_sourcelink = False
# The theme's version banner asks PyPI about the project: not published yet.
version_banner = False

# The OpenAPI document as an app with the default settings serves it, which json-api.md
# includes: written at every build, so the docs cannot drift from the code.
_generated = Path(__file__).parent / "_generated"
_generated.mkdir(exist_ok=True)
(_generated / "openapi.json").write_text(
    json.dumps(openapi.document(Settings.from_config(DEFAULTS)), indent=2) + "\n"
)
