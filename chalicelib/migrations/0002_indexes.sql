-- Indexes for the T-3 selection and the partner views.

-- T-3 selection: unpaid, robocall-active payments by due date (partial: the paid majority
-- of a mature book never enters the index).
CREATE INDEX IF NOT EXISTS payment_unpaid_due_date_idx
    ON payment (due_date, loan_id)
    WHERE payment_status_code < 330 AND is_robocall_active;

CREATE INDEX IF NOT EXISTS payment_loan_idx ON payment (loan_id);
CREATE INDEX IF NOT EXISTS loan_application_idx ON loan (application_id);
CREATE INDEX IF NOT EXISTS loan_partner_idx ON loan (partner);
CREATE INDEX IF NOT EXISTS application_partner_cdate_idx ON application (partner_id, cdate, application_id);
CREATE INDEX IF NOT EXISTS application_status_idx ON application (application_status_code);
CREATE INDEX IF NOT EXISTS repayment_transaction_loan_idx ON repayment_transaction (loan_id);
CREATE INDEX IF NOT EXISTS repayment_transaction_partner_idx ON repayment_transaction (partner_id);
CREATE INDEX IF NOT EXISTS repayment_transaction_payment_idx ON repayment_transaction (payment_id);
CREATE INDEX IF NOT EXISTS application_history_application_idx ON application_history (application_id, status_new);
CREATE INDEX IF NOT EXISTS disbursement_status_idx ON disbursement (disburse_status);
