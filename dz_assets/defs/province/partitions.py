"""The provincial batches as dynamic partitions: one partition per BATCH_ID, added by the sensor."""

import dagster as dg

province_batch = dg.DynamicPartitionsDefinition(name="province_batch")
