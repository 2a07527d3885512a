"""The web console (ADR 0017): static files in ``static/``, served by ``trellis.api.console``."""
