"""Customer analytics (SPEC section 7, report 004): daily ETL over marketplace orders into
``aggregated_monthly`` and ``final_user_analysis``, RFM scores, cohort retention, charts."""
