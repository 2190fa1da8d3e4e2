-- Values kept by deleted rows (issue 5): a delete keeps its row's values, and a late insert or
-- update below the delete refills them when it is newer than what the row holds. Which change the
-- kept values came from is recorded here, per delete, so that the refill needs no lookup of a key's
-- history in the change log: the log's (key, seq) index, a random insert per logged change, cost
-- the consumer ~10 % of its throughput and is retired (dz_assets/cdc/changelog.py).
create table if not exists meta.cdc_kept (
    table_code     text not null,
    delete_msg_id  text not null,          -- the delete the ODS row shows (its _msg_id)
    values_seq     bigint,                 -- the I/U whose values the row keeps; null: none
    values_msg_id  text,                   --   (a tombstone) or a FULL's row (older than any change)
    primary key (table_code, delete_msg_id)
);
comment on table meta.cdc_kept is '增量删除保留值：每条已应用的删除一行（删除消息号、被保留值所属变更的序号与消息号）';
