"""Docker: the engine over the SDK, DockerTopology, and an SSH host's engine through a forwarded socket."""
