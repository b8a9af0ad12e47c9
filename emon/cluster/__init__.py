"""emon on several machines: partitions by protection group, leases, the NATS worker."""
