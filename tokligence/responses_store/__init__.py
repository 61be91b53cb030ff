"""Stored Responses turns (``store``, ``previous_response_id``,
``GET /v1/responses/{id}``) for models this gateway answers itself."""
