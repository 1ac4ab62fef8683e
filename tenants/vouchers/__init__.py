"""The vouchers module: programmes, issuance, redemption (placeholder until the API lands)."""
