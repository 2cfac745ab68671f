"""``decaf serve``: Cloud Vision's ``images:annotate`` over local REST, a stylize API, a web page.

:func:`create_app` builds the FastAPI app from :class:`ServeOptions`; :mod:`~decaf.serve.wire`
speaks Cloud Vision's JSON and Google's error model; :mod:`~decaf.serve.work` holds admission
control, operations and metrics, one set per app.
"""

from decaf.serve.app import create_app
from decaf.serve.work import ServeOptions

__all__ = ["ServeOptions", "create_app"]
