"""Insurance claims: entry (console, API, CSV batch), automatic checks, review and valuation."""
