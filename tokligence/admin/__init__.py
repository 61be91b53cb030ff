"""Managing the gateway: the admin HTTP API and the management commands.

- ``values``: the input values both share — ids, times, money, counts (pure).
- ``api_input`` / ``api_output``: admin API bodies and queries -> frozen
  requests, records -> JSON (pure; the CLI's ``--json`` prints the same shapes).
- ``api``: :class:`~tokligence.admin.api.AdminApi`, the ``/api/v1/admin/*`` routes.
- ``cli_commands``: the ``users``, ``keys``, ``usage`` and ``prices``
  subcommands' arguments (light: ``tokligence --version`` must stay fast) and
  their dispatch to ``cli_users``, ``cli_keys``, ``cli_usage`` and
  ``cli_prices``, which share ``cli_common``.

Every user and key change goes through ``identity.service.IdentityService``,
so hooks and cache invalidation happen whoever makes it. Nothing is
re-exported here: importing the package must not import peewee or trio
(the gateway imports the admin API only when the first admin request comes).
"""

PREFIX = "/api/v1/admin/"  # every admin API route starts with it
