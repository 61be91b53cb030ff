"""The update check (``check.py``): which registry this copy came from
(``sources.py``) and what its answer says (``versions.py``). Imported only
once the gateway is listening, or by ``tokligence version --check``."""
