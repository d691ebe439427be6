-- Analytics at 1M lines (issue 24).
-- rfm_score is rewritten in place by every ETL run (recency moves for everybody daily) instead of
-- emptied and refilled: an update that leaves user_id, total_score and segment as they were is a
-- heap-only (HOT) update, which touches none of the table's three indexes, if the row's page has
-- room for the new version. Half of each page is left free for it.
ALTER TABLE rfm_score SET (fillfactor = 50);
