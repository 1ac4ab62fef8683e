"""Alembic trees: control/ (control plane) and tenant/ (every tenant schema)."""
