"""Placeholder until this part is built."""


def init_app(app) -> None:
    return None
