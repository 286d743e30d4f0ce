"""Higher-order topologies: ReplicatedTopology and its FailoverTopology and MultisiteTopology; ShardedTopology."""
