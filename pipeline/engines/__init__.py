"""Ways to run predict beyond one process: the Ray engine and the shard plans it works from."""
