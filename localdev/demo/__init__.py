"""The demo (``python -m localdev.demo``, ``make demo``): ``run`` runs the steps (``analytics``,
``disbursements``, ``partner_api``, ``reminders``) with the ``context`` they share; ``guard`` refuses
any database but the local demo one."""
