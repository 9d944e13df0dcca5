"""The FastAPI service over ``siting`` (nothing imports this package).

Run it with ``uvicorn api.main:app`` or ``siting serve``; settings come from ``SITING_*``
environment variables (:class:`api.settings.Settings`).
"""

__all__ = ["create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":
        from api.main import create_app

        return create_app
    raise AttributeError(name)
