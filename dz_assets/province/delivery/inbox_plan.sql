-- name: deliveries_of
-- Earlier deliveries of these bytes under this batch id, newest first.
select status from meta.batch where sha256 = %s and batch_id = %s order by delivery_id desc
