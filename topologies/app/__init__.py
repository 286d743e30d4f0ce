"""Applications on hosts: the runtimes (supervised processes, replicated containers) and ApplicationTopology."""
