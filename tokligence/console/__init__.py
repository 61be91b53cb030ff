"""The web console at ``/console``: a static single-page app (``static/``)
and :mod:`~tokligence.console.files`, which serves it.

The files hold no data: the page asks the admin API for everything it
shows, with the admin key the user typed (auth on) or none (auth off, on
loopback). The gateway imports ``files`` on the first ``/console`` request,
so a gateway whose console is never opened never loads it. Nothing is
re-exported here.
"""
