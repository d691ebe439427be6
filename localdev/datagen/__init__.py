"""Data generators for the demo, tests and benchmarks (never packaged into the Lambda artifact).

- ``lending``: a deterministic demo book (partners, applications, loans, payments, disbursements,
  repayments), ``python -m localdev.datagen.lending --loans N --seed S``.
- ``orders``: marketplace order lines for the customer analytics (COPY), with cross-border lines,
  ``python -m localdev.datagen.orders --lines N --seed S [--as-of YYYY-MM-DD]``.
"""
