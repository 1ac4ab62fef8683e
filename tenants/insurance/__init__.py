"""The insurance module: products, policies, contributions and eligibility."""
