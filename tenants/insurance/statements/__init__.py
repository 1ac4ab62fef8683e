"""Facility payment: statements batching a facility's valuated claims of a period, approved by a
second person and marked paid (decision 0325); printable, exportable as CSV and XLSX."""
