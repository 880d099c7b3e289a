"""The batch job on Spark: the driver's job, the executors' tasks, the run folder with its typed
manifest, and the single writer that ingests a run's shards into a store."""
